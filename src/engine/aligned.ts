/**
 * Plate preparation in front of the neural engine: the base network absorbs
 * only a few pixels of misalignment and has no notion of "this plate is from
 * another scene", so the plate is first aligned and colour-matched exactly as
 * the classical engine does it (src/engine/classical: ORB + RANSAC refined by
 * Lucas-Kanade tracks, robust per-channel gains), and the same mismatch
 * evidence produces the same warnings.
 */
import type { ClassicalConfig } from '../config/schema.js';
import { preparePlate } from './classical/index.js';
import { loadClassicalCv } from './classical/cvtypes.js';
import { edgeContact, mismatchWarnings } from './classical/mismatch.js';
import type { MatteInput, MatteResult, MattingEngine } from './types.js';

/** Alpha level above which a pixel touching the frame edge counts as "the difference reaches the edge". */
const EDGE_CONTACT_ALPHA = 64;

/**
 * Wraps `engine` so every pair is aligned and colour-matched first; the
 * result carries the alignment diagnostics and mismatch warnings.
 * @param align the classical engine's `align`, `matchColour` and `mismatchWarn` settings
 */
export async function withPlateAlignment(
  engine: MattingEngine,
  align: Pick<ClassicalConfig, 'align' | 'matchColour' | 'mismatchWarn'>,
): Promise<MattingEngine> {
  const { cv } = await loadClassicalCv();
  return {
    name: engine.name,
    describe: () => ({ ...engine.describe(), plateAlignment: align.align, matchColour: align.matchColour }),
    close: () => engine.close(),
    matte: async (input: MatteInput): Promise<MatteResult> => {
      const t0 = performance.now();
      const { width, height } = input.shot;
      const prepared = await preparePlate(cv, align, input);
      const alignMs = Math.round(performance.now() - t0);
      const r = await engine.matte({ shot: input.shot, plate: { width, height, data: prepared.aligned } });
      const warnings = mismatchWarnings({
        // The engine's own count of alpha > 0.5 (MatteDiagnostics.foregroundFraction).
        differingFraction: r.diagnostics.foregroundFraction,
        mismatchWarn: align.mismatchWarn,
        alignment: prepared.align.alignment,
        alignmentNote: prepared.align.note,
        tracks: prepared.align.tracks,
        trackInliers: prepared.align.trackInliers,
        matches: prepared.align.matches,
        matchInliers: prepared.align.matchInliers,
        edges: edgeContact(r.alpha.data, width, height, EDGE_CONTACT_ALPHA),
      });
      return {
        ...r,
        alignedPlate: { width, height, data: prepared.aligned },
        warnings: [...warnings, ...r.warnings],
        diagnostics: {
          ...r.diagnostics,
          alignment: prepared.align.alignment,
          homography: prepared.align.homography.map((v) => Number(v.toPrecision(8))),
          alignmentResidualPx: prepared.align.residualPx === null ? null : Number(prepared.align.residualPx.toFixed(4)),
          alignmentModel: prepared.align.model,
          colourGains: prepared.fit.gains.map((g) => Number(g.toFixed(4))),
        },
        timings: { alignPlate: alignMs, ...r.timings },
      };
    },
  };
}
