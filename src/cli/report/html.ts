/**
 * The build report page (`tsbuild bench --html`, `tsbuild history report --html`): one self-contained HTML
 * file (inline CSS and script, no network, no fonts or images to fetch) with
 * - one timeline per build shown: a lane per stage, a bar per step (ran / cached / failed / not reached),
 *   hover for a summary, click (or Enter) for the details: command, status, duration, cache-miss reasons,
 *   bytes;
 * - tables (scenarios, change costs, comparisons) and hints, given by the caller as plain rows.
 * Light and dark themes follow the reader's system setting; a button switches them.
 */
import type { BuildRun, StepInfo, StepRun } from './model.js';

export interface ReportCell {
  text: string;
  /** `better` / `worse` highlight a comparison; `num` right-aligns. */
  cls?: 'better' | 'worse' | 'num' | 'muted';
}

export interface ReportTable {
  title: string;
  note?: string;
  columns: string[];
  rows: (string | ReportCell)[][];
}

export interface ReportTimeline {
  label: string;
  run: BuildRun;
  /** Extra detail lines per step id (e.g. "context read: 1.2 MB"). */
  extra?: Record<string, string[]>;
}

export interface ReportInput {
  title: string;
  subtitle?: string;
  steps: StepInfo[];
  /** Headline numbers shown as cards above everything else. */
  cards?: { label: string; value: string }[];
  timelines: ReportTimeline[];
  tables?: ReportTable[];
  hints?: string[];
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function seconds(ms: number): string {
  return ms >= 100_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(ms >= 10_000 ? 1 : 2)} s`;
}

const STATUS_TEXT: Record<StepRun['status'], string> = { ran: 'ran', cached: 'cached', failed: 'failed', 'not-reached': 'not reached' };

function timeline(t: ReportTimeline, n: number, steps: StepInfo[]): string {
  const runs = new Map(t.run.steps.map((r) => [r.id, r]));
  const span = Math.max(1, ...t.run.steps.map((r) => r.startMs + r.durationMs));
  const lanes = new Map<string, StepInfo[]>();
  for (const s of steps) lanes.set(s.stage, [...(lanes.get(s.stage) ?? []), s]);
  const details: Record<string, unknown> = {};
  const rows: string[] = [];
  for (const [stage, list] of lanes) {
    const bars = list.map((s) => {
      const r = runs.get(s.id) ?? { id: s.id, status: 'not-reached' as const, startMs: 0, durationMs: 0 };
      const left = Math.min((r.startMs / span) * 100, 99.4);
      const width = Math.min(Math.max(0.6, (r.durationMs / span) * 100), 100 - left);
      const key = `${n}:${s.id}`;
      details[key] = {
        name: s.name,
        status: STATUS_TEXT[r.status],
        duration: r.status === 'ran' || r.status === 'failed' ? seconds(r.durationMs) : '—',
        start: `+${seconds(r.startMs)}`,
        line: s.line ?? null,
        miss: r.cacheMiss ?? [],
        error: r.error ?? null,
        extra: t.extra?.[s.id] ?? [],
      };
      const time = r.status === 'ran' || r.status === 'failed' ? ` ${seconds(r.durationMs)}` : '';
      const tip = `${s.name} — ${STATUS_TEXT[r.status]}${time ? `,${time}` : ''}`;
      // The label sits after the bar (or before it, near the right edge) so short bars stay readable.
      const labelPos = left + width > 70 ? `right:${(100 - left + 0.5).toFixed(3)}%;text-align:right` : `left:${(left + width + 0.5).toFixed(3)}%`;
      return `<div class="row"><button class="bar ${r.status}" data-step="${esc(key)}" style="left:${left.toFixed(3)}%;width:${width.toFixed(3)}%" title="${esc(tip)}" aria-label="${esc(tip)}"></button><span class="label" style="${labelPos}">${esc(shortName(s.name))}<em>${esc(time || ' ' + STATUS_TEXT[r.status])}</em></span></div>`;
    });
    rows.push(`<div class="lane"><div class="lane-name" title="${esc(stage || '(no stage)')}">${esc(stage || '(no stage)')}</div><div class="lane-track">${bars.join('')}</div></div>`);
  }
  const ran = t.run.steps.filter((r) => r.status === 'ran').length;
  const cached = t.run.steps.filter((r) => r.status === 'cached').length;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<span style="left:${f * 100}%">${seconds(span * f)}</span>`).join('');
  return `<section class="timeline" data-timeline="${n}">
<h3>${esc(t.label)} <small>${seconds(t.run.wallMs)} · ${ran} ran · ${cached} cached</small></h3>
<div class="lanes">${rows.join('\n')}<div class="axis"><div class="lane-name"></div><div class="ticks">${ticks}</div></div></div>
<script type="application/json" class="details">${JSON.stringify(details).replace(/</g, '\\u003c')}</script>
</section>`;
}

