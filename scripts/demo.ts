/**
 * `npm run demo`: runs the real daemon (bin/cleanplate start) on config/demo.yaml
 * with local folders under ./demo/, drops the bundled sample session
 * (test/fixtures/sample-session: a plate and garment shots made by
 * scripts/sample/generate.ts) into its inbox the way a photographer's copy
 * would, waits until the session is delivered and its completion email
 * written, stops the daemon with SIGTERM and prints where everything went.
 *
 * ./demo/ is the demo's own sandbox: it is cleared at the start of each run.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const demo = path.join(root, 'demo');
const sample = path.join(root, 'test', 'fixtures', 'sample-session');
const session = 'demo-session';
const timeoutMs = Number(process.env.CLEANPLATE_DEMO_TIMEOUT_MS ?? 15 * 60_000);

async function listFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && !e.name.startsWith('.')) out.push(path.join(e.parentPath, e.name));
  }
  return out.sort();
}

async function main(): Promise<number> {
  const images = (await fs.readdir(sample)).filter((f) => /\.(jpe?g|png|tiff?)$/i.test(f)).sort();
  const plates = images.filter((f) => /plate/i.test(f));
  const shots = images.filter((f) => !/plate/i.test(f));
  if (plates.length === 0 || shots.length === 0) throw new Error(`sample session missing in ${sample}`);

  await fs.rm(demo, { recursive: true, force: true });
  await fs.mkdir(path.join(demo, 'inbox'), { recursive: true });
  console.log(`demo: starting the daemon: bin/cleanplate start --config config/demo.yaml`);
  const daemon = spawn(process.execPath, [path.join(root, 'bin', 'cleanplate'), 'start', '--config', path.join(root, 'config', 'demo.yaml')], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' },
  });
  const exited = new Promise<number>((resolve) => daemon.on('exit', (code) => resolve(code ?? 1)));
  let daemonGone = false;
  void exited.then(() => (daemonGone = true));

  // Wait until the daemon has created its catalog (it is watching then).
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path.join(demo, 'var', 'cleanplate.db'))) {
    if (daemonGone) throw new Error('the daemon exited during start-up (see the log lines above)');
    if (Date.now() > deadline) throw new Error('the daemon did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 1000));

  // Drop the session like a photographer's copy: temporary name, then rename.
  const inbox = path.join(demo, 'inbox', session);
  await fs.mkdir(inbox, { recursive: true });
  for (const f of [...plates, ...shots]) {
    await fs.copyFile(path.join(sample, f), path.join(inbox, `${f}.part`));
    await fs.rename(path.join(inbox, `${f}.part`), path.join(inbox, f));
  }
  console.log(`demo: dropped ${plates.length} plate + ${shots.length} shots into demo/inbox/${session}/`);

  const outDir = path.join(demo, 'output', session);
  const mailDir = path.join(demo, 'mail');
  let mails: string[] = [];
  for (;;) {
    if (daemonGone) throw new Error('the daemon exited unexpectedly (see the log lines above)');
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for the session to be delivered`);
    const delivered = (await listFiles(outDir)).filter((f) => f.endsWith('.json')).length;
    const failed = (await listFiles(path.join(demo, 'failed', session))).filter((f) => f.endsWith('.error.txt')).length;
    mails = (await listFiles(mailDir)).filter((f) => f.endsWith('.eml') && f.includes('session-complete'));
    if (delivered + failed >= shots.length && mails.length > 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  daemon.kill('SIGTERM');
  const code = await exited;

  const outputs = await listFiles(outDir);
  const failures = await listFiles(path.join(demo, 'failed'));
  const logs = await listFiles(path.join(demo, 'var', 'log'));
  const rel = (p: string): string => path.relative(root, p);
  console.log('\ndemo: done (daemon exited with status ' + code + ')');
  console.log(`  outputs  (${outputs.length} files): ${rel(outDir)}/`);
  for (const f of outputs) console.log(`    ${rel(f)}`);
  console.log(`  failures (${failures.filter((f) => f.endsWith('.error.txt')).length}): ${rel(path.join(demo, 'failed'))}/`);
  console.log(`  archive  : ${rel(path.join(demo, 'archive', session))}/ (originals moved there after delivery)`);
  console.log(`  logs     : ${logs.map(rel).join(', ')}`);
  console.log(`  email    : ${mails.map(rel).join(', ')}`);
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo: error: ${(err as Error).message}`);
    process.exit(1);
  },
);
