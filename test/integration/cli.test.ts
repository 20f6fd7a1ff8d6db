/**
 * bin/cleanplate as users run it: a good pair gives an RGBA cutout and an
 * alpha the size of the shot; every kind of bad input gives one line on
 * stderr and a non-zero exit, and nothing is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { packageRoot } from '../../src/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { makePair } from './harness.js';

const bin = path.join(packageRoot(), 'bin', 'cleanplate');
const built = existsSync(path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js'));

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('matte: cutout + alpha of the shot size; bad input is one line and a non-zero exit', { skip: !built && 'needs npm run build' }, async (t) => {
  const dir = tempDir(t, 'cp-cli-');
  const p = (n: string): string => path.join(dir, n);
  const { shot, plate } = await makePair(160, 240, 3);
  writeFileSync(p('shot.png'), shot);
  writeFileSync(p('plate.png'), plate);

  const ok = cli('matte', p('shot.png'), p('plate.png'), '-o', p('out.png'), '--alpha', p('alpha.png'), '--engine', 'classical');
  assert.equal(ok.code, 0, ok.stderr);
  const out = await sharp(p('out.png')).metadata();
  const alpha = await sharp(p('alpha.png')).metadata();
  assert.deepEqual([out.width, out.height, out.channels], [160, 240, 4]);
  assert.deepEqual([alpha.width, alpha.height, alpha.channels], [160, 240, 1]);

  const oneLine = (r: { code: number | null; stderr: string }, code: number, pattern: RegExp): void => {
    assert.equal(r.code, code, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  };
  oneLine(cli('matte', p('shot.png'), p('plate.png'), '-o', p('out.png'), '--engine', 'classical'), 1, /already exists; cleanplate never overwrites/);
  oneLine(cli('matte', p('missing.png'), p('plate.png'), '-o', p('o1.png'), '--engine', 'classical'), 1, /not found/);
  writeFileSync(p('cut.png'), shot.subarray(0, shot.length >> 1));
  oneLine(cli('matte', p('cut.png'), p('plate.png'), '-o', p('o2.png'), '--engine', 'classical'), 1, /error: .*cut\.png/);
  writeFileSync(p('text.jpg'), 'not an image\n');
  oneLine(cli('matte', p('text.jpg'), p('plate.png'), '-o', p('o3.png'), '--engine', 'classical'), 1, /error: /);
  const small = await makePair(100, 150, 4);
  writeFileSync(p('small-plate.png'), small.plate);
  oneLine(cli('matte', p('shot.png'), p('small-plate.png'), '-o', p('o4.png'), '--engine', 'classical'), 1, /160x240.*100x150|100x150.*160x240/);
  writeFileSync(p('limits.yaml'), `shares: [{name: s, inbox: i, output: o, failed: f, archive: a}]\nlimits: {maxPixels: 10000}\n`);
  oneLine(cli('matte', p('shot.png'), p('plate.png'), '-o', p('o5.png'), '--engine', 'classical', '--config', p('limits.yaml')), 1, /pixel|limit/i);
  for (const n of ['o1.png', 'o2.png', 'o3.png', 'o4.png', 'o5.png']) assert.equal(existsSync(p(n)), false, `${n} must not be written`);
  const same = cli('matte', p('shot.png'), p('plate.png'), '-o', p('same.png'), '--alpha', p('same.png'), '--engine', 'classical');
  assert.equal(same.code, 2, same.stderr);
  assert.match(same.stderr.split('\n')[0], /-o and --alpha must name different files/);
  assert.equal(existsSync(p('same.png')), false, 'nothing written when -o and --alpha collide');
  // --alpha onto an existing file: refused before anything is written.
  writeFileSync(p('taken.png'), 'x');
  oneLine(cli('matte', p('shot.png'), p('plate.png'), '-o', p('o6.png'), '--alpha', p('taken.png'), '--engine', 'classical'), 1, /already exists/);
  assert.equal(existsSync(p('o6.png')), false);
  // --alpha names a dangling symlink: it looks free up front, and the alpha write finds it taken only after the
  // cutout was written (as when a file appears meanwhile); neither file stays.
  symlinkSync(p('nowhere.png'), p('dangling.png'));
  const noDir = cli('matte', p('shot.png'), p('plate.png'), '-o', p('o7.png'), '--alpha', p('dangling.png'), '--engine', 'classical');
  assert.notEqual(noDir.code, 0, noDir.stderr);
  assert.equal(noDir.stderr.trim().split('\n').length, 1, noDir.stderr);
  assert.equal(existsSync(p('o7.png')), false, 'the cutout is removed when the alpha cannot be written');
  assert.equal(cli('matte', p('shot.png')).code, 2);
  assert.equal(cli('frobnicate').code, 2);
  // Usage errors: the reason on the first line, then the usage text, exit 2.
  for (const seed of ['abc', '-1', '1.5']) {
    const r = cli('eval', dir, `--seed=${seed}`);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.split('\n')[0], /--seed must be a whole number >= 0/);
  }
});

test('init-config writes a config that doctor accepts once its folders exist', { skip: !built && 'needs npm run build' }, (t) => {
  const dir = tempDir(t, 'cp-cli-init-');
  const file = path.join(dir, 'cleanplate.yaml');
  const r = cli('init-config', file);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(cli('init-config', file).code, 1, 'never overwrites');
  const doctor = cli('doctor', '--config', file);
  assert.match(doctor.stdout, /config .* is valid/);
  assert.match(doctor.stdout, /ok {4}share .*: output folder writable/);
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, 'shares:\n  - name: x\n    inbox: 5\njobs: {concurrency: 0}\n');
  const e = cli('doctor', '--config', bad);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /shares\[0\]\.inbox/);
  assert.match(e.stderr, /jobs\.concurrency/);
});
