/**
 * A small JSON Schema checker for the subset schemas/*.schema.json use: type (incl. arrays of types and
 * "integer"), const, enum, required, properties, additionalProperties (schema), items, minItems, minimum,
 * $ref to "#/$defs/NAME". Unknown keywords fail loudly so the checker never silently passes a schema
 * that grew a keyword it does not check. Returns the errors (empty: valid).
 */
type Schema = Record<string, unknown>;

const KNOWN = new Set(['$schema', '$id', 'title', 'description', '$defs', 'type', 'const', 'enum', 'required', 'properties', 'additionalProperties', 'items', 'minItems', 'minimum', '$ref']);

export function validate(schema: Schema, value: unknown): string[] {
  const errors: string[] = [];
  const root = schema;
  const typeOk = (t: string, v: unknown) =>
    t === 'null' ? v === null : t === 'array' ? Array.isArray(v) : t === 'integer' ? Number.isInteger(v) : t === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === t;
  const walk = (s: Schema, v: unknown, at: string): void => {
    for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new Error(`schema keyword ${k} at ${at} is not supported by this checker`);
    if (typeof s.$ref === 'string') {
      const name = /^#\/\$defs\/(.+)$/.exec(s.$ref)?.[1];
      const def = name ? (root.$defs as Record<string, Schema>)[name] : undefined;
      if (!def) throw new Error(`unresolvable $ref ${s.$ref}`);
      walk(def, v, at);
    }
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => typeOk(t, v))) {
        errors.push(`${at}: expected ${types.join('|')}, got ${JSON.stringify(v)?.slice(0, 60)}`);
        return;
      }
    }
    if ('const' in s && v !== s.const) errors.push(`${at}: expected ${JSON.stringify(s.const)}`);
    if (Array.isArray(s.enum) && !s.enum.includes(v)) errors.push(`${at}: ${JSON.stringify(v)} not in ${JSON.stringify(s.enum)}`);
    if (typeof s.minimum === 'number' && typeof v === 'number' && v < s.minimum) errors.push(`${at}: ${v} < ${s.minimum}`);
    if (Array.isArray(v)) {
      if (typeof s.minItems === 'number' && v.length < s.minItems) errors.push(`${at}: fewer than ${s.minItems} items`);
      if (s.items) v.forEach((x, i) => walk(s.items as Schema, x, `${at}[${i}]`));
    } else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      for (const r of (s.required as string[] | undefined) ?? []) if (!(r in o)) errors.push(`${at}: missing ${r}`);
      const props = (s.properties as Record<string, Schema> | undefined) ?? {};
      for (const [k, x] of Object.entries(o)) {
        if (props[k]) walk(props[k]!, x, `${at}.${k}`);
        else if (s.additionalProperties && typeof s.additionalProperties === 'object') walk(s.additionalProperties as Schema, x, `${at}.${k}`);
      }
    }
  };
  walk(schema, value, '$');
  return errors;
}
