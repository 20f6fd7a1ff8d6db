/**
 * In-memory image types shared by every stage. Pixels are interleaved,
 * row-major, top-left origin, already EXIF-oriented.
 */

/** 8-bit RGB image: `data.length === width * height * 3`, values 0..255. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** 8-bit single-channel matte: `data.length === width * height`, 0 = background, 255 = foreground. */
export interface AlphaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A decoded source photo with what the outputs must carry over. */
export interface SourceImage extends RgbImage {
  /** ICC profile of the file, if it had one (attached to outputs of a shot). */
  icc?: Buffer;
  /** Capture time from EXIF DateTimeOriginal, if present. */
  capturedAt?: Date;
  /** Bit depth of the file's samples (8 or 16); pixels here are always 8-bit. */
  sourceBitDepth: 8 | 16;
}
