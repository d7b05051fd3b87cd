/** Default longest line: longer lines are emitted as several lines of at most this many bytes. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/** Options for {@link LineSplitter}. */
export interface LineSplitterOptions {
  /** Longest emitted line in UTF-8 bytes (default 64 KiB); longer lines are split, never dropped. */
  maxLineBytes?: number;
}

/**
 * Turns a byte stream (process output) into text lines:
 * - lines end with `\n` or `\r\n`; chunks may split lines or multi-byte characters anywhere;
 * - a lone `\r` (progress bars) rewrites the line: only the text after the last `\r` is kept;
 * - lines longer than `maxLineBytes` are split on UTF-8 character boundaries;
 * - a trailing line without newline is emitted by {@link LineSplitter.end}.
 */
export class LineSplitter {
  private pending: Buffer = Buffer.alloc(0);
  private readonly maxLineBytes: number;

  constructor(
    /** Gets each line; `partial` is true for a piece cut from a longer line (the next piece continues it). */
    private readonly onLine: (text: string, partial: boolean) => void,
    options: LineSplitterOptions = {},
  ) {
    this.maxLineBytes = Math.max(4, options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  }

  /** Feeds a chunk of output. */
  push(chunk: Buffer | string): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let buf = this.pending.length === 0 ? bytes : Buffer.concat([this.pending, bytes]);
    let start = 0;
    for (let nl = buf.indexOf(LF, start); nl !== -1; nl = buf.indexOf(LF, start)) {
      this.emit(buf.subarray(start, nl));
      start = nl + 1;
    }
    buf = dropOverwritten(buf.subarray(start));
    while (buf.length > this.maxLineBytes) {
      const cut = utf8Cut(buf, this.maxLineBytes);
      this.onLine(buf.subarray(0, cut).toString('utf8'), true);
      buf = buf.subarray(cut);
    }
    // Copy so that a small remainder does not keep a large chunk alive.
    this.pending = Buffer.from(buf);
  }

  /** Emits the trailing partial line, if any. */
  end(): void {
    if (this.pending.length > 0) {
      const rest = this.pending;
      this.pending = Buffer.alloc(0);
      this.emit(rest);
    }
  }

  private emit(line: Buffer): void {
    let end = line.length;
    while (end > 0 && line[end - 1] === CR) end--;
    const lastCr = end > 0 ? line.lastIndexOf(CR, end - 1) : -1;
    let rest = line.subarray(lastCr + 1, end);
    while (rest.length > this.maxLineBytes) {
      const cut = utf8Cut(rest, this.maxLineBytes);
      this.onLine(rest.subarray(0, cut).toString('utf8'), true);
      rest = rest.subarray(cut);
    }
    this.onLine(rest.toString('utf8'), false);
  }
}

/**
 * Drops the part of an unterminated line that a later `\r` overwrote, keeping trailing `\r`s
 * (they may be the first half of a `\r\n`).
 */
function dropOverwritten(buf: Buffer): Buffer {
  let end = buf.length;
  while (end > 0 && buf[end - 1] === CR) end--;
  if (end === 0) return buf;
  const lastCr = buf.lastIndexOf(CR, end - 1);
  return lastCr === -1 ? buf : buf.subarray(lastCr + 1);
}

/** Largest cut position <= max that does not split a UTF-8 sequence. */
function utf8Cut(buf: Buffer, max: number): number {
  let cut = max;
  while (cut > 0 && ((buf[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return cut === 0 ? max : cut;
}
