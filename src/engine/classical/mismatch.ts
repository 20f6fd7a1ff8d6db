/**
 * "Does this plate belong to this shot?" Pure checks that turn measurements
 * of the matte into human-readable warnings (the pipeline writes them to the
 * sidecar and the log; the matte is still delivered).
 */

/** Fraction of the top, left and right frame edges where the key found a difference. */
export interface EdgeContact {
  top: number;
  left: number;
  right: number;
}

/**
 * A difference covering more than this fraction of the top, left or right
 * frame edge suggests the scene changed (a door opened, the framing moved, a
 * person walked in) or the subject is cut by the frame. The bottom edge is
 * exempt: standing subjects and their floor shadows touch it.
 */
export const EDGE_CONTACT_WARN = 0.33;
/** Tracks that agree on one camera motion: fewer than this fraction hints at a different scene. */
export const LOW_INLIER_RATIO = 0.15;

/** Measures where a (reduced) alpha of `width` x `height` exceeds `threshold` along the frame edges. */
export function edgeContact(alpha: Uint8Array, width: number, height: number, threshold: number): EdgeContact {
  let left = 0;
  let right = 0;
  let top = 0;
  for (let y = 0; y < height; y++) {
    if (alpha[y * width] > threshold) left++;
    if (alpha[y * width + width - 1] > threshold) right++;
  }
  for (let x = 0; x < width; x++) if (alpha[x] > threshold) top++;
  return { top: top / width, left: left / height, right: right / height };
}

/** What the mismatch checks look at. */
export interface MismatchEvidence {
  /** Fraction of the frame that differs from the plate by more than lowSigma. */
  differingFraction: number;
  /** engine.classical.mismatchWarn. */
  mismatchWarn: number;
  /** Alignment outcome and its statistics. */
  alignment: 'none' | 'translation' | 'homography' | 'failed';
  alignmentNote: string;
  tracks: number;
  trackInliers: number;
  matches: number;
  matchInliers: number;
  edges: EdgeContact;
}

function pct(v: number): string {
  return `${Math.round(v * 100)}%`;
}

/** The warnings the evidence calls for (empty when the plate looks right). Pure function. */
export function mismatchWarnings(e: MismatchEvidence): string[] {
  const out: string[] = [];
  if (e.alignment === 'failed') out.push(`plate does not match the shot: it could not be aligned (${e.alignmentNote}); used as is`);
  if (e.differingFraction > e.mismatchWarn) {
    out.push(`plate does not match the shot: ${pct(e.differingFraction)} of the frame differs (mismatchWarn is ${pct(e.mismatchWarn)})`);
  }
  if (
    e.alignment !== 'failed' &&
    e.tracks >= 50 &&
    e.trackInliers < LOW_INLIER_RATIO * e.tracks &&
    e.matchInliers < LOW_INLIER_RATIO * Math.max(1, e.matches)
  ) {
    out.push(`plate may not match the shot: only ${e.trackInliers} of ${e.tracks} tracked points agree on one camera motion`);
  }
  const sides = (['top', 'left', 'right'] as const).filter((s) => e.edges[s] > EDGE_CONTACT_WARN);
  if (sides.length) {
    const worst = sides.reduce((a, b) => (e.edges[b] > e.edges[a] ? b : a));
    out.push(
      `plate may not match the shot: the difference reaches the ${sides.join(' and ')} frame edge${sides.length > 1 ? 's' : ''} (${pct(e.edges[worst])} of the ${worst} edge); the scene or framing may have changed, or the subject is cut by the frame`,
    );
  }
  return out;
}
