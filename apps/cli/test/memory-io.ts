import type { Io } from '../src/io';

/** An Io that records output, for running the CLI in-process. */
export class MemoryIo implements Io {
  out = '';
  err = '';
  stdoutIsTTY = false;
  stderrIsTTY = false;
  stdin = '';

  constructor(
    public env: Record<string, string | undefined>,
    public homeDir: string,
  ) {}

  stdout = (t: string): void => {
    this.out += t;
  };

  stderr = (t: string): void => {
    this.err += t;
  };

  readStdin = async (): Promise<string> => this.stdin;

  /** stdout lines without the trailing empty one. */
  get lines(): string[] {
    return this.out.split('\n').slice(0, -1);
  }
}
