import { parseCommand } from '../args';
import { createContext } from '../context';
import { UsageError } from '../errors';
import type { Command } from './command';
import { resolveProject } from './resolve';

const NAME = 'projects delete';

export const projectsDeleteCommand: Command = {
  name: NAME,
  aliases: ['projects rm'],
  summary: 'delete a project (its queued and running builds are cancelled; history stays)',
  usage: [`kiln ${NAME} <project> --yes`],
  options: ['--yes                  confirm: the deletion cannot be undone'],
  notes: ['The project is named by id, name or id prefix. Its webhooks are refused from then on;', 'remove the webhook from GitHub/GitLab too.'],
  async run(io, argv, options) {
    const { values, positionals } = parseCommand(NAME, argv, { yes: { type: 'boolean' } }, { min: 1, max: 1, names: ['project'] });
    const ctx = createContext(io, values, options);
    const client = ctx.client();
    const { id, project } = await resolveProject(client, positionals[0], NAME);
    const label = project ? `${project.name} (${id})` : id;
    if (!values.yes) throw new UsageError(`deleting project ${label} cannot be undone and cancels its queued and running builds; add --yes to confirm`, NAME);
    await client.deleteProject(id);
    if (ctx.json) ctx.printJson({ id, deleted: true });
    else ctx.print(`${ctx.out.style('✓', 'green')} Deleted project ${ctx.out.style(label, 'bold')}. Remove its webhook from the git host too.`);
    return 0;
  },
};
