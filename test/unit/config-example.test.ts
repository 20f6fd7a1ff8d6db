import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { parseConfig } from '../../src/config/load.js';
import { renderExampleConfig } from '../../src/config/example.js';
import { RESTART_REQUIRED } from '../../src/config/reload.js';
import { configSchema } from '../../src/config/schema.js';

interface Node {
  description?: string;
  properties?: Record<string, Node>;
  items?: Node;
  anyOf?: Node[];
}

const text = renderExampleConfig();
const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Node;

/** All comment text of the file, wrapped lines joined, '#' markers removed. */
const commentText = text
  .split('\n')
  .filter((l) => /^\s*#/.test(l))
  .map((l) => l.replace(/^[\s#]+/, ''))
  .join(' ')
  .replace(/\s+/g, ' ');

test('the example parses as is and equals the schema defaults plus one example share', () => {
  const parsed = parseConfig(text, 'example.yaml');
  assert.equal(parsed.shares.length, 1);
  const share = parsed.shares[0];
  assert.equal(share.name, 'studio-a');
  for (const k of ['inbox', 'output', 'failed', 'archive'] as const) assert.ok(share[k].length > 0);
  // Every other value is the schema's own default.
  const defaults = configSchema.parse({ shares: [{ name: share.name, inbox: share.inbox, output: share.output, failed: share.failed, archive: share.archive }] });
  assert.deepEqual(parsed, defaults);
});

test('every top-level section and every described option appears, with its description as a comment', () => {
  for (const key of Object.keys(schema.properties ?? {})) assert.match(text, new RegExp(`^${key}:`, 'm'), `top-level ${key}`);
  const described: string[] = [];
  const walk = (node: Node, at: string) => {
    if (node.description) described.push(at);
    if (node.description) assert.ok(commentText.includes(node.description.replace(/\s+/g, ' ')), `description of ${at}`);
    for (const [k, child] of Object.entries(node.properties ?? {})) {
      walk(child, at ? `${at}.${k}` : k);
      // The key itself is written (commented out where optional without a default).
      assert.match(text, new RegExp(`^[\\s#]*(- )?${k}:`, 'm'), `key ${at ? `${at}.` : ''}${k}`);
    }
    if (node.items) walk(node.items, `${at}[]`);
  };
  walk(schema, '');
  assert.ok(described.length > 70, `walked ${described.length} described options`);
  assert.ok(described.includes('shares[].polling') && described.includes('notify.smtp.passwordEnv'));
});

test('allowed values, ranges and requiredness are noted', () => {
  assert.match(text, /# .*\[one of: archive, leave\]\n\s*keepOriginals: archive/);
  assert.match(text, /\[integer 1\.\.8\]\n\s*sessionDepth: 1/);
  assert.match(text, /\[required\]\n\s*- name: studio-a/);
  assert.match(text, /^ {2}# smtp:$/m, 'optional block without a default is commented out');
});

test('uncommenting the SMTP block gives a valid smtp setup', () => {
  const enabled = text
    .replace(/^ {2}# smtp:$/m, '  smtp:')
    .replace(/^ {2}# {3}(?!#)(.*)$/gm, '    $1')
    .replace(/^ {2}enabled: false$/m, '  enabled: true');
  const parsed = parseConfig(enabled, 'smtp.yaml');
  assert.equal(parsed.notify.enabled, true);
  assert.deepEqual(parsed.notify.smtp, { host: 'smtp.example.com', port: 587, secure: false, requireTLS: false, rejectUnauthorized: true });
});

test('the header names exactly the settings that need a restart (RESTART_REQUIRED), and says the rest apply live', () => {
  const header = text
    .slice(0, text.indexOf('\ncatalog:'))
    .split('\n')
    .map((l) => l.replace(/^#\s?/, ''))
    .join(' ');
  const list = header.trim().split('which need a restart: ')[1];
  assert.ok(list?.endsWith('.'), header);
  assert.deepEqual(list.slice(0, -1).split(', '), [...RESTART_REQUIRED]);
  for (const live of ['engine.name', 'jobs.concurrency', 'engine.neural.modelDir', 'logging.level']) {
    assert.ok(!RESTART_REQUIRED.some((r) => live === r || live.startsWith(`${r}.`)), `${live} is applied live`);
  }
  assert.match(header, /applied while the daemon runs/);
});
