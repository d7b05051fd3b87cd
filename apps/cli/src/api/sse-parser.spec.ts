import { SseParser } from './sse-parser';

describe('SseParser', () => {
  it('parses events with id, event and data; ignores comments (heartbeats)', () => {
    const p = new SseParser();
    expect(p.push(': ping\n\nid: 3-0\nevent: line\ndata: {"a":1}\n\nevent: end\ndata: {"status":"succeeded"}\n\n')).toEqual([
      { id: '3-0', event: 'line', data: '{"a":1}' },
      { event: 'end', data: '{"status":"succeeded"}' },
    ]);
  });

  it('returns an event only once its blank line arrived, however the text is split', () => {
    const text = 'id: 1-0\nevent: line\ndata: one\n\nid: 1-1\nevent: line\ndata: two\n\n';
    for (let size = 1; size <= text.length; size++) {
      const p = new SseParser();
      const got = [];
      for (let i = 0; i < text.length; i += size) got.push(...p.push(text.slice(i, i + size)));
      expect(got.map((e) => e.data)).toEqual(['one', 'two']);
    }
  });

  it('never returns a frame cut off mid-way', () => {
    const p = new SseParser();
    expect(p.push('id: 1-0\nevent: line\ndata: {"text":"hal')).toEqual([]);
  });

  it('accepts CRLF and CR line ends, a CRLF split across chunks, and a leading BOM', () => {
    const p = new SseParser();
    expect(p.push('\ufeffdata: a\r')).toEqual([]);
    expect(p.push('\n\r\ndata: b\r\rdata: c\n\n')).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
      { event: 'message', data: 'c' },
    ]);
  });

  it('joins multi-line data with newlines and strips one leading space only', () => {
    const p = new SseParser();
    expect(p.push('data:  x\ndata:y\ndata\n\n')).toEqual([{ event: 'message', data: ' x\ny\n' }]);
  });

  it('an event field does not leak into the next event', () => {
    const p = new SseParser();
    expect(p.push('event: end\n\ndata: z\n\n')).toEqual([{ event: 'message', data: 'z' }]);
  });
});