/** "[app 4/6] COPY src/ ./src/" → "COPY src/ ./src/" (the lane already names the stage). */
function shortName(name: string): string {
  return name.replace(/^\[[^\]]*\]\s*/, '');
}

function table(t: ReportTable): string {
  const cell = (c: string | ReportCell, tag: string) => {
    const x = typeof c === 'string' ? { text: c } : c;
    return `<${tag}${x.cls ? ` class="${x.cls}"` : ''}>${esc(x.text)}</${tag}>`;
  };
  return `<section class="table"><h2>${esc(t.title)}</h2>${t.note ? `<p class="note">${esc(t.note)}</p>` : ''}
<div class="scroll"><table><thead><tr>${t.columns.map((c) => cell(c, 'th')).join('')}</tr></thead>
<tbody>${t.rows.map((r) => `<tr>${r.map((c) => cell(c, 'td')).join('')}</tr>`).join('\n')}</tbody></table></div></section>`;
}

export function renderReport(input: ReportInput): string {
  const cards = (input.cards ?? []).map((c) => `<div class="card"><div class="v">${esc(c.value)}</div><div class="l">${esc(c.label)}</div></div>`).join('');
  const hints = input.hints?.length ? `<section class="hints"><h2>Hints</h2><ul>${input.hints.map((h) => `<li>${esc(h)}</li>`).join('')}</ul></section>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>${esc(input.title)}</title>
<style>${CSS}</style></head>
<body>
<header><div><h1>${esc(input.title)}</h1>${input.subtitle ? `<p class="sub">${esc(input.subtitle)}</p>` : ''}</div>
<button id="theme" type="button" title="Switch light/dark theme">◐ theme</button></header>
<main>
${cards ? `<div class="cards">${cards}</div>` : ''}
${hints}
<section class="legend"><span class="sw ran"></span>ran <span class="sw cached"></span>cached <span class="sw failed"></span>failed <span class="sw not-reached"></span>not reached <span class="muted">— click a bar for its details</span></section>
${input.timelines.map((t, i) => timeline(t, i, input.steps)).join('\n')}
<aside id="detail" hidden><button id="close" type="button" aria-label="close">×</button><h3 id="d-name"></h3><dl id="d-body"></dl></aside>
${(input.tables ?? []).map(table).join('\n')}
</main>
<footer>tsbuild report · generated ${esc(new Date().toISOString())}</footer>
<script>${SCRIPT}</script>
</body></html>
`;
}

