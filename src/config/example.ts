/**
 * The commented example configuration written by `cleanplate init-config`,
 * generated from the zod schema (via `z.toJSONSchema`): every option with its
 * `.describe()` text, allowed values, range and default, so the schema stays
 * the single source of truth. Only the example values of required settings
 * (one share's name and folders, an SMTP host) live here. Pure.
 */
import { z } from 'zod';
import { stringify } from 'yaml';
import { RESTART_REQUIRED } from './reload.js';
import { configSchema } from './schema.js';

/** The subset of JSON Schema that `z.toJSONSchema` produces for the config. */
interface JsonNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonNode>;
  required?: string[];
  items?: JsonNode;
  anyOf?: JsonNode[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  minLength?: number;
  pattern?: string;
  format?: string;
}

/**
 * Example values for settings without a default, by schema path (`[]` for
 * array items). The example share uses folders relative to the config file.
 */
const EXAMPLES: Record<string, unknown> = {
  'shares[].name': 'studio-a',
  'shares[].inbox': 'studio-a/inbox',
  'shares[].output': 'studio-a/output',
  'shares[].failed': 'studio-a/failed',
  'shares[].archive': 'studio-a/archive',
  'notify.smtp.host': 'smtp.example.com',
  'notify.smtp.user': 'cleanplate',
  'notify.smtp.passwordEnv': 'CLEANPLATE_SMTP_PASSWORD',
  'notify.sessionRecipients[].pattern': 'ACME-*',
  'notify.sessionRecipients[].to': ['acme-orders@example.com'],
};

const WIDTH = 100;
const INDENT = '  ';

/** Renders one YAML value inline (flow style for lists). */
function inline(value: unknown): string {
  return stringify(value, { collectionStyle: 'flow', lineWidth: 0 }).trimEnd();
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** The non-null variant of a nullable node, and whether null is allowed. */
function unwrapNullable(node: JsonNode): { node: JsonNode; nullable: boolean } {
  if (node.anyOf) {
    const rest = node.anyOf.filter((n) => n.type !== 'null');
    const nullable = rest.length < node.anyOf.length;
    if (rest.length === 1) return { node: { ...rest[0], description: node.description, default: node.default }, nullable };
  }
  if (Array.isArray(node.type) && node.type.includes('null')) {
    const types = node.type.filter((t) => t !== 'null');
    return { node: { ...node, type: types.length === 1 ? types[0] : types }, nullable: true };
  }
  return { node, nullable: false };
}

/** Range of a number as `1..8`, `>= 0`, `> 0` (integers with an exclusive minimum get an inclusive one). */
function range(node: JsonNode): string {
  const int = node.type === 'integer';
  let lo = node.minimum !== undefined ? `${node.minimum}` : undefined;
  let loOpen = false;
  if (node.exclusiveMinimum !== undefined) {
    if (int) lo = `${node.exclusiveMinimum + 1}`;
    else {
      lo = `${node.exclusiveMinimum}`;
      loOpen = true;
    }
  }
  const hi = node.maximum !== undefined && node.maximum < Number.MAX_SAFE_INTEGER ? `${node.maximum}` : undefined;
  if (lo !== undefined && hi !== undefined && !loOpen) return `${lo}..${hi}`;
  return [lo !== undefined ? `${loOpen ? '>' : '>='} ${lo}` : '', hi !== undefined ? `<= ${hi}` : ''].filter(Boolean).join(', ');
}

/** A short note on allowed values: enum, type and range, nullability, requiredness. */
function hint(raw: JsonNode, required: boolean): string {
  const { node, nullable } = unwrapNullable(raw);
  const parts: string[] = [];
  if (node.enum) parts.push(`one of: ${node.enum.map(String).join(', ')}`);
  if (node.type === 'integer' || node.type === 'number') parts.push([node.type, range(node)].filter(Boolean).join(' '));
  if (node.type === 'array' && (node.minItems ?? 0) > 0) parts.push(`at least ${node.minItems}`);
  if (nullable && !/\bnull\b/.test(raw.description ?? '')) parts.push('null turns it off');
  if (required && raw.default === undefined) parts.push('required');
  return parts.length ? `[${parts.join('; ')}]` : '';
}

function comments(node: JsonNode, required: boolean, indent: string): string[] {
  const width = WIDTH - indent.length - 2;
  const lines = wrap(node.description ?? '', width);
  const note = hint(node, required);
  if (note) {
    // The note is never split across lines.
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + 1 + note.length <= width) lines[last] += ` ${note}`;
    else lines.push(note);
  }
  return lines.map((l) => `${indent}# ${l}`);
}

