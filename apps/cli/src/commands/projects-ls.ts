import { parseCommand } from '../args';
import { createContext } from '../context';
import { projectsTable } from '../format/projects';
import type { Command } from './command';

export const projectsLsCommand: Command = {
  name: 'projects ls',
  aliases: ['projects list'],
  summary: 'list projects',
  usage: ['kiln projects ls'],
  async run(io, argv, options) {
    const { values } = parseCommand('projects ls', argv, {}, { min: 0, max: 0 });
    const ctx = createContext(io, values, options);
    const page = await ctx.client().listProjects();
    if (ctx.json) ctx.printJson(page);
    else if (!page.items.length) ctx.note('No projects yet. Create one: kiln projects create --name <name> --repo <url> --provider github');
    else ctx.print(...projectsTable(page.items, ctx.out));
    return 0;
  },
};
