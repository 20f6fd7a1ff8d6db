/**
 * The contact sheet attached to a session email: the delivered cutouts as
 * thumbnails on a grey-and-white checkerboard, so transparency (and a bad
 * matte) is visible at a glance. Made with sharp, one image at a time, so a
 * session of 30 MP cutouts stays in bounded memory.
 */
import sharp from 'sharp';

/** Light squares of the checkerboard (RGB). */
export const CHECKER_LIGHT = [255, 255, 255] as const;
/** Dark squares of the checkerboard (RGB). */
export const CHECKER_DARK = [204, 204, 204] as const;

/**
 * A raw RGB checkerboard (3 bytes per pixel, row-major), top-left square light.
 * @param square side of one square in pixels (>= 1)
 */
export function checkerboard(width: number, height: number, square: number): Buffer {
  const buf = Buffer.allocUnsafe(width * height * 3);
  const sq = Math.max(1, Math.floor(square));
  for (let y = 0; y < height; y++) {
    const rowParity = Math.floor(y / sq) & 1;
    for (let x = 0; x < width; x++) {
      const c = ((Math.floor(x / sq) & 1) ^ rowParity) === 0 ? CHECKER_LIGHT : CHECKER_DARK;
      const i = (y * width + x) * 3;
      buf[i] = c[0];
      buf[i + 1] = c[1];
      buf[i + 2] = c[2];
    }
  }
  return buf;
}

/** Options of `makeContactSheet` (notify.contactSheet). */
export interface ContactSheetOptions {
  /** Long side of each thumbnail. */
  thumbPx: number;
  /** At most this many cutouts (the first ones). */
  maxItems: number;
  /** Thumbnails per row (default: up to 6). */
  columns?: number;
  /** Gap between thumbnails in pixels (default 4). */
  gapPx?: number;
}

/** A finished contact sheet. */
export interface ContactSheet {
  png: Buffer;
  width: number;
  height: number;
  /** Cutouts shown. */
  items: number;
  /** Paths that could not be read (skipped). */
  skipped: string[];
}

/**
 * Builds a contact sheet of the cutouts at `paths` (images with alpha; the
 * first `maxItems` are used). Unreadable files are skipped and reported.
 * @returns null when no image could be read
 */
export async function makeContactSheet(paths: readonly string[], opts: ContactSheetOptions): Promise<ContactSheet | null> {
  const thumbPx = Math.max(16, Math.round(opts.thumbPx));
  const gap = opts.gapPx ?? 4;
  const thumbs: { data: Buffer; width: number; height: number }[] = [];
  const skipped: string[] = [];
  for (const p of paths.slice(0, Math.max(0, opts.maxItems))) {
    try {
      const { data, info } = await sharp(p)
        .resize(thumbPx, thumbPx, { fit: 'inside' })
        .ensureAlpha()
        .png({ compressionLevel: 1 })
        .toBuffer({ resolveWithObject: true });
      thumbs.push({ data, width: info.width, height: info.height });
    } catch {
      skipped.push(p);
    }
  }
  if (thumbs.length === 0) return null;
  const cols = Math.max(1, Math.min(thumbs.length, opts.columns ?? 6));
  const rows = Math.ceil(thumbs.length / cols);
  const width = cols * thumbPx + (cols + 1) * gap;
  const height = rows * thumbPx + (rows + 1) * gap;
  const square = Math.max(4, Math.round(thumbPx / 20));
  const composites = thumbs.map((t, i) => ({
    input: t.data,
    left: gap + (i % cols) * (thumbPx + gap) + Math.floor((thumbPx - t.width) / 2),
    top: gap + Math.floor(i / cols) * (thumbPx + gap) + Math.floor((thumbPx - t.height) / 2),
  }));
  const png = await sharp(checkerboard(width, height, square), { raw: { width, height, channels: 3 } })
    .composite(composites)
    .png({ palette: true, quality: 90, compressionLevel: 9 })
    .toBuffer();
  return { png, width, height, items: thumbs.length, skipped };
}
