import { COMMON_HELP, COMMON_OPTIONS } from './args';
import { buildTriggerCommand } from './commands/build-trigger';
import { buildsLsCommand } from './commands/builds-ls';
import { buildsShowCommand } from './commands/builds-show';
import { cancelCommand } from './commands/cancel';
import type { Command } from './commands/command';
import { loginCommand } from './commands/login';
import { logsCommand } from './commands/logs';
import { projectsCreateCommand } from './commands/projects-create';
import { projectsDeleteCommand } from './commands/projects-delete';
import { projectsRotateSecretCommand } from './commands/projects-rotate-secret';
import { projectsLsCommand } from './commands/projects-ls';
import type { RunOptions } from './context';
import { ApiError, CliError, ExitCode, UsageError } from './errors';
import { colorEnabled, palette } from './format/ansi';
import type { Io } from './io';

export const COMMANDS: Command[] = [
  loginCommand,
  projectsCreateCommand,
  projectsLsCommand,
  projectsRotateSecretCommand,
  projectsDeleteCommand,
  buildTriggerCommand,
  buildsLsCommand,
  buildsShowCommand,
  logsCommand,
  cancelCommand,
];

/** `build` and `builds` name the same group; so do `ls` and `list`. */
const GROUP_ALIASES: Record<string, string> = { build: 'builds', project: 'projects' };

/**
 * Runs `kiln <argv>` and resolves to its exit code: 0 ok, 1 failure (API error,
 * unreachable server, a build that did not succeed), 2 usage error. Never throws.
 */
export async function runCli(argv: string[], io: Io, options: RunOptions = {}): Promise<number> {
  const wantsJson = argv.includes('--json');
  try {
    const found = findCommand(argv);
    if (!found) {
      if (argv.length === 0) {
        io.stderr(mainHelp());
        return ExitCode.usage;
      }
      if (wantsHelp(argv) || argv[0] === 'help') {
        const topic = argv[0] === 'help' ? findCommand(argv.slice(1)) : null;
        io.stdout(topic ? commandHelp(topic.command) : mainHelp());
        return ExitCode.ok;
      }
      const word = argv.find((a) => !a.startsWith('-')) ?? argv[0];
      const group = GROUP_ALIASES[word] ?? word;
      const subs = COMMANDS.map((c) => normalizeName(c.name)).filter((n) => n.startsWith(`${group} `)).map((n) => n.slice(group.length + 1));
      throw new UsageError(subs.length ? `kiln ${group} needs a subcommand: ${subs.join(', ')}` : `unknown command "${word}"`);
    }
    if (wantsHelp(found.rest)) {
      io.stdout(commandHelp(found.command));
      return ExitCode.ok;
    }
    return await found.command.run(io, found.rest, options);
  } catch (e) {
    return report(e, io, wantsJson);
  }
}

/** Prints an error the way a person (or with `--json`, a program) reads it; its exit code. */
function report(e: unknown, io: Io, json: boolean): number {
  const p = palette(colorEnabled({ noColorFlag: false, isTTY: io.stderrIsTTY, env: io.env }));
  const err = (line: string) => io.stderr(`${line}\n`);
  if (e instanceof ApiError) {
    if (json) err(JSON.stringify(e.toJSON()));
    else {
      err(`${p.style('kiln:', 'red', 'bold')} ${e.message} ${p.style(`(${e.error}, HTTP ${e.status})`, 'dim')}`);
      for (const d of detailLines(e.details)) err(`  - ${d}`);
      if (e.status === 401) err(p.style('  check the token: kiln login --url <url> --token <token>', 'dim'));
    }
    return e.exitCode;
  }
  if (e instanceof CliError) {
    if (json) err(JSON.stringify({ error: e instanceof UsageError ? 'usage' : 'error', message: e.message }));
    else {
      err(`${p.style('kiln:', 'red', 'bold')} ${e.message}`);
      if (e instanceof UsageError) err(p.style(`  see: kiln ${e.command ? `${e.command} ` : ''}--help`, 'dim'));
    }
    return e.exitCode;
  }
  const message = e instanceof Error ? (io.env.KILN_DEBUG ? (e.stack ?? e.message) : e.message) : String(e);
  err(json ? JSON.stringify({ error: 'internal', message }) : `${p.style('kiln: unexpected error:', 'red', 'bold')} ${message}`);
  return ExitCode.failure;
}

/** `details` of a 400: `[{ path, message }]` → `path: message`. */
function detailLines(details: unknown): string[] {
  if (!Array.isArray(details)) return details === undefined || details === null ? [] : [JSON.stringify(details)];
  return details.map((d: unknown) => {
    const o = d as { path?: unknown; message?: unknown };
    return o && typeof o.message === 'string' ? (o.path ? `${String(o.path)}: ${o.message}` : o.message) : JSON.stringify(d);
  });
}

/**
 * The command named by the first one or two words of `argv` (global options may come
 * before them) and the arguments left for it.
 */
export function findCommand(argv: string[]): { command: Command; rest: string[] } | null {
  const words: { word: string; at: number }[] = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (a.startsWith('-')) {
      // skip a global option (and its value) that precedes the command words
      const name = a.replace(/^--?/, '').split('=')[0];
      const spec = (COMMON_OPTIONS as Record<string, { type: string }>)[name];
      if (words.length && !spec) break; // the command's own options follow its name
      if (spec?.type === 'string' && !a.includes('=')) i++;
      continue;
    }
    words.push({ word: a, at: i });
  }
  if (!words.length) return null;
  const norm = (w: string) => GROUP_ALIASES[w] ?? w;
  const byName = (name: string) => COMMANDS.find((c) => [c.name, ...(c.aliases ?? [])].some((n) => normalizeName(n) === name));
  const without = (...at: number[]) => argv.filter((_, i) => !at.includes(i));
  if (words.length === 2) {
    const two = byName(`${norm(words[0].word)} ${words[1].word}`);
    if (two) return { command: two, rest: without(words[0].at, words[1].at) };
  }
  const one = byName(norm(words[0].word));
  return one ? { command: one, rest: without(words[0].at) } : null;
}

function normalizeName(name: string): string {
  const [group, ...rest] = name.split(' ');
  return [GROUP_ALIASES[group] ?? group, ...rest].join(' ');
}

function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'kiln — the command line of the Kiln CI/CD platform',
    '',
    'Usage: kiln <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options (every command):',
    ...COMMON_HELP.map((l) => `  ${l}`),
    '',
    'Exit codes: 0 ok, 1 failure (or the build did not succeed), 2 usage error.',
    'Run kiln <command> --help for a command\'s options.',
    '',
  ].join('\n');
}

export function commandHelp(c: Command): string {
  return [
    `kiln ${c.name} — ${c.summary}`,
    '',
    'Usage:',
    ...c.usage.map((u) => `  ${u}`),
    '',
    'Options:',
    ...(c.options ?? []).map((o) => `  ${o}`),
    ...COMMON_HELP.map((l) => `  ${l}`),
    ...(c.notes?.length ? ['', ...c.notes] : []),
    '',
  ].join('\n');
}
