import { intOption, parseCommand } from '../args';
import { createContext } from '../context';
import { rotatedSecretText } from '../format/projects';
import type { Command } from './command';
import { resolveProject } from './resolve';

const NAME = 'projects rotate-secret';

export const projectsRotateSecretCommand: Command = {
  name: NAME,
  summary: "replace a project's webhook secret and print the new one to paste",
  usage: [`kiln ${NAME} <project> [--secret <s>] [--grace <seconds>]`],
  options: [
    '--secret <s>           the new secret, 8+ characters (default: a random one)',
    "--grace <seconds>      how long the old secret is still accepted (default: the server's, 1 h); 0 revokes it now",
  ],
  async run(io, argv, options) {
    const { values, positionals } = parseCommand(NAME, argv, { secret: { type: 'string' }, grace: { type: 'string' } }, { min: 1, max: 1, names: ['project'] });
    const graceSeconds = intOption('grace', values.grace, 0, 7 * 24 * 3600, NAME);
    const ctx = createContext(io, values, options);
    const client = ctx.client();
    const { id, project } = await resolveProject(client, positionals[0], NAME);
    const rotated = await client.rotateWebhookSecret(id, { ...(values.secret !== undefined ? { secret: values.secret } : {}), ...(graceSeconds !== undefined ? { graceSeconds } : {}) });
    if (ctx.json) ctx.printJson(rotated);
    else ctx.print(...rotatedSecretText(rotated, project, ctx.out));
    return 0;
  },
};
