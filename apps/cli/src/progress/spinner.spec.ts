import { Spinner, spinnerFrame, spinnerLine } from './spinner';

describe('spinner', () => {
  it('cycles through its frames', () => {
    expect(spinnerFrame(0)).toBe('⠋');
    expect(spinnerFrame(10)).toBe('⠋');
    expect(spinnerFrame(1)).toBe('⠙');
    expect(spinnerFrame(-1)).toBe('⠏');
  });

  it('shows the text and whole seconds waited', () => {
    expect(spinnerLine('⠋', 'waiting for a worker', 3_900)).toBe('⠋ waiting for a worker 3s');
  });

  it('draws in place and erases its line on stop; writes nothing when disabled', () => {
    const out: string[] = [];
    const s = new Spinner((t) => out.push(t), true, 1_000);
    s.start('queued');
    s.stop();
    expect(out).toEqual(['\r⠋ queued 0s\x1b[K', '\r\x1b[K']);
    const none: string[] = [];
    const d = new Spinner((t) => none.push(t), false);
    d.start('x');
    d.stop();
    expect(none).toEqual([]);
    expect(d.active).toBe(false);
  });
});