const CSS = `
:root{--bg:#ffffff;--fg:#1f2328;--muted:#59636e;--panel:#f6f8fa;--line:#d1d9e0;--ran:#d97706;--cached:#2563eb;--failed:#dc2626;--nr:#9ca3af;--better:#15803d;--worse:#b91c1c;color-scheme:light}
@media (prefers-color-scheme:dark){:root:not([data-theme=light]){--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--panel:#161b22;--line:#30363d;--ran:#f59e0b;--cached:#3b82f6;--failed:#f87171;--nr:#6b7280;--better:#4ade80;--worse:#f87171;color-scheme:dark}}
:root[data-theme=dark]{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--panel:#161b22;--line:#30363d;--ran:#f59e0b;--cached:#3b82f6;--failed:#f87171;--nr:#6b7280;--better:#4ade80;--worse:#f87171;color-scheme:dark}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
header{display:flex;justify-content:space-between;align-items:flex-start;padding:20px 28px 8px;border-bottom:1px solid var(--line)}
h1{font-size:22px;margin:0}h2{font-size:17px;margin:28px 0 8px}h3{font-size:15px;margin:22px 0 8px}h3 small{color:var(--muted);font-weight:normal;margin-left:8px}
.sub,.note,.muted{color:var(--muted)}.sub{margin:4px 0 0}main{padding:8px 28px 28px;max-width:1400px}
button{font:inherit;color:inherit}#theme{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:4px 10px;cursor:pointer}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:140px}
.card .v{font-size:20px;font-weight:600}.card .l{color:var(--muted);font-size:12px}
.legend{margin:14px 0 0;color:var(--fg)}.sw{display:inline-block;width:12px;height:12px;border-radius:3px;margin:0 4px 0 12px;vertical-align:-1px}.sw:first-child{margin-left:0}
.sw.ran,.bar.ran{background:var(--ran)}.sw.cached,.bar.cached{background:var(--cached)}.sw.failed,.bar.failed{background:var(--failed)}.sw.not-reached,.bar.not-reached{background:var(--nr)}
.lanes{border:1px solid var(--line);border-radius:8px;background:var(--panel);padding:8px}
.lane,.axis{display:flex;align-items:flex-start;min-height:30px}.lane{padding:4px 0}.lane+.lane{border-top:1px dashed var(--line)}.axis{align-items:center}
.lane-name{width:140px;flex:none;padding-right:10px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.lane-name{padding-top:2px}.lane-track{flex:1;min-width:0}.row{position:relative;height:24px}.label{position:absolute;top:3px;font-size:12px;white-space:nowrap;pointer-events:none}.label em{font-style:normal;color:var(--muted);margin-left:6px}.ticks{position:relative;flex:1;height:18px;color:var(--muted);font-size:11px}.ticks span{position:absolute;transform:translateX(-50%);white-space:nowrap}.ticks span:first-child{transform:none}.ticks span:last-child{transform:translateX(-100%)}
.bar{position:absolute;top:3px;height:18px;min-width:6px;border:0;border-radius:4px;padding:0;cursor:pointer;box-shadow:inset 0 0 0 1px rgba(0,0,0,.15)}.bar:hover,.bar:focus,.bar.sel{outline:2px solid var(--fg);outline-offset:1px;z-index:2}
#detail{position:sticky;bottom:12px;margin-top:16px;background:var(--panel);border:1px solid var(--line);border-left:4px solid var(--ran);border-radius:8px;padding:10px 16px;box-shadow:0 4px 18px rgba(0,0,0,.18)}
#detail h3{margin:4px 30px 8px 0;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px;word-break:break-all}#close{position:absolute;right:10px;top:6px;background:none;border:0;font-size:20px;cursor:pointer}
#detail dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}#detail dt{color:var(--muted)}#detail dd{margin:0}
.scroll{overflow-x:auto}table{border-collapse:collapse;min-width:60%}th,td{text-align:left;padding:6px 12px;border-bottom:1px solid var(--line)}th{background:var(--panel)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}td.better{color:var(--better);font-weight:600}td.worse{color:var(--worse);font-weight:600}td.muted{color:var(--muted)}
.hints ul{margin:0;padding-left:20px}.hints li{margin:4px 0}footer{padding:12px 28px;color:var(--muted);font-size:12px;border-top:1px solid var(--line)}
`;

const SCRIPT = `
(function(){
  var root=document.documentElement;
  document.getElementById('theme').addEventListener('click',function(){
    var dark=root.getAttribute('data-theme')?root.getAttribute('data-theme')==='dark':matchMedia('(prefers-color-scheme: dark)').matches;
    root.setAttribute('data-theme',dark?'light':'dark');
  });
  var details={};
  document.querySelectorAll('script.details').forEach(function(s){var d=JSON.parse(s.textContent);for(var k in d)details[k]=d[k];});
  var panel=document.getElementById('detail'),nameEl=document.getElementById('d-name'),body=document.getElementById('d-body');
  function row(k,v){var dt=document.createElement('dt');dt.textContent=k;var dd=document.createElement('dd');dd.textContent=v;body.appendChild(dt);body.appendChild(dd);}
  function show(bar){
    var d=details[bar.getAttribute('data-step')];if(!d)return;
    document.querySelectorAll('.bar.sel').forEach(function(b){b.classList.remove('sel');});bar.classList.add('sel');
    nameEl.textContent=d.name;body.textContent='';
    row('status',d.status);row('duration',d.duration);row('started',d.start);if(d.line)row('Dockerfile line',String(d.line));
    if(d.miss.length)d.miss.forEach(function(m,i){row(i?'':'cache miss',m);});
    else if(d.status==='ran')row('cache miss','(no reason recorded)');
    if(d.error)row('error',d.error);
    d.extra.forEach(function(x){var i=x.indexOf(': ');row(i>0?x.slice(0,i):'',i>0?x.slice(i+2):x);});
    panel.style.borderLeftColor=getComputedStyle(bar).backgroundColor;panel.hidden=false;
  }
  document.querySelectorAll('.bar').forEach(function(b){b.addEventListener('click',function(){show(b);});});
  document.getElementById('close').addEventListener('click',function(){panel.hidden=true;});
})();
`;
