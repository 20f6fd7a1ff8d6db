/**
 * Runs both engines (with post-processing, as the daemon does) on every real
 * pair in DATA_DIR/pairs and writes a contact sheet: per pair the shot, the
 * classical cutout and the neural cutout on a checkerboard, plus each engine's
 * warnings. Used for docs/images/pairs-contact-sheet.png. Prints each
 * engine's time, backdrop haze and interior translucency per pair
 * (src/metrics/haze.ts: faint alpha far from the subject, and see-through
 * pixels inside it, the defects a lower MSE can hide); CONFIG picks other
 * engine settings or model (e.g. a candidate's `engine.neural.modelDir`).
 *
 *   node dist/scripts/pairs-sheet.js ../shared/data docs/images/pairs-contact-sheet.png [CONFIG]
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { withPostprocess } from '../src/cli/eval.js';
import { renderSettings } from '../src/cli/settings.js';
import { interleaveRgba } from '../src/deliver/encode.js';
import { createEngine } from '../src/engine/index.js';
import type { MattingEngine } from '../src/engine/types.js';
import { checkerboard } from '../src/notify/contact-sheet.js';
import { assertSameSize, readImage } from '../src/image/io.js';
import { backdropHaze, interiorTranslucency } from '../src/metrics/haze.js';

const CELL = 300;


async function cell(rgba: Buffer | undefined, rgb: Buffer | undefined, w: number, h: number, label: string): Promise<Buffer> {
  const scale = CELL / Math.max(w, h);
  const tw = Math.max(1, Math.round(w * scale));
  const th = Math.max(1, Math.round(h * scale));
  const img = rgba
    ? await sharp(rgba, { raw: { width: w, height: h, channels: 4 } }).resize(tw, th).png().toBuffer()
    : await sharp(rgb!, { raw: { width: w, height: h, channels: 3 } }).resize(tw, th).png().toBuffer();
  const text = Buffer.from(
    `<svg width="${CELL}" height="22"><rect width="100%" height="100%" fill="white"/><text x="4" y="16" font-family="sans-serif" font-size="13">${label
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')}</text></svg>`,
  );
  return sharp(checkerboard(CELL, CELL + 22, 16), { raw: { width: CELL, height: CELL + 22, channels: 3 } })
    .composite([
      { input: img, left: Math.round((CELL - tw) / 2), top: 22 + Math.round((CELL - th) / 2) },
      { input: text, left: 0, top: 0 },
    ])
    .png()
    .toBuffer();
}

async function main(): Promise<void> {
  const [dataDir, out, configFile] = process.argv.slice(2);
  if (!dataDir || !out) throw new Error('usage: pairs-sheet DATA_DIR OUT.png [CONFIG]');
  const settings = await renderSettings(configFile);
  const engines: [string, MattingEngine][] = [
    ['classical', withPostprocess(await createEngine(settings.engine, { name: 'classical' }), settings.postprocess)],
    ['neural', withPostprocess(await createEngine(settings.engine, { name: 'neural' }), settings.postprocess)],
  ];
  const pairsDir = path.join(dataDir, 'pairs');
  const rows: Buffer[] = [];
  for (const name of (await fs.readdir(pairsDir)).sort()) {
    const dir = path.join(pairsDir, name);
    const files = await fs.readdir(dir).catch(() => [] as string[]);
    const shotFile = files.find((f) => f.startsWith('shot.'));
    const plateFile = files.find((f) => f.startsWith('plate.'));
    if (!shotFile || !plateFile || !existsSync(dir)) continue;
    const shot = await readImage(path.join(dir, shotFile), { maxPixels: settings.limits.maxPixels });
    const plate = await readImage(path.join(dir, plateFile), { maxPixels: settings.limits.maxPixels });
    assertSameSize(shot, plate);
    const cells = [await cell(undefined, Buffer.from(shot.data), shot.width, shot.height, `${name}: shot`)];
    for (const [label, engine] of engines) {
      const t0 = performance.now();
      const r = await engine.matte({ shot, plate });
      const ms = performance.now() - t0;
      const rgba = interleaveRgba(r.foreground ?? shot, r.alpha);
      const warn = r.warnings.length ? ` ⚠ ${r.warnings.join('; ')}` : '';
      const haze = (100 * backdropHaze(r.alpha)).toFixed(2);
      const inside = (100 * interiorTranslucency(r.alpha)).toFixed(1);
      console.log(`${name} ${label}: ${(ms / 1000).toFixed(1)} s, backdrop haze ${haze} %, interior translucency ${inside} %, alignment ${String(r.diagnostics.alignment)}${warn}`);
      cells.push(await cell(rgba, undefined, shot.width, shot.height, `${label}${r.warnings.length ? ' ⚠ plate mismatch' : ''}`));
    }
    rows.push(
      await sharp({ create: { width: CELL * cells.length, height: CELL + 22, channels: 3, background: '#ffffff' } })
        .composite(cells.map((c, k) => ({ input: c, left: k * CELL, top: 0 })))
        .png()
        .toBuffer(),
    );
  }
  for (const [, e] of engines) await e.close();
  await fs.mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await sharp({ create: { width: CELL * 3, height: rows.length * (CELL + 22), channels: 3, background: '#ffffff' } })
    .composite(rows.map((r, k) => ({ input: r, left: 0, top: k * (CELL + 22) })))
    .png({ compressionLevel: 9, palette: false })
    .toFile(out);
  console.log(`wrote ${out}`);
}

main().catch((err: unknown) => {
  console.error(`pairs-sheet: ${(err as Error).message}`);
  process.exit(1);
});
