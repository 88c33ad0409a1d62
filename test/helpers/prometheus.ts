// A strict reader of the Prometheus text exposition format (0.0.4) for tests: throws on any line that
// breaks the grammar, on HELP/TYPE missing or repeated, and on duplicate or ungrouped series.

export interface ExpositionSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ExpositionFamily {
  readonly help: string;
  readonly type: string;
  readonly samples: ExpositionSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function unescape(text: string, allowed: string, where: string): string {
  let out = '';
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = text[i + 1];
    if (next === undefined || !allowed.includes(next)) throw new Error(`${where}: bad escape`);
    out += next === 'n' ? '\n' : next;
    i += 1;
  }
  return out;
}

function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without =`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`${where}: bad label name "${name}"`);
    if (name in labels) throw new Error(`${where}: label ${name} repeated`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
    let j = eq + 2;
    let raw = '';
    for (;;) {
      const ch = text[j];
      if (ch === undefined) throw new Error(`${where}: unterminated label value`);
      if (ch === '\n') throw new Error(`${where}: raw line feed in label value`);
      if (ch === '\\') {
        raw += ch + (text[j + 1] ?? '');
        j += 2;
        continue;
      }
      if (ch === '"') break;
      raw += ch;
      j += 1;
    }
    labels[name] = unescape(raw, '\\"n', where);
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ',') throw new Error(`${where}: expected , between labels`);
      i += 1;
    }
  }
  return labels;
}

function splitSample(line: string, where: string): { name: string; labels: string; rest: string } {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  if (brace >= 0 && (space < 0 || brace < space)) {
    // The closing brace is the first } outside a quoted value.
    let inQuotes = false;
    for (let i = brace + 1; i < line.length; i += 1) {
      const ch = line[i];
      if (ch === '\\' && inQuotes) {
        i += 1;
      } else if (ch === '"') {
        inQuotes = !inQuotes;
      } else if (ch === '}' && !inQuotes) {
        return {
          name: line.slice(0, brace),
          labels: line.slice(brace + 1, i),
          rest: line.slice(i + 1),
        };
      }
    }
    throw new Error(`${where}: unterminated label set`);
  }
  if (space < 0) throw new Error(`${where}: sample without value`);
  return { name: line.slice(0, space), labels: '', rest: line.slice(space) };
}

function familyOf(families: Map<string, ExpositionFamily>, sampleName: string): string | undefined {
  if (families.has(sampleName)) return sampleName;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = sampleName.slice(0, -suffix.length);
    if (sampleName.endsWith(suffix) && families.get(base)?.type === 'histogram') return base;
  }
  return undefined;
}

/** Parses a whole exposition; every rule broken is an Error naming the line. */
export function parseExposition(text: string): Map<string, ExpositionFamily> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a line feed');
  const families = new Map<string, ExpositionFamily>();
  const helps = new Map<string, string>();
  const finished = new Set<string>();
  const seen = new Set<string>();
  let current: string | undefined;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, index) => {
    const where = `line ${index + 1} "${line}"`;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) throw new Error(`${where}: only HELP and TYPE comments are expected`);
      const [, kind, name = '', rest = ''] = m;
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
      if (current !== undefined && current !== name) finished.add(current);
      if (finished.has(name)) throw new Error(`${where}: family ${name} is not grouped`);
      current = name;
      if (kind === 'HELP') {
        if (helps.has(name)) throw new Error(`${where}: HELP repeated`);
        helps.set(name, unescape(rest, '\\n', where));
      } else {
        if (families.has(name)) throw new Error(`${where}: TYPE repeated`);
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type`);
        families.set(name, { help: helps.get(name) ?? '', type: rest, samples: [] });
      }
      return;
    }
    if (line.trim() === '') throw new Error(`${where}: blank line`);
    const { name, labels, rest } = splitSample(line, where);
    if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
    const parts = rest.split(' ');
    if (parts[0] !== '' || parts.length < 2 || parts.length > 3) {
      throw new Error(`${where}: expected " value [timestamp]"`);
    }
    const value = parts[1] ?? '';
    if (!VALUE.test(value)) throw new Error(`${where}: bad value`);
    if (parts[2] !== undefined && !/^-?\d+$/.test(parts[2]))
      throw new Error(`${where}: bad timestamp`);
    const family = familyOf(families, name);
    if (family === undefined) throw new Error(`${where}: sample before its TYPE`);
    if (family !== current) throw new Error(`${where}: sample outside its family group`);
    const parsedLabels = parseLabels(labels, where);
    const key = `${name}${JSON.stringify(Object.entries(parsedLabels).sort())}`;
    if (seen.has(key)) throw new Error(`${where}: duplicate series`);
    seen.add(key);
    families.get(family)?.samples.push({
      name,
      labels: parsedLabels,
      value: value.endsWith('Inf') ? (value.startsWith('-') ? -Infinity : Infinity) : Number(value),
    });
  });
  for (const name of helps.keys()) {
    if (!families.has(name)) throw new Error(`${name}: HELP without TYPE`);
  }
  for (const name of families.keys()) {
    if (!helps.has(name)) throw new Error(`${name}: TYPE without HELP`);
  }
  return families;
}

/** The value of the sample `name` whose labels include `labels`; undefined when absent. */
export function sampleValue(
  families: Map<string, ExpositionFamily>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  const family = familyOf(families, name);
  const sample =
    family === undefined
      ? undefined
      : families
          .get(family)
          ?.samples.find(
            (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
          );
  return sample?.value;
}
