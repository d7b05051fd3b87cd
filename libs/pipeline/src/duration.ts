import { describeValue } from './describe-value';

/** Longest accepted duration: 7 days (also keeps every value far below the setTimeout limit). */
export const MAX_DURATION_MS = 7 * 24 * 60 * 60 * 1000;

/** Result of {@link parseDuration}: milliseconds, or a human-readable reason the value is invalid. */
export type DurationResult = { ok: true; ms: number } | { ok: false; message: string };

const HINT = 'expected a number of seconds or a duration like "90s", "5m", "1h" or "1h30m"';
const UNITS_RE = /^(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?$/i;
const SECONDS_RE = /^\d+(?:\.\d+)?$/;

/**
 * Parses a pipeline duration: a number of seconds (`90`, `1.5`, `"90"`) or a string made of
 * hour/minute/second parts in that order (`"90s"`, `"5m"`, `"1h"`, `"1h30m"`, `"1h 30m 15s"`).
 * The duration must be greater than zero and at most {@link MAX_DURATION_MS}.
 */
export function parseDuration(value: unknown): DurationResult {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { ok: false, message: `${HINT}, got ${value}` };
    ms = Math.round(value * 1000);
  } else if (typeof value === 'string') {
    const text = value.trim();
    if (SECONDS_RE.test(text)) {
      ms = Math.round(Number(text) * 1000);
    } else {
      const m = UNITS_RE.exec(text);
      if (!m || text === '' || (m[1] === undefined && m[2] === undefined && m[3] === undefined)) {
        return { ok: false, message: `invalid duration ${JSON.stringify(value)}: ${HINT}` };
      }
      ms = (Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 1000;
    }
  } else {
    return { ok: false, message: `${HINT}, got ${describeValue(value)}` };
  }
  if (ms <= 0) return { ok: false, message: 'duration must be greater than zero' };
  if (ms > MAX_DURATION_MS) return { ok: false, message: 'duration must be at most 168h (7 days)' };
  return { ok: true, ms };
}
