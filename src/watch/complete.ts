/**
 * "Is this file complete?" for hot folders on local disks and SMB/NFS shares
 * (see the shared notes on hot folders). A file is complete when
 *
 * 1. its size and mtime have not changed for `stableMs` (read with open +
 *    fstat, which refreshes NFS/CIFS attribute caches; a bare stat may not);
 * 2. its format's end marker or container structure is present: JPEG EOI
 *    (trailing zero padding and data appended after the EOI are allowed), PNG
 *    IEND, WebP RIFF length, classic TIFF IFD0 and strip/tile extents inside
 *    the file (BigTIFF and unknown formats: stability only);
 * 3. it decodes from start to end with sharp (`failOn: 'truncated'`, plus
 *    libjpeg's "premature end of data segment" warning), done last and once
 *    per unchanged version.
 *
 * A file that stays stable but fails 2 or 3 (a cancelled copy kept under its
 * final name, a dropped upload) is reported `incomplete` once it has been
 * unchanged for `incompleteTimeoutMs`. Side effects: reads the file only.
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import sharp from 'sharp';

/** Image container recognised from the file's first bytes. */
export type ImageKind = 'jpeg' | 'png' | 'tiff' | 'webp' | 'unknown';

/**
 * What was seen of one file version. Pass the previous call's `obs` back in;
 * a watcher that gets a change event should set `since` to the event time.
 */
export interface Observation {
  /** Size in bytes at the last look. */
  size: number;
  /** Modification time at the last look. */
  mtimeMs: number;
  /** When this size/mtime was first seen (ms, same clock as `now`). */
  since: number;
  /** Why the last check of this unchanged version failed. */
  failed?: string;
  /** The full decode of this unchanged version failed already: do not decode it again. */
  decodeFailed?: boolean;
}

/** Settings of a completeness check. */
export interface CompleteOptions {
  /** Size and mtime must be unchanged this long (watch.stableMs). */
  stableMs: number;
  /** A stable file that is still not complete after this long is `incomplete` (watch.incompleteTimeoutMin in ms). */
  incompleteTimeoutMs: number;
  /**
   * Images with more pixels than this are not decoded here (the decode stage
   * refuses them as too large with a clear reason); the end-marker check still applies.
   */
  maxPixels?: number;
  /** Skip the full decode (tests, or callers that decode anyway). Default true. */
  decode?: boolean;
}

/** Result of one completeness check. */
export type CompleteResult =
  /** The file no longer exists. */
  | { state: 'gone' }
  /** Seen for the first time, changed since the last look, or not yet stable for `stableMs`. */
  | { state: 'unstable'; obs: Observation }
  /** Stable, but its end marker is missing or it does not decode (yet). */
  | { state: 'partial'; obs: Observation; reason: string }
  /** Partial and unchanged for `incompleteTimeoutMs`: give up on it. */
  | { state: 'incomplete'; obs: Observation; reason: string }
  /** Stable, structurally complete and decodable. */
  | { state: 'complete'; obs: Observation; format: ImageKind };

/** Outcome of the cheap end-marker / structure check. */
export interface EndMarkerResult {
  format: ImageKind;
  ok: boolean;
  /** Why the file is not (yet) complete, when `ok` is false; a note when the check was stability-only. */
  reason?: string;
}

/** Bytes read from the end of a file when looking for JPEG EOI / PNG IEND. */
const TAIL_BYTES = 64 * 1024;
const PNG_SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_IEND = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
const JPEG_EOI = Buffer.from([0xff, 0xd9]);

/** `size:mtimeMs`, the identity of one version of a file. */
export function versionKey(v: { size: number; mtimeMs: number }): string {
  return `${v.size}:${v.mtimeMs}`;
}

/**
 * Size and mtime read through an open file handle (open + fstat), which makes
 * NFS and CIFS clients revalidate cached attributes.
 * @returns null when the file does not exist
 * @throws the fs error for anything but ENOENT/ENOTDIR
 */
