import { LineSplitter } from './line-splitter';

function split(chunks: (string | Buffer)[], maxLineBytes?: number): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((l) => lines.push(l), { maxLineBytes });
  for (const c of chunks) splitter.push(c);
  splitter.end();
  return lines;
}

describe('LineSplitter', () => {
  it('splits on \\n and \\r\\n, including empty lines', () => {
    expect(split(['a\nb\r\n\nc\n'])).toEqual(['a', 'b', '', 'c']);
  });

  it('joins lines split across chunks, including a \\r\\n split in the middle', () => {
    expect(split(['hel', 'lo\r', '\nwor', 'ld\n'])).toEqual(['hello', 'world']);
  });

  it('flushes a trailing partial line at the end, and nothing when the output ended with \\n', () => {
    expect(split(['a\nlast'])).toEqual(['a', 'last']);
    expect(split(['a\n'])).toEqual(['a']);
    expect(split([])).toEqual([]);
  });

  it('keeps only the text after the last lone \\r (progress updates)', () => {
    expect(split(['10%\r50%\r100%\n'])).toEqual(['100%']);
    expect(split(['10%\r', '50%\r', '100%\r\n', 'next\n'])).toEqual(['100%', 'next']);
    expect(split(['done\r'])).toEqual(['done']);
  });

  it('does not accumulate unbounded progress output without newlines', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((l) => lines.push(l), { maxLineBytes: 100 });
    for (let i = 0; i < 1000; i++) splitter.push(`progress ${i}\r`);
    splitter.push('finished\n');
    expect(lines).toEqual(['finished']);
  });

  it('splits very long lines without losing bytes', () => {
    const long = 'x'.repeat(250);
    expect(split([long + '\n'], 100)).toEqual(['x'.repeat(100), 'x'.repeat(100), 'x'.repeat(50)]);
    const chunks = Array.from({ length: 25 }, () => 'x'.repeat(10));
    const lines = split([...chunks, '\nend\n'], 100);
    expect(lines.slice(0, -1).join('')).toBe(long);
    expect(lines.every((l) => Buffer.byteLength(l) <= 100)).toBe(true);
    expect(lines.at(-1)).toBe('end');
  });

  it('splits at the default 64 KiB', () => {
    const lines = split(['y'.repeat(64 * 1024 * 2 + 5) + '\n']);
    expect(lines.map((l) => l.length)).toEqual([65536, 65536, 5]);
  });

  it('never splits multi-byte characters, across chunks or at the length limit', () => {
    const bytes = Buffer.from('héllo wörld €\n', 'utf8');
    const chunks = Array.from(bytes, (b) => Buffer.from([b]));
    expect(split(chunks)).toEqual(['héllo wörld €']);
    const euros = '€'.repeat(10); // 3 bytes each
    const lines = split([euros + '\n'], 10);
    expect(lines.join('')).toBe(euros);
    expect(lines.every((l) => !l.includes('\uFFFD') && Buffer.byteLength(l) <= 10)).toBe(true);
  });
});
