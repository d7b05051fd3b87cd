import { isAfter } from './log-follower';

describe('isAfter (log cursor order)', () => {
  it('orders by stream sequence, then line index', () => {
    expect(isAfter('5-0', null)).toBe(true);
    expect(isAfter('5-1', '5-0')).toBe(true);
    expect(isAfter('6-0', '5-9')).toBe(true);
    expect(isAfter('5-0', '5-0')).toBe(false);
    expect(isAfter('4-9', '5-0')).toBe(false);
    expect(isAfter('10-0', '9-0')).toBe(true); // numeric, not text, order
  });

  it('keeps lines whose cursor it cannot parse unless it is the same text', () => {
    expect(isAfter('x', '5-0')).toBe(true);
    expect(isAfter('x', 'x')).toBe(false);
  });
});