export async function statFresh(file: string): Promise<{ size: number; mtimeMs: number; isFile: boolean } | null> {
  let fh: FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
  try {
    const st = await fh.stat();
    return { size: st.size, mtimeMs: st.mtimeMs, isFile: st.isFile() };
  } finally {
    await fh.close();
  }
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(Math.max(0, length));
  if (length <= 0) return buf;
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/** Recognises the container from the first bytes. */
export function sniffFormat(head: Buffer): ImageKind {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && head.subarray(0, 8).equals(PNG_SIG)) return 'png';
  if (head.length >= 4 && ((head[0] === 0x49 && head[1] === 0x49 && head[2] === 0x2a && head[3] === 0) || (head[0] === 0x4d && head[1] === 0x4d && head[2] === 0 && (head[3] === 0x2a || head[3] === 0x2b))))
    return 'tiff';
  if (head.length >= 4 && head[0] === 0x49 && head[1] === 0x49 && head[2] === 0x2b && head[3] === 0) return 'tiff';
  if (head.length >= 12 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return 'unknown';
}

/** Length of `buf` without its trailing zero bytes (preallocation or padding). */
function withoutZeroPadding(buf: Buffer): number {
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end--;
  return end;
}

/**
 * Offset of the first SOS marker of a JPEG, walking the marker segments from
 * the start (so EOI markers of EXIF thumbnails inside APP1 are skipped).
 * @returns null when the header is cut short or malformed
 */
async function jpegFirstScan(fh: FileHandle, size: number): Promise<number | null> {
  let pos = 2;
  for (let n = 0; n < 256 && pos + 4 <= size; n++) {
    const b = await readAt(fh, pos, 4);
    if (b.length < 4 || b[0] !== 0xff) return null;
    const marker = b[1];
    if (marker === 0xff) {
      pos += 1; // fill byte
      continue;
    }
    if (marker === 0xda) return pos;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9)) {
      pos += 2;
      continue;
    }
    pos += 2 + ((b[2] << 8) | b[3]);
  }
  return null;
}

async function checkJpeg(fh: FileHandle, size: number): Promise<EndMarkerResult> {
  const sos = await jpegFirstScan(fh, size);
  if (sos === null) return { format: 'jpeg', ok: false, reason: 'JPEG header is incomplete' };
  const start = Math.max(0, size - TAIL_BYTES);
  const tail = await readAt(fh, start, size - start);
  const end = withoutZeroPadding(tail);
  if (end >= 2 && tail[end - 2] === 0xff && tail[end - 1] === 0xd9) return { format: 'jpeg', ok: true };
  // Cameras may append data (maker trailers, motion clips) after the EOI of the main image.
  const eoi = tail.lastIndexOf(JPEG_EOI);
  if (eoi >= 0 && start + eoi > sos) return { format: 'jpeg', ok: true, reason: 'data after the JPEG end marker' };
  return { format: 'jpeg', ok: false, reason: 'JPEG end marker (EOI) is missing' };
}

async function checkPng(fh: FileHandle, size: number): Promise<EndMarkerResult> {
  const start = Math.max(0, size - TAIL_BYTES);
  const tail = await readAt(fh, start, size - start);
  const end = withoutZeroPadding(tail);
  if (end >= PNG_IEND.length && tail.subarray(end - PNG_IEND.length, end).equals(PNG_IEND)) return { format: 'png', ok: true };
  if (tail.lastIndexOf(PNG_IEND) >= 0) return { format: 'png', ok: true, reason: 'data after the PNG IEND chunk' };
  return { format: 'png', ok: false, reason: 'PNG IEND chunk is missing' };
}

async function checkWebp(fh: FileHandle, size: number): Promise<EndMarkerResult> {
  const head = await readAt(fh, 0, 12);
  const riff = head.readUInt32LE(4) + 8;
  if (riff > size) return { format: 'webp', ok: false, reason: `WebP is ${size} of ${riff} bytes` };
  return { format: 'webp', ok: true };
}

/** Byte sizes of TIFF field types 1..13. */
const TIFF_TYPE_SIZE = [0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4];

/**
 * Classic TIFF: IFD0, its out-of-line values and every strip/tile of the
 * first image must lie inside the file. BigTIFF: stability only.
 */
