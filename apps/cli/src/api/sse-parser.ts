/** One dispatched Server-Sent Event. */
export interface SseEvent {
  /** The `id:` of this event, if it had one. */
  id?: string;
  /** `event:` name; `message` when absent. */
  event: string;
  /** `data:` lines joined with `\n`. */
  data: string;
}

/**
 * An incremental `text/event-stream` parser (the WHATWG rules the CLI needs): feed it text
 * as it arrives, in chunks split anywhere, and it returns the events completed so far.
 * Lines end in `\n`, `\r\n` or `\r`; `:` lines are comments (heartbeats); an event is
 * dispatched at a blank line, so a frame cut off by a dropped connection is never returned.
 */
export class SseParser {
  private buf = '';
  private started = false;
  private id: string | undefined;
  private event = '';
  private data: string[] = [];

  push(chunk: string): SseEvent[] {
    this.buf += chunk;
    if (!this.started && this.buf.length) {
      if (this.buf.charCodeAt(0) === 0xfeff) this.buf = this.buf.slice(1);
      this.started = true;
    }
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (c !== '\n' && c !== '\r') continue;
      // a lone trailing \r may be the first half of \r\n: wait for the next chunk
      if (c === '\r' && i === this.buf.length - 1) break;
      const line = this.buf.slice(start, i);
      if (c === '\r' && this.buf[i + 1] === '\n') i++;
      start = i + 1;
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    this.buf = this.buf.slice(start);
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    return null;
  }

  private dispatch(): SseEvent | null {
    const ev: SseEvent | null = this.data.length || this.id !== undefined ? { event: this.event || 'message', data: this.data.join('\n') } : null;
    if (ev && this.id !== undefined) ev.id = this.id;
    this.id = undefined;
    this.event = '';
    this.data = [];
    return ev;
  }
}
