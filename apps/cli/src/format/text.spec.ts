import { elapsedMs, firstLine, formatDuration, shortId, shortRef, shortSha, truncate } from './text';

describe('text formatting', () => {
  it('formatDuration', () => {
    expect(formatDuration(0)).toBe('0ms');
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(1000)).toBe('1.0s');
    expect(formatDuration(12_345)).toBe('12.3s');
    expect(formatDuration(59_999)).toBe('59.9s');
    expect(formatDuration(60_000)).toBe('1m 00s');
    expect(formatDuration(245_000)).toBe('4m 05s');
    expect(formatDuration(7_380_000)).toBe('2h 03m');
    expect(formatDuration(-1)).toBe('-');
    expect(formatDuration(NaN)).toBe('-');
  });

  it('elapsedMs: start to end, start to now while running, null before the start', () => {
    expect(elapsedMs('2025-01-01T00:00:00Z', '2025-01-01T00:00:02.5Z', 0)).toBe(2500);
    expect(elapsedMs('2025-01-01T00:00:00Z', null, Date.parse('2025-01-01T00:01:00Z'))).toBe(60_000);
    expect(elapsedMs(null, null, 0)).toBeNull();
  });

  it('ids, shas, refs and messages', () => {
    expect(shortId('1234abcd-5678-4000-8000-000000000000')).toBe('1234abcd');
    expect(shortSha('abcdef1234')).toBe('abcdef1');
    expect(shortSha(null)).toBe('-');
    expect(shortRef('refs/heads/release/1.x')).toBe('release/1.x');
    expect(shortRef('refs/tags/v1')).toBe('v1');
    expect(shortRef('refs/pull/1/head')).toBe('refs/pull/1/head');
    expect(firstLine('subject\n\nbody', 50)).toBe('subject');
    expect(firstLine(null, 50)).toBe('');
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abc', 4)).toBe('abc');
  });
});