function isObject(node: JsonNode): boolean {
  return node.type === 'object' && node.properties !== undefined;
}

/** Example value of a leaf without a default. */
function exampleFor(at: string, node: JsonNode): unknown {
  if (at in EXAMPLES) return EXAMPLES[at];
  const { node: n } = unwrapNullable(node);
  if (n.enum) return n.enum[0];
  switch (n.type) {
    case 'boolean':
      return false;
    case 'integer':
    case 'number':
      return n.exclusiveMinimum !== undefined ? n.exclusiveMinimum + 1 : (n.minimum ?? 0);
    case 'array':
      return [];
    default:
      return '';
  }
}

/** Lines of an object's properties at `indent`; `at` is the schema path of the object. */
function renderProperties(node: JsonNode, indent: string, at: string): string[] {
  const out: string[] = [];
  const required = new Set(node.required ?? []);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = at ? `${at}.${key}` : key;
    const isRequired = required.has(key);
    if (indent === '' && out.length > 0) out.push('');
    out.push(...comments(child, isRequired, indent));
    const body = renderValue(key, child, indent, path);
    // Optional settings without a default are shown commented out.
    const optionalWithoutDefault = !isRequired && child.default === undefined;
    out.push(...(optionalWithoutDefault ? body.map((l) => `${indent}# ${l.slice(indent.length)}`) : body));
  }
  return out;
}

/** `key: value` lines for one property (nested blocks for objects and lists of objects). */
function renderValue(key: string, node: JsonNode, indent: string, at: string): string[] {
  const inner = indent + INDENT;
  if (isObject(node)) return [`${indent}${key}:`, ...renderProperties(node, inner, at)];
  if (node.type === 'array' && node.items && isObject(node.items)) {
    const wantsExample = (node.minItems ?? 0) > 0 || node.default === undefined;
    if (!wantsExample) {
      // Show the empty default and, commented out, what one item looks like.
      const item = renderItem(node.items, inner, `${at}[]`).map((l) => `${inner}# ${l.slice(inner.length)}`);
      return [`${indent}${key}: ${inline(node.default)}`, `${inner}# for example:`, ...item];
    }
    return [`${indent}${key}:`, ...renderItem(node.items, inner, `${at}[]`)];
  }
  const value = node.default !== undefined ? node.default : exampleFor(at, node);
  return [`${indent}${key}: ${inline(value)}`];
}

/** One list item of objects: `- key: value` with the rest of its keys aligned under it. */
function renderItem(items: JsonNode, indent: string, at: string): string[] {
  const lines = renderProperties(items, indent + INDENT, at);
  const first = lines.findIndex((l) => !l.trimStart().startsWith('#'));
  if (first >= 0) lines[first] = `${indent}- ${lines[first].slice(indent.length + INDENT.length)}`;
  return lines;
}

/**
 * Renders the commented example configuration (YAML). It validates as is
 * (`parseConfig`); the example share's folders are relative to the file.
 */
export function renderExampleConfig(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonNode;
  const header = [
    '# cleanplate configuration',
    '#',
    '# Generated from the configuration schema: every option is listed with its default.',
    ...wrap(
      'Relative paths are resolved against the folder of this file. Durations carry their unit in the key name ' +
        '(Ms, Sec, Min). Changes to this file are applied while the daemon runs (changed engine, limits, ' +
        'postprocess, outputs or jobs.concurrency settings restart the render workers between jobs; an invalid ' +
        `change is logged and the running config kept), except these, which need a restart: ${RESTART_REQUIRED.join(', ')}.`,
      WIDTH - 2,
    ).map((l) => `# ${l}`),
    '',
  ];
  return `${[...header, ...renderProperties(schema, '', '')].join('\n')}\n`;
}
