import { MAX_DURATION_MS, parseDuration } from './duration';

describe('parseDuration', () => {
  it.each([
    [90, 90_000],
    [1.5, 1_500],
    ['90', 90_000],
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1h30m15s', 5_415_000],
    ['1h 30m', 5_400_000],
    ['2M', 120_000],
  ])('parses %p as %p ms', (input, ms) => {
    expect(parseDuration(input)).toEqual({ ok: true, ms });
  });

  it.each(['', 'abc', '5 minutes', '30m1h', '500ms', '1d', '-5', 'm'])('rejects %p', (input) => {
    const r = parseDuration(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain('invalid duration');
  });

  it('rejects zero, negative, non-finite, too long and non-scalar values', () => {
    expect(parseDuration(0)).toEqual({ ok: false, message: 'duration must be greater than zero' });
    expect(parseDuration('0s')).toEqual({ ok: false, message: 'duration must be greater than zero' });
    expect(parseDuration(-3)).toEqual({ ok: false, message: 'duration must be greater than zero' });
    expect(parseDuration(Infinity).ok).toBe(false);
    expect(parseDuration(MAX_DURATION_MS / 1000)).toEqual({ ok: true, ms: MAX_DURATION_MS });
    expect(parseDuration(MAX_DURATION_MS / 1000 + 1).ok).toBe(false);
    const r = parseDuration(null);
    expect(r).toEqual({ ok: false, message: expect.stringContaining('got null') });
    expect(parseDuration([1])).toEqual({ ok: false, message: expect.stringContaining('got a list') });
  });
});