async function checkTiff(fh: FileHandle, size: number): Promise<EndMarkerResult> {
  const head = await readAt(fh, 0, 8);
  const le = head[0] === 0x49;
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (u16(head, 2) === 43) return { format: 'tiff', ok: true, reason: 'BigTIFF: stability check only' };
  const missing = (what: string): EndMarkerResult => ({ format: 'tiff', ok: false, reason: `TIFF ${what} lies beyond the end of the file` });
  const ifd = u32(head, 4);
  if (ifd < 8 || ifd + 2 > size) return missing('directory');
  const count = u16(await readAt(fh, ifd, 2), 0);
  const ifdEnd = ifd + 2 + count * 12 + 4;
  if (ifdEnd > size) return missing('directory');
  const entries = await readAt(fh, ifd + 2, count * 12 + 4);
  const fieldValues = async (e: number): Promise<number[] | null> => {
    const type = u16(entries, e + 2);
    const n = u32(entries, e + 4);
    const width = TIFF_TYPE_SIZE[type] ?? 0;
    if (width !== 2 && width !== 4) return null;
    const bytes = n * width;
    let buf: Buffer;
    if (bytes <= 4) buf = entries.subarray(e + 8, e + 8 + bytes);
    else {
      const off = u32(entries, e + 8);
      if (off + bytes > size) return null;
      buf = await readAt(fh, off, bytes);
      if (buf.length < bytes) return null;
    }
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(width === 2 ? u16(buf, i * width) : u32(buf, i * width));
    return out;
  };
  const byTag = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const e = i * 12;
    const tag = u16(entries, e);
    byTag.set(tag, e);
    const width = TIFF_TYPE_SIZE[u16(entries, e + 2)] ?? 0;
    const bytes = u32(entries, e + 4) * width;
    if (bytes > 4 && u32(entries, e + 8) + bytes > size) return missing(`field ${tag}`);
  }
  const next = u32(entries, count * 12);
  if (next !== 0 && next + 2 > size) return missing('next directory');
  for (const [offTag, lenTag, what] of [
    [273, 279, 'strip'],
    [324, 325, 'tile'],
  ] as const) {
    const oe = byTag.get(offTag);
    const le2 = byTag.get(lenTag);
    if (oe === undefined || le2 === undefined) continue;
    const offs = await fieldValues(oe);
    const lens = await fieldValues(le2);
    if (!offs || !lens) return missing(`${what} table`);
    for (let i = 0; i < offs.length; i++) {
      if (offs[i] + (lens[i] ?? 0) > size) return missing(`${what} ${i}`);
    }
  }
  return { format: 'tiff', ok: true };
}

/**
 * The cheap structural check: format from the first bytes, then its end
 * marker or container extents.
 * @param size the size just read with `statFresh`
 */
export async function checkEndMarker(file: string, size: number): Promise<EndMarkerResult> {
  if (size === 0) return { format: 'unknown', ok: false, reason: 'file is empty' };
  const fh = await fs.open(file, 'r');
  try {
    const head = await readAt(fh, 0, 16);
    const format = sniffFormat(head);
    switch (format) {
      case 'jpeg':
        return await checkJpeg(fh, size);
      case 'png':
        return await checkPng(fh, size);
      case 'tiff':
        return await checkTiff(fh, size);
      case 'webp':
        return await checkWebp(fh, size);
      default:
        if (withoutZeroPadding(head) === 0) return { format, ok: false, reason: 'no image header yet (file is preallocated)' };
        return { format, ok: true, reason: 'unknown format: decode check only' };
    }
  } finally {
    await fh.close();
  }
}

/**
 * Decoder warnings that mean the data ran out or the entropy-coded data is
 * garbage (zeros where a write has not landed yet), even with the end marker present.
 */
const DAMAGE_RE = /premature end|truncat|unexpected end|end of (file|stream|data)|huffman/i;

function firstLine(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split('\n')[0].trim() || 'does not decode';
}

