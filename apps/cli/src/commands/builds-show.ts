import { parseCommand } from '../args';
import { createContext } from '../context';
import { buildDetail } from '../format/builds';
import type { Command } from './command';
import { resolveBuild } from './resolve';

const NAME = 'builds show';

export const buildsShowCommand: Command = {
  name: NAME,
  aliases: ['build show'],
  summary: 'a build\'s status and its steps with exit codes and durations',
  usage: [`kiln ${NAME} <build>`],
  notes: ['<build> is a whole id or the short id builds ls prints.'],
  async run(io, argv, options) {
    const { values, positionals } = parseCommand(NAME, argv, {}, { min: 1, max: 1, names: ['build'] });
    const ctx = createContext(io, values, options);
    const client = ctx.client();
    const build = await client.getBuild(await resolveBuild(client, positionals[0], NAME));
    if (ctx.json) {
      ctx.printJson(build);
      return 0;
    }
    const project = await client.getProject(build.projectId).catch(() => null);
    ctx.print(...buildDetail(build, ctx.out, ctx.now(), project));
    return 0;
  },
};
