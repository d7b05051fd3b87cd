import { randomBytes } from 'node:crypto';
import { Providers } from '@kiln/contracts';
import { intOption, oneOf, parseCommand } from '../args';
import { createContext } from '../context';
import { UsageError } from '../errors';
import { createdProjectText } from '../format/projects';
import type { Command } from './command';

const NAME = 'projects create';

export const projectsCreateCommand: Command = {
  name: NAME,
  summary: 'create a project and print the webhook URL and secret for GitHub/GitLab',
  usage: [`kiln ${NAME} --name <name> --repo <clone-url> --provider github|gitlab [options]`],
  options: [
    '--name <name>          project name (used by other commands in place of its id)',
    '--repo <url>           repository clone URL',
    '--provider <p>         github or gitlab',
    '--secret <s>           webhook secret, 8+ characters (default: a random one)',
    '--branch <pattern>     build only these branches; repeatable (e.g. main, release/*)',
    '--concurrency <n>      builds running at once for this project (1-100)',
  ],
  async run(io, argv, options) {
    const { values } = parseCommand(NAME, argv, {
      name: { type: 'string' },
      repo: { type: 'string' },
      provider: { type: 'string' },
      secret: { type: 'string' },
      branch: { type: 'string', multiple: true },
      concurrency: { type: 'string' },
    }, { min: 0, max: 0 });
    const missing = (['name', 'repo', 'provider'] as const).filter((k) => !values[k]);
    if (missing.length) throw new UsageError(`missing ${missing.map((m) => `--${m}`).join(', ')}`, NAME);
    const provider = oneOf('provider', values.provider, Providers, NAME)!;
    const concurrency = intOption('concurrency', values.concurrency, 1, 100, NAME);
    const ctx = createContext(io, values, options);
    const created = await ctx.client().createProject({
      name: values.name!,
      repoUrl: values.repo!,
      provider,
      webhookSecret: values.secret ?? randomBytes(24).toString('base64url'),
      ...(values.branch?.length ? { branches: values.branch } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
    });
    if (ctx.json) ctx.printJson(created);
    else ctx.print(...createdProjectText(created, ctx.out));
    return 0;
  },
};
