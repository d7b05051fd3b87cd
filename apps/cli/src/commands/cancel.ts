import { parseCommand } from '../args';
import { createContext } from '../context';
import { statusStyle } from '../format/builds';
import { shortId } from '../format/text';
import type { Command } from './command';
import { resolveBuild } from './resolve';

export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'cancel a build (a queued one at once; a running one has its steps killed)',
  usage: ['kiln cancel <build> [--reason <text>]'],
  async run(io, argv, options) {
    const { values, positionals } = parseCommand('cancel', argv, { reason: { type: 'string' } }, { min: 1, max: 1, names: ['build'] });
    const ctx = createContext(io, values, options);
    const client = ctx.client();
    const build = await client.cancelBuild(await resolveBuild(client, positionals[0], 'cancel'), values.reason);
    if (ctx.json) ctx.printJson(build);
    else if (build.status === 'cancelled') ctx.print(`Build ${shortId(build.id)} ${ctx.out.style('cancelled', ...statusStyle('cancelled'))}.`);
    else ctx.print(`Cancel requested: build ${shortId(build.id)} is ${ctx.out.style(build.status, ...statusStyle(build.status))}; its worker stops it now.`);
    return 0;
  },
};
