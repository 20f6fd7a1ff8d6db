/**
 * `cleanplate doctor --config FILE`: checks everything the daemon needs and
 * prints one line per check. Exit status 1 when any check fails.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { assertLocalDisk, Catalog } from '../catalog/catalog.js';
import { loadConfig } from '../config/load.js';
import { createEngine } from '../engine/index.js';
import { toCleanplateError } from '../errors.js';
import { verifySmtp } from '../notify/mailer.js';
import { parse, requireConfigPath } from './main.js';

/** One doctor check: a label and a function that throws when it fails (or returns a detail). */
export interface Check {
  label: string;
  run: () => Promise<string | void>;
}

/** A folder exists (created if needed) and a file can be written and removed in it. */
async function writable(dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const probe = path.join(dir, `.cleanplate-doctor-${randomBytes(4).toString('hex')}`);
  await fs.writeFile(probe, 'ok');
  await fs.rm(probe);
  return dir;
}

/** Runs checks in order, printing ✓/✗ lines; returns how many failed. */
export async function runChecks(checks: Check[], out: (line: string) => void): Promise<number> {
  let failed = 0;
  for (const c of checks) {
    try {
      const detail = await c.run();
      out(`ok    ${c.label}${detail ? `: ${detail}` : ''}`);
    } catch (err) {
      failed++;
      out(`FAIL  ${c.label}: ${toCleanplateError(err).message}`);
    }
  }
  return failed;
}

/** Runs `doctor`; returns the exit status. */
export async function cmdDoctor(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' } });
  const file = requireConfigPath(values.config);
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  const config = await loadConfig(file);
  out(`ok    config ${file} is valid`);
  const checks: Check[] = [];
  for (const s of config.shares) {
    checks.push({ label: `share ${s.name}: inbox readable`, run: async () => { await fs.readdir(s.inbox); return s.inbox + (s.polling ? ' (polling)' : ''); } });
    for (const [what, dir] of [['output', s.output], ['failed', s.failed], ['archive', s.archive]] as const) {
      checks.push({ label: `share ${s.name}: ${what} folder writable`, run: () => writable(dir) });
    }
  }
  checks.push({
    label: 'catalog',
    run: async () => {
      assertLocalDisk(config.catalog.path);
      const c = Catalog.open(config.catalog.path);
      const n = c.counts();
      c.close();
      return `${config.catalog.path} (${n.done} done, ${n.failed} failed, ${n.queued + n.waiting_for_plate} pending)`;
    },
  });
  checks.push({ label: 'log folder writable', run: () => writable(config.logging.dir) });
  checks.push({
    label: `engine ${config.engine.name} loads`,
    run: async () => {
      const engine = await createEngine(config.engine);
      const d = engine.describe();
      await engine.close();
      return JSON.stringify(d);
    },
  });
  if (config.notify.enabled) {
    checks.push({
      label: `email (${config.notify.transport})`,
      run: async () => verifySmtp(config.notify),
    });
  }
  const failed = await runChecks(checks, out);
  out(failed === 0 ? 'all checks passed' : `${failed} check(s) failed`);
  return failed === 0 ? 0 : 1;
}
