/** Where a log line came from: the step's stdout/stderr, or the runner itself. */
export type LogStream = 'stdout' | 'stderr' | 'system';

/** One line of a build log, as shipped by the runner. */
export interface LogLine {
  /** Sequence number within the build, consecutive, starting at 1. */
  n: number;
  /** When the line was produced (epoch milliseconds). */
  t: number;
  /** Origin of the line. */
  stream: LogStream;
  /** Index of the step that produced the line, or null for build-level lines. */
  step: number | null;
  /** Line text without terminator (already masked). */
  text: string;
}
