// A small JSON Schema (2020-12) checker for the subset z.toJSONSchema emits, so tests can hold real
// responses against the OpenAPI document. An unknown keyword throws rather than passing silently.

type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(['description', 'default', 'title', 'format', 'readOnly', 'examples']);
const CHECKED = new Set([
  '$ref',
  'type',
  'enum',
  'const',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'anyOf',
  'oneOf',
  'allOf',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'pattern',
]);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(expected: string, value: unknown): boolean {
  const actual = typeOf(value);
  return expected === actual || (expected === 'number' && actual === 'integer');
}

/** Errors of `value` against `schema`; `root` resolves `#/...` references. */
export function schemaErrors(schema: unknown, value: unknown, root: unknown, path = '$'): string[] {
  if (
    schema === true ||
    (typeof schema === 'object' && schema !== null && Object.keys(schema).length === 0)
  ) {
    return [];
  }
  if (schema === false) return [`${path}: not allowed`];
  const s = schema as Schema;
  for (const key of Object.keys(s)) {
    if (!ANNOTATIONS.has(key) && !CHECKED.has(key))
      throw new Error(`unsupported keyword ${key} at ${path}`);
  }
  const errors: string[] = [];
  if (typeof s['$ref'] === 'string') {
    const target = (s['$ref'] as string)
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((node, part) => (node as Schema)[part], root);
    errors.push(...schemaErrors(target, value, root, path));
  }
  const types = s['type'] === undefined ? undefined : ([] as string[]).concat(s['type'] as string);
  if (types !== undefined && !types.some((t) => typeMatches(t, value))) {
    return [`${path}: expected ${types.join('|')}, got ${typeOf(value)}`];
  }
  if (Array.isArray(s['enum']) && !s['enum'].some((e) => e === value)) {
    errors.push(`${path}: ${JSON.stringify(value)} not in enum`);
  }
  if ('const' in s && s['const'] !== value)
    errors.push(`${path}: expected const ${String(s['const'])}`);
  if (typeof value === 'string') {
    if (typeof s['minLength'] === 'number' && value.length < s['minLength'])
      errors.push(`${path}: too short`);
    if (typeof s['maxLength'] === 'number' && value.length > s['maxLength'])
      errors.push(`${path}: too long`);
    if (typeof s['pattern'] === 'string' && !new RegExp(s['pattern'], 'u').test(value)) {
      errors.push(`${path}: does not match ${s['pattern']}`);
    }
  }
  if (typeof value === 'number') {
    if (typeof s['minimum'] === 'number' && value < s['minimum'])
      errors.push(`${path}: below minimum`);
    if (typeof s['maximum'] === 'number' && value > s['maximum'])
      errors.push(`${path}: above maximum`);
    if (typeof s['exclusiveMinimum'] === 'number' && value <= s['exclusiveMinimum'])
      errors.push(`${path}: not above minimum`);
    if (typeof s['exclusiveMaximum'] === 'number' && value >= s['exclusiveMaximum'])
      errors.push(`${path}: not below maximum`);
  }
  if (Array.isArray(value)) {
    if (typeof s['minItems'] === 'number' && value.length < s['minItems'])
      errors.push(`${path}: too few items`);
    if (typeof s['maxItems'] === 'number' && value.length > s['maxItems'])
      errors.push(`${path}: too many items`);
    if (s['items'] !== undefined) {
      value.forEach((item, i) =>
        errors.push(...schemaErrors(s['items'], item, root, `${path}[${i}]`)),
      );
    }
  }
  if (typeOf(value) === 'object') {
    const object = value as Record<string, unknown>;
    const properties = (s['properties'] ?? {}) as Record<string, unknown>;
    for (const name of (s['required'] ?? []) as string[]) {
      if (!(name in object)) errors.push(`${path}.${name}: required`);
    }
    for (const [name, item] of Object.entries(object)) {
      if (name in properties) {
        errors.push(...schemaErrors(properties[name], item, root, `${path}.${name}`));
      } else if (s['additionalProperties'] !== undefined) {
        errors.push(...schemaErrors(s['additionalProperties'], item, root, `${path}.${name}`));
      }
      if (s['propertyNames'] !== undefined) {
        errors.push(...schemaErrors(s['propertyNames'], name, root, `${path}.${name} (name)`));
      }
    }
  }
  if (Array.isArray(s['allOf'])) {
    for (const sub of s['allOf']) errors.push(...schemaErrors(sub, value, root, path));
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = s[key];
    if (!Array.isArray(options)) continue;
    const passing = options.filter(
      (sub) => schemaErrors(sub, value, root, path).length === 0,
    ).length;
    if (passing === 0 || (key === 'oneOf' && passing > 1)) {
      errors.push(`${path}: ${passing} of the ${key} alternatives match`);
    }
  }
  return errors;
}
