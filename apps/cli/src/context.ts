import { ApiClient } from './api/api-client';
import { configPath, readConfig, resolveSettings, Settings } from './config/config-store';
import { colorEnabled, palette, Palette } from './format/ansi';
import type { FollowTimings } from './commands/follow-build';
import { Io } from './io';
import { Spinner } from './progress/spinner';

/** What every command runs with: output, colours, settings and the API client. */
export interface Context {
  io: Io;
  /** `--json`: machine output on stdout. */
  json: boolean;
  /** Colours for stdout. */
  out: Palette;
  /** Colours for stderr. */
  err: Palette;
  /** Prints lines on stdout. */
  print(...lines: string[]): void;
  /** Prints a line on stderr (hints, progress). */
  note(line: string): void;
  /** Prints a value as JSON on stdout (`pretty`: indented, else one line). */
  printJson(value: unknown, pretty?: boolean): void;
  /** The resolved server and token (flags > env > saved login); throws UsageError without a token. */
  settings(): Settings;
  client(): ApiClient;
  /** A spinner on stderr, inert unless stderr is a terminal. */
  spinner(): Spinner;
  configPath: string;
  now(): number;
  /** Overrides of how a followed build is watched (tests). */
  timings: Partial<FollowTimings>;
}

/** Knobs of a run that are not command-line flags (tests set them). */
export interface RunOptions {
  timings?: Partial<FollowTimings>;
}

export interface GlobalFlags {
  json?: boolean;
  url?: string;
  token?: string;
  'no-color'?: boolean;
}

export function createContext(io: Io, flags: GlobalFlags, options: RunOptions = {}): Context {
  const json = Boolean(flags.json);
  const noColorFlag = Boolean(flags['no-color']);
  const out = palette(colorEnabled({ noColorFlag, isTTY: io.stdoutIsTTY, env: io.env }));
  const err = palette(colorEnabled({ noColorFlag, isTTY: io.stderrIsTTY, env: io.env }));
  const path = configPath(io.env, io.homeDir);
  let settings: Settings | undefined;
  let client: ApiClient | undefined;
  const ctx: Context = {
    io,
    json,
    out,
    err,
    configPath: path,
    print: (...lines) => io.stdout(lines.map((l) => `${l}\n`).join('')),
    note: (line) => io.stderr(`${line}\n`),
    printJson: (value, pretty = true) => io.stdout(`${JSON.stringify(value, null, pretty ? 2 : undefined)}\n`),
    settings: () => (settings ??= resolveSettings({ url: flags.url, token: flags.token }, io.env, readConfig(path))),
    client: () => (client ??= new ApiClient({ baseUrl: ctx.settings().url, token: ctx.settings().token })),
    spinner: () => new Spinner(io.stderr, io.stderrIsTTY && !io.env.CI),
    now: () => Date.now(),
    timings: options.timings ?? {},
  };
  return ctx;
}
