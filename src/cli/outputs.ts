/**
 * buildx's `--output` syntax: CSV `key=value` fields (`type=oci,dest=out.tar`), double quotes around a
 * field that holds commas (`"name=a:1,b:2"`), and the shorthands `-o DIR` (type=local) and `-o -`
 * (type=tar on stdout).
 */
import { UsageError } from '../errors.js';

export type OutputType = 'image' | 'registry' | 'oci' | 'docker' | 'local' | 'tar';
const TYPES: readonly OutputType[] = ['image', 'registry', 'oci', 'docker', 'local', 'tar'];

export interface OutputSpec {
  type: OutputType;
  /** File or directory; `-` is stdout. */
  dest?: string;
  /** Comma-separated names as given (image, registry, oci, docker). */
  name?: string;
  /** Every field as given, including type, dest and name. */
  attrs: Record<string, string>;
}

/** Split one CSV record (RFC 4180 quoting, as Go's encoding/csv reads it). */
export function splitCsv(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cur += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
    i++;
  }
  if (quoted) throw new UsageError(`invalid --output "${text}": unterminated quote`);
  out.push(cur);
  return out;
}

export function parseOutput(spec: string): OutputSpec {
  if (spec === '-') return { type: 'tar', dest: '-', attrs: { type: 'tar', dest: '-' } };
  if (!spec.includes('=')) return { type: 'local', dest: spec, attrs: { type: 'local', dest: spec } };
  const attrs: Record<string, string> = {};
  let last = '';
  for (const raw of splitCsv(spec)) {
    const part = raw.trim();
    const eq = part.indexOf('=');
    if (eq < 0 && last === 'name' && part !== '') {
      // `name=a:1,b:2` without quotes: buildx needs quotes, we accept the bare extra names.
      attrs.name += ',' + part;
      continue;
    }
    if (eq <= 0) throw new UsageError(`invalid --output "${spec}": expected key=value pairs such as type=oci,dest=out.tar`);
    last = part.slice(0, eq).trim();
    attrs[last] = part.slice(eq + 1).trim();
  }
  const type = attrs.type;
  if (type === undefined) throw new UsageError(`invalid --output "${spec}": missing type= (one of ${TYPES.join(', ')})`);
  if (!(TYPES as readonly string[]).includes(type)) {
    throw new UsageError(`invalid --output "${spec}": unknown type "${type}" (supported: ${TYPES.join(', ')})`);
  }
  const out: OutputSpec = { type: type as OutputType, attrs };
  if (attrs.dest !== undefined) out.dest = attrs.dest;
  if (attrs.name !== undefined) out.name = attrs.name;
  if ((type === 'local' || type === 'oci' || type === 'tar') && !out.dest) {
    throw new UsageError(`invalid --output "${spec}": type=${type} needs dest=${type === 'local' ? 'DIR' : 'FILE'}`);
  }
  if (type === 'registry' && !out.name) throw new UsageError(`invalid --output "${spec}": type=registry needs name=REGISTRY/REPO:TAG`);
  validateOptions(spec, attrs);
  checkKnownAttributes(spec, attrs);
  return out;
}

/** Image options every image-writing output takes (exporters/options.ts). */
const IMAGE_ATTRS = ['compression', 'compression-level', 'force-compression', 'oci-mediatypes', 'rewrite-timestamp'];
const IMAGE_ATTR_PREFIXES = ['annotation.', 'annotation-manifest.', 'annotation-manifest-descriptor.'];

/** The attributes tsbuild implements, per output type; anything else is refused rather than ignored. */
export const OUTPUT_ATTRIBUTES: Record<OutputType, { keys: string[]; prefixes: string[] }> = {
  image: { keys: ['type', 'name', 'push', 'store', ...IMAGE_ATTRS], prefixes: IMAGE_ATTR_PREFIXES },
  registry: { keys: ['type', 'name', 'push', ...IMAGE_ATTRS], prefixes: IMAGE_ATTR_PREFIXES },
  oci: { keys: ['type', 'dest', 'name', 'tar', ...IMAGE_ATTRS], prefixes: [...IMAGE_ATTR_PREFIXES, 'annotation-index.'] },
  docker: { keys: ['type', 'dest', 'name', ...IMAGE_ATTRS], prefixes: IMAGE_ATTR_PREFIXES },
  local: { keys: ['type', 'dest', 'keep-setuid'], prefixes: [] },
  tar: { keys: ['type', 'dest'], prefixes: [] },
};

function checkKnownAttributes(spec: string, attrs: Record<string, string>): void {
  const known = OUTPUT_ATTRIBUTES[attrs.type as OutputType];
  for (const k of Object.keys(attrs)) {
    if (known.keys.includes(k) || known.prefixes.some((p) => k.startsWith(p) && k.length > p.length)) continue;
    const valid = [...known.keys.filter((x) => x !== 'type'), ...known.prefixes.map((p) => `${p}KEY`)].join(', ');
    throw new UsageError(`invalid --output "${spec}": type=${attrs.type} has no attribute "${k}" (valid: ${valid})`);
  }
}

function validateOptions(spec: string, a: Record<string, string>): void {
  const bool = (k: string) => {
    if (a[k] !== undefined && a[k] !== 'true' && a[k] !== 'false') throw new UsageError(`invalid --output "${spec}": ${k} must be true or false, got "${a[k]}"`);
  };
  for (const k of ['tar', 'force-compression', 'oci-mediatypes', 'push', 'rewrite-timestamp', 'unpack', 'store', 'keep-setuid']) bool(k);
  if (a.compression !== undefined && !['gzip', 'zstd', 'uncompressed'].includes(a.compression)) {
    throw new UsageError(`invalid --output "${spec}": compression must be gzip, zstd or uncompressed, got "${a.compression}"`);
  }
  if (a['compression-level'] !== undefined) {
    const n = Number(a['compression-level']);
    const max = a.compression === 'zstd' ? 22 : 9;
    if (!/^\d+$/.test(a['compression-level']) || n > max) throw new UsageError(`invalid --output "${spec}": compression-level must be 0–${max}, got "${a['compression-level']}"`);
  }
  if (a.tar === 'false' && a.type !== 'oci') throw new UsageError(`invalid --output "${spec}": tar=false is only valid for type=oci`);
}