/**
 * Decodes the whole image with sharp, failing on truncated data. Pixels are
 * streamed through `stats()`, so no full-frame buffer reaches JavaScript.
 *
 * The decode runs with `failOn: 'warning'` first: libjpeg reports a JPEG whose
 * middle is missing but whose EOI is present (out-of-order or preallocated
 * writes) only as the warnings "premature end of data segment" or "bad
 * Huffman code" (a smooth image with a zero hole may decode without any
 * warning: stability stays the main guard). Other warnings
 * (harmless quirks of some cameras) fall back to a `failOn: 'truncated'`
 * decode, whose verdict counts.
 * @returns null when it decodes, else the decoder's one-line message
 */
export async function decodeError(file: string, maxPixels?: number): Promise<string | null> {
  try {
    const meta = await sharp(file, { failOn: 'truncated', limitInputPixels: false }).metadata();
    if (maxPixels !== undefined && (meta.width ?? 0) * (meta.height ?? 0) > maxPixels) return null;
  } catch (err) {
    return firstLine(err);
  }
  try {
    await sharp(file, { failOn: 'warning', sequentialRead: true, limitInputPixels: false }).stats();
    return null;
  } catch (err) {
    if (DAMAGE_RE.test(firstLine(err))) return firstLine(err);
  }
  try {
    await sharp(file, { failOn: 'truncated', sequentialRead: true, limitInputPixels: false }).stats();
    return null;
  } catch (err) {
    return firstLine(err);
  }
}

/**
 * One completeness check of `file`; see the module comment for the rules.
 * Call it repeatedly (a sweep every ~stableMs/2), passing back the previous
 * result's `obs`. The full decode runs once per unchanged, structurally
 * complete version.
 * @param prev the previous observation of this file, if any
 * @param now current time in ms (the clock `since` uses)
 */
export async function checkComplete(file: string, prev: Observation | undefined, now: number, options: CompleteOptions): Promise<CompleteResult> {
  let st: Awaited<ReturnType<typeof statFresh>>;
  try {
    st = await statFresh(file);
  } catch (err) {
    const reason = `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    const obs: Observation = prev ? { ...prev, failed: reason } : { size: -1, mtimeMs: -1, since: now, failed: reason };
    return partialOrIncomplete(obs, reason, now, options);
  }
  if (!st) return { state: 'gone' };
  if (!st.isFile) return partialOrIncomplete(prev ?? { size: st.size, mtimeMs: st.mtimeMs, since: now }, 'not a regular file', now, options);
  if (!prev || prev.size !== st.size || prev.mtimeMs !== st.mtimeMs) {
    return { state: 'unstable', obs: { size: st.size, mtimeMs: st.mtimeMs, since: now } };
  }
  if (now - prev.since < options.stableMs) return { state: 'unstable', obs: prev };
  if (prev.decodeFailed && prev.failed) return partialOrIncomplete(prev, prev.failed, now, options);

  let marker: EndMarkerResult;
  try {
    marker = await checkEndMarker(file, st.size);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { state: 'gone' };
    const reason = `cannot read: ${code ?? (err as Error).message}`;
    return partialOrIncomplete({ ...prev, failed: reason }, reason, now, options);
  }
  if (!marker.ok) {
    const reason = marker.reason ?? 'incomplete';
    return partialOrIncomplete({ ...prev, failed: reason, decodeFailed: false }, reason, now, options);
  }
  if (options.decode !== false) {
    const bad = await decodeError(file, options.maxPixels);
    // The file may have changed or vanished while it was decoded.
    const after = await statFresh(file).catch(() => null);
    if (!after) return { state: 'gone' };
    if (after.size !== st.size || after.mtimeMs !== st.mtimeMs) {
      return { state: 'unstable', obs: { size: after.size, mtimeMs: after.mtimeMs, since: now } };
    }
    if (bad !== null) {
      const reason = `does not decode: ${bad}`;
      return partialOrIncomplete({ ...prev, failed: reason, decodeFailed: true }, reason, now, options);
    }
  }
  const { failed: _f, decodeFailed: _d, ...clean } = prev;
  return { state: 'complete', obs: clean, format: marker.format };
}

function partialOrIncomplete(obs: Observation, reason: string, now: number, options: CompleteOptions): CompleteResult {
  if (now - obs.since >= options.incompleteTimeoutMs) return { state: 'incomplete', obs, reason };
  return { state: 'partial', obs, reason };
}
