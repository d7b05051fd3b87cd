import type { LogLineView } from '../api/wire';
import { Palette, sanitizeLogText } from './ansi';

/**
 * Formats a build's log lines for the terminal, one call per line in log order: stdout as
 * the build wrote it (its own ANSI colours kept when colour is on, every other escape
 * removed), stderr red, Kiln's system lines cyan — the first system line of each step (the
 * runner's `kiln: step 1/3 "build"`) bold as a header, the rest dim.
 */
export class LogFormatter {
  private step: number | null | undefined = undefined;

  constructor(private readonly p: Palette) {}

  format(line: Pick<LogLineView, 'stream' | 'step' | 'text'>): string {
    const stepStart = line.step !== null && line.step !== this.step;
    this.step = line.step;
    return formatLogLine(line, this.p, stepStart);
  }
}

/** One line; `stepStart` marks the first line of a step. */
export function formatLogLine(line: Pick<LogLineView, 'stream' | 'text'>, p: Palette, stepStart = false): string {
  const text = sanitizeLogText(line.text, p.enabled);
  switch (line.stream) {
    case 'stderr':
      return p.style(text, 'red');
    case 'system':
      return stepStart ? p.style(text, 'bold', 'cyan') : p.style(text, 'dim', 'cyan');
    default:
      return text;
  }
}
