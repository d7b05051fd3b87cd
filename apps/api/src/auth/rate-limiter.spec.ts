import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('allows a burst, then limits to the rate, per key', () => {
    let now = 0;
    const rl = new RateLimiter(2, 4, () => now);
    expect([1, 2, 3, 4].map(() => rl.take('a'))).toEqual([0, 0, 0, 0]);
    expect(rl.take('a')).toBeGreaterThan(0);
    expect(rl.take('b')).toBe(0); // another token has its own bucket
    now += 500; // half a second: one more request at 2/s
    expect(rl.take('a')).toBe(0);
    expect(rl.take('a')).toBeGreaterThan(0);
  });
});
