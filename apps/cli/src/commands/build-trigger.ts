import { parseCommand } from '../args';
import { createContext } from '../context';
import { UsageError } from '../errors';
import { shortRef } from '../format/text';
import type { Command } from './command';
import { followBuild } from './follow-build';
import { resolveProject } from './resolve';

const NAME = 'build trigger';

export const buildTriggerCommand: Command = {
  name: NAME,
  aliases: ['builds trigger'],
  summary: 'start a build of a project (by id or name), optionally following its log',
  usage: [`kiln ${NAME} <project> [--ref main] [--sha <commit>] [--follow]`],
  options: [
    '--ref <ref>        branch, tag or full ref to build (default: main)',
    '--sha <commit>     exact commit (hex); default: the ref\'s head when the build starts',
    '-f, --follow       stream the log until the build ends; exit 0 only if it succeeded',
  ],
  notes: ['Prints the build id on stdout (with --json: {"buildId","projectId"}).'],
  async run(io, argv, options) {
    const { values, positionals } = parseCommand(NAME, argv, {
      ref: { type: 'string' },
      sha: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
    }, { min: 1, max: 1, names: ['project'] });
    if (values.sha !== undefined && !/^[0-9a-f]{7,64}$/.test(values.sha)) throw new UsageError(`--sha must be a hex commit sha (7-64 characters), got "${values.sha}"`, NAME);
    if (values.ref !== undefined && !values.ref.trim()) throw new UsageError('--ref must not be empty', NAME);
    const ctx = createContext(io, values, options);
    const client = ctx.client();
    const project = await resolveProject(client, positionals[0], NAME);
    const { buildId } = await client.triggerBuild(project.id, { ...(values.ref ? { ref: values.ref } : {}), ...(values.sha ? { sha: values.sha } : {}) });
    if (ctx.json) ctx.printJson({ buildId, projectId: project.id }, !values.follow);
    else {
      ctx.print(buildId);
      const what = `${project.project?.name ?? project.id} ${shortRef(values.ref ?? 'main')}${values.sha ? ` @ ${values.sha.slice(0, 7)}` : ''}`;
      ctx.note(ctx.err.style(`queued a build of ${what}${values.follow ? '' : ` — follow it with: kiln logs -f ${buildId}`}`, 'dim'));
    }
    if (!values.follow) return 0;
    return followBuild(ctx, buildId, await client.getBuild(buildId));
  },
};
