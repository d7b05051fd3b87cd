const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** The frame shown at tick `i`. */
export function spinnerFrame(i: number): string {
  return FRAMES[((i % FRAMES.length) + FRAMES.length) % FRAMES.length];
}

/** `⠋ waiting for a worker (queued, 3s)` — the line a spinner redraws. */
export function spinnerLine(frame: string, text: string, elapsedMs: number): string {
  return `${frame} ${text} ${Math.floor(elapsedMs / 1000)}s`;
}

/**
 * A one-line spinner on a terminal stream (stderr), redrawn in place with `\r` and
 * erase-line. Inert when `enabled` is false (not a terminal), so callers need no checks.
 */
export class Spinner {
  private timer: NodeJS.Timeout | undefined;
  private tick = 0;
  private text = '';
  private startedAt = 0;

  constructor(
    private readonly write: (s: string) => void,
    private readonly enabled: boolean,
    private readonly intervalMs = 80,
  ) {}

  get active(): boolean {
    return this.timer !== undefined;
  }

  start(text: string): void {
    if (!this.enabled) return;
    this.text = text;
    if (this.timer) return;
    this.startedAt = Date.now();
    this.draw();
    this.timer = setInterval(() => this.draw(), this.intervalMs);
  }

  update(text: string): void {
    this.text = text;
  }

  /** Erases the spinner's line; the cursor is back at its start. */
  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.write('\r\x1b[K');
  }

  private draw(): void {
    this.write(`\r${spinnerLine(spinnerFrame(this.tick++), this.text, Date.now() - this.startedAt)}\x1b[K`);
  }
}
