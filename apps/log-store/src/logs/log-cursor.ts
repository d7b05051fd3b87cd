import { formatLogCursor, LogChunk, LogCursor, LogLine } from '@kiln/contracts';

/** A line as the log-store serves it: the stored line plus where it is and which attempt wrote it. */
export type CursorLine = LogLine & { cursor: string; attempt: number };

/** A line together with its parsed position, for ordering and de-duplication. */
export interface PositionedLine {
  pos: LogCursor;
  line: CursorLine;
}

/** Orders two positions: negative when `a` comes first. `null` is before every line. */
export function compareCursor(a: LogCursor | null, b: LogCursor | null): number {
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  return a.seq !== b.seq ? a.seq - b.seq : a.index - b.index;
}

/** The lines of a `lines` chunk stored at stream sequence `seq`, each with its cursor. */
export function linesOf(seq: number, chunk: Extract<LogChunk, { kind: 'lines' }>): PositionedLine[] {
  return chunk.lines.map((l, index) => {
    const pos = { seq, index };
    return { pos, line: { cursor: formatLogCursor(pos), n: l.n, t: l.t, stream: l.stream, step: l.step, text: l.text, attempt: chunk.attempt } };
  });
}
