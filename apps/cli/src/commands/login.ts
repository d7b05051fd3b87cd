import { parseCommand } from '../args';
import { writeConfig } from '../config/config-store';
import { createContext } from '../context';
import { UsageError } from '../errors';
import type { Command } from './command';

export const loginCommand: Command = {
  name: 'login',
  summary: 'check a server URL and token, and save them for the next commands',
  usage: ['kiln login --url <url> --token <token>', 'kiln login --url <url> --token -        (reads the token from stdin)'],
  notes: [
    'Saved to ~/.config/kiln/config.json (mode 0600; $KILN_CONFIG names another file).',
    'KILN_URL and KILN_TOKEN, and --url/--token on any command, override the saved login.',
  ],
  async run(io, argv, options) {
    const { values } = parseCommand('login', argv, {}, { min: 0, max: 0 });
    let token = values.token;
    if (token === '-') {
      token = (await io.readStdin()).trim();
      if (!token) throw new UsageError('no token on stdin', 'login');
    }
    const ctx = createContext(io, { ...values, token }, options);
    const settings = ctx.settings();
    const { items } = await ctx.client().listProjects();
    writeConfig(ctx.configPath, { url: settings.url, token: settings.token });
    if (ctx.json) ctx.printJson({ url: settings.url, config: ctx.configPath, projects: items.length });
    else ctx.print(`${ctx.out.style('✓', 'green')} Logged in to ${ctx.out.style(settings.url, 'cyan')} (${items.length} project${items.length === 1 ? '' : 's'}); saved to ${ctx.configPath}`);
    return 0;
  },
};
