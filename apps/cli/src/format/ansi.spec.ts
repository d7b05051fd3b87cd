import { colorEnabled, palette, sanitizeLogText, stripAnsi } from './ansi';

describe('palette', () => {
  it('wraps text in SGR codes when enabled, closing in reverse order', () => {
    expect(palette(true).style('x', 'bold', 'red')).toBe('\x1b[1m\x1b[31mx\x1b[39m\x1b[22m');
    expect(palette(false).style('x', 'bold', 'red')).toBe('x');
    expect(palette(true).style('', 'red')).toBe('');
  });
});

describe('colorEnabled', () => {
  const on = (isTTY: boolean, env: Record<string, string>, noColorFlag = false) => colorEnabled({ isTTY, env, noColorFlag });
  it('follows the terminal, NO_COLOR, FORCE_COLOR, TERM=dumb and --no-color', () => {
    expect(on(true, {})).toBe(true);
    expect(on(false, {})).toBe(false);
    expect(on(true, { NO_COLOR: '1' })).toBe(false);
    expect(on(true, { NO_COLOR: '' })).toBe(true);
    expect(on(false, { FORCE_COLOR: '1' })).toBe(true);
    expect(on(false, { FORCE_COLOR: '0' })).toBe(false);
    expect(on(true, { TERM: 'dumb' })).toBe(false);
    expect(on(true, { FORCE_COLOR: '1' }, true)).toBe(false);
    expect(on(false, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false);
  });
});

describe('sanitizeLogText', () => {
  const text = 'a\x1b[1;32mb\x1b[0m c\x1b[2K\x1b[1A\x1b]0;title\x07\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\x1bcd\x07\r\x00\x9b\tend';

  it('keeps colour (SGR) sequences, removes cursor moves, clears, titles, links and controls, and resets at the end', () => {
    expect(sanitizeLogText(text, true)).toBe('a\x1b[1;32mb\x1b[0m clinkd\tend\x1b[0m');
  });

  it('removes every escape with colour off', () => {
    expect(sanitizeLogText(text, false)).toBe('ab clinkd\tend');
  });

  it('adds no reset to plain text', () => {
    expect(sanitizeLogText('plain', true)).toBe('plain');
  });

  it('stripAnsi measures plain text', () => {
    expect(stripAnsi('\x1b[31mred\x1b[39m')).toBe('red');
  });
});
