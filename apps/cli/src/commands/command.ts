import type { RunOptions } from '../context';
import type { Io } from '../io';

/** One `kiln` command: its help and how it runs. */
export interface Command {
  /** The words that name it, e.g. `builds ls`. */
  name: string;
  /** Other names, e.g. `builds list`. */
  aliases?: string[];
  /** One line for `kiln --help`. */
  summary: string;
  /** Usage lines for `kiln <command> --help`. */
  usage: string[];
  /** Option lines (the common options are added). */
  options?: string[];
  /** Extra lines (examples, exit codes). */
  notes?: string[];
  /** Runs with the arguments after the command's name; resolves to the exit code. */
  run(io: Io, argv: string[], options: RunOptions): Promise<number>;
}
