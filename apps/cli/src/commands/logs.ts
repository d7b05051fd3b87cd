import { FinalBuildStatuses } from '@kiln/contracts';
import { readLogHistory } from '../api/log-follower';
import { parseCommand } from '../args';
import { createContext } from '../context';
import { LogFormatter } from '../format/log-lines';
import type { Command } from './command';
import { exitCodeFor, followBuild, printSummary } from './follow-build';
import { resolveBuild } from './resolve';

/** Lines per history request. */
export const HISTORY_PAGE = 1000;

export const logsCommand: Command = {
  name: 'logs',
  summary: 'print a build\'s log, or follow it live with -f',
  usage: ['kiln logs <build>', 'kiln logs -f <build>'],
  options: ['-f, --follow       stream new lines until the build ends (resumes by itself after a dropped connection)'],
  notes: [
    'stderr lines are red and Kiln\'s own lines cyan; the build\'s own ANSI colours are kept.',
    'With --json: one JSON object per line (NDJSON), the last one {"end":{"buildId","status","complete"}}.',
    'Exit code: 0 if the build succeeded, 1 otherwise (failed, cancelled, timed out, or not finished yet).',
  ],
  async run(io, argv, options) {
    const { values, positionals } = parseCommand('logs', argv, { follow: { type: 'boolean', short: 'f' } }, { min: 1, max: 1, names: ['build'] });
    const ctx = createContext(io, values, options);
    const client = ctx.client();
    const buildId = await resolveBuild(client, positionals[0], 'logs');
    const build = await client.getBuild(buildId);
    if (values.follow) return followBuild(ctx, buildId, build);

    const fmt = new LogFormatter(ctx.out);
    const history = await readLogHistory(client, buildId, {
      pageSize: HISTORY_PAGE,
      onLine: (line) => (ctx.json ? ctx.printJson(line, false) : ctx.print(fmt.format(line))),
    });
    const end = history.complete ? (history.status ?? build.status) : undefined;
    const isFinal = (st: string) => (FinalBuildStatuses as readonly string[]).includes(st);
    const now = isFinal(build.status) ? build : await client.getBuild(buildId).catch(() => build);
    const status = end ?? now.status;
    const complete = end !== undefined || isFinal(status);
    if (ctx.json) ctx.printJson({ end: { buildId, status, complete } }, false);
    else if (complete) printSummary(ctx, now, status);
    else ctx.note(ctx.err.style(`build is ${status}: this is the log so far (follow it with kiln logs -f ${buildId})`, 'dim'));
    return exitCodeFor(status);
  },
};
