import { parseArgs, ParseArgsConfig } from 'node:util';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
import { UsageError } from './errors';

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  url: { type: 'string' },
  token: { type: 'string' },
  'no-color': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionsConfig;

export const COMMON_HELP = [
  '--json           machine-readable output (JSON; NDJSON for logs)',
  '--url <url>      Kiln server (overrides KILN_URL and the saved login)',
  '--token <token>  API token (overrides KILN_TOKEN and the saved login)',
  '--no-color       no ANSI colours (also NO_COLOR=1)',
  '-h, --help       this help',
];

/**
 * Parses one command's arguments (after its name) strictly: an unknown option, a missing
 * value or a wrong number of positionals is a {@link UsageError} naming the command.
 */
export function parseCommand<const O extends OptionsConfig>(command: string, argv: string[], options: O, positionals: { min: number; max: number; names?: string[] }): Parsed<O> {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true }) as Parsed<O>;
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''), command);
  }
  if (!(parsed.values as { help?: boolean }).help) {
    const n = parsed.positionals.length;
    if (n < positionals.min) {
      const names = positionals.names?.slice(n, positionals.min).map((p) => `<${p}>`).join(' ');
      throw new UsageError(names ? `missing ${names}` : 'missing argument', command);
    }
    if (n > positionals.max) throw new UsageError(`unexpected argument "${parsed.positionals[positionals.max]}"`, command);
  }
  return parsed;
}

/** What {@link parseCommand} returns for a command's options `O`. */
export type Parsed<O extends OptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: typeof COMMON_OPTIONS & O; allowPositionals: true; strict: true }>>;

/** A whole number in `[min, max]` from an option's text, else a UsageError. */
export function intOption(name: string, raw: string | undefined, min: number, max: number, command: string): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${raw}"`, command);
  return Number(raw);
}

/** One of `allowed`, else a UsageError listing them. */
export function oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[], command: string): T | undefined {
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}; got "${raw}"`, command);
  return raw as T;
}
