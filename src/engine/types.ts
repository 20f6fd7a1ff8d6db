/**
 * The matting-engine interface. Both engines (classical, neural) implement it;
 * the pipeline (src/pipeline.ts) picks one from `config.engine.name`.
 */
import type { AlphaImage, RgbImage } from '../image/types.js';

/** What an engine gets: shot and plate of identical size, both already decoded and oriented. */
export interface MatteInput {
  shot: RgbImage;
  plate: RgbImage;
}

/** Numbers worth keeping in the sidecar JSON. */
export interface MatteDiagnostics {
  /** How the plate was aligned: 'none' when it already matched, else the model used. */
  alignment: 'none' | 'translation' | 'homography' | 'failed';
  /** 3x3 row-major homography applied to the plate (identity when none). */
  homography: number[];
  /** RMS reprojection error of the inlier matches, in full-resolution pixels (null when not aligned). */
  alignmentResidualPx: number | null;
  /** Estimated noise sigma of the shot/plate difference (0..255 scale). */
  noiseSigma?: number;
  /** Fraction of the frame judged foreground (alpha > 0.5). */
  foregroundFraction: number;
  /** Engine-specific extras (gains, thresholds, refined patch count...). */
  [key: string]: unknown;
}

/** What an engine returns; alpha and foreground at the input's full resolution. */
export interface MatteResult {
  alpha: AlphaImage;
  /**
   * Colour-clean foreground (RGB, no plate colour bleeding), or undefined when the
   * engine leaves decontamination to post-processing.
   */
  foreground?: RgbImage;
  /** The plate after alignment and colour matching (used by post-processing to decontaminate). */
  alignedPlate: RgbImage;
  /** Human-readable warnings, e.g. "plate does not match the shot: 72% of the frame differs". */
  warnings: string[];
  diagnostics: MatteDiagnostics;
  /** Milliseconds per internal stage. */
  timings: Record<string, number>;
}

/** A loaded engine. `close()` frees native resources (ONNX sessions, WASM heaps). */
export interface MattingEngine {
  readonly name: 'classical' | 'neural';
  /** Describes the engine for logs and sidecars (model version, execution provider...). */
  describe(): Record<string, unknown>;
  matte(input: MatteInput): Promise<MatteResult>;
  close(): Promise<void>;
}
