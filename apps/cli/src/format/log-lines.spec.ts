import { palette } from './ansi';
import { formatLogLine, LogFormatter } from './log-lines';

describe('log line formatting', () => {
  const on = palette(true);
  const off = palette(false);

  it('stdout as written, stderr red, system dim cyan', () => {
    expect(formatLogLine({ stream: 'stdout', text: 'hello' }, on)).toBe('hello');
    expect(formatLogLine({ stream: 'stderr', text: 'bad' }, on)).toBe('\x1b[31mbad\x1b[39m');
    expect(formatLogLine({ stream: 'system', text: 'kiln: HEAD is abc' }, on)).toBe('\x1b[2m\x1b[36mkiln: HEAD is abc\x1b[39m\x1b[22m');
  });

  it('keeps the build\'s own colours when colour is on and removes them when off', () => {
    expect(formatLogLine({ stream: 'stdout', text: '\x1b[33mwarn\x1b[0m' }, on)).toBe('\x1b[33mwarn\x1b[0m\x1b[0m');
    expect(formatLogLine({ stream: 'stderr', text: '\x1b[33mwarn\x1b[0m' }, off)).toBe('warn');
  });

  it('the first system line of each step is a bold header', () => {
    const f = new LogFormatter(on);
    const out = [
      f.format({ stream: 'system', step: null, text: 'kiln: checking out main' }),
      f.format({ stream: 'system', step: 0, text: 'kiln: step 1/2 "a"' }),
      f.format({ stream: 'stdout', step: 0, text: 'x' }),
      f.format({ stream: 'system', step: 1, text: 'kiln: step 2/2 "b"' }),
      f.format({ stream: 'system', step: null, text: 'build succeeded' }),
    ];
    expect(out[0]).toContain('\x1b[2m');
    expect(out[1]).toBe('\x1b[1m\x1b[36mkiln: step 1/2 "a"\x1b[39m\x1b[22m');
    expect(out[3]).toContain('\x1b[1m');
    expect(out[4]).toContain('\x1b[2m');
  });
});
