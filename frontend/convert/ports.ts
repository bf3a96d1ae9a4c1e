/** EXPOSE port specs (`80`, `80/udp`, `8000-8002/tcp`, `127.0.0.1:80:8080`) → `port/proto` keys. */
export class PortError extends Error {}

export function parsePortSpec(spec: string): string[] {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new PortError(`invalid proto: ${proto}`);
  }
  const parts = rest.split(':');
  const container = parts[parts.length - 1]!;
  const m = /^(\d+)(?:-(\d+))?$/.exec(container);
  if (!m) throw new PortError(`invalid containerPort: ${container}`);
  const start = Number(m[1]);
  const end = m[2] !== undefined ? Number(m[2]) : start;
  if (start > 65535 || end > 65535 || end < start) throw new PortError(`invalid port range: ${container}`);
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}
