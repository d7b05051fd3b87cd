import { BuildStatuses } from '@kiln/contracts';
import { intOption, oneOf, parseCommand } from '../args';
import { createContext } from '../context';
import { buildsTable } from '../format/builds';
import type { Command } from './command';
import { resolveProject } from './resolve';

const NAME = 'builds ls';

export const buildsLsCommand: Command = {
  name: NAME,
  aliases: ['builds list'],
  summary: 'list a project\'s builds, newest first',
  usage: [`kiln ${NAME} <project> [--status failed] [--branch main] [--limit 20]`],
  options: [
    `--status <s>       only builds with this status (${BuildStatuses.join(', ')})`,
    '--branch <b>       only builds of this branch',
    '--limit <n>        at most n builds (1-200, default 20)',
    '--cursor <c>       the page after this cursor (printed when there are more)',
  ],
  async run(io, argv, options) {
    const { values, positionals } = parseCommand(NAME, argv, {
      status: { type: 'string' },
      branch: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
    }, { min: 1, max: 1, names: ['project'] });
    const status = oneOf('status', values.status, BuildStatuses, NAME);
    const limit = intOption('limit', values.limit, 1, 200, NAME) ?? 20;
    const ctx = createContext(io, values, options);
    const client = ctx.client();
    const project = await resolveProject(client, positionals[0], NAME);
    const page = await client.listBuilds(project.id, { status, branch: values.branch, limit, cursor: values.cursor });
    if (ctx.json) {
      ctx.printJson(page);
      return 0;
    }
    if (!page.items.length) ctx.note(`No builds${status || values.branch ? ' match' : ' yet'}.`);
    else ctx.print(...buildsTable(page.items, ctx.out, ctx.now()));
    if (page.nextCursor) ctx.note(ctx.err.style(`more: kiln builds ls ${positionals[0]} --cursor ${page.nextCursor}${status ? ` --status ${status}` : ''}${values.branch ? ` --branch ${values.branch}` : ''} --limit ${limit}`, 'dim'));
    return 0;
  },
};
