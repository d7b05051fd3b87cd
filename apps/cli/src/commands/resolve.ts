import type { ApiClient } from '../api/api-client';
import type { ProjectView } from '../api/wire';
import { ApiError, CliError, UsageError } from '../errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Shortest id prefix accepted in place of a whole id. */
export const MIN_PREFIX = 4;

/**
 * Finds a project by id, name or unique id prefix (as `projects ls` shows it). A whole
 * id that the list does not show yet (its read model lags a just-created project by a
 * moment) is used as given; the API decides.
 */
export async function resolveProject(client: ApiClient, ref: string, command: string): Promise<{ id: string; project: ProjectView | null }> {
  const { items } = await client.listProjects();
  const byId = items.find((p) => p.id === ref);
  if (byId) return { id: byId.id, project: byId };
  const byName = items.filter((p) => p.name === ref);
  if (byName.length === 1) return { id: byName[0].id, project: byName[0] };
  if (byName.length > 1) throw new UsageError(`${byName.length} projects are named "${ref}"; use an id: ${byName.map((p) => p.id).join(', ')}`, command);
  if (UUID.test(ref)) return { id: ref, project: null };
  const byPrefix = ref.length >= MIN_PREFIX ? items.filter((p) => p.id.startsWith(ref.toLowerCase())) : [];
  if (byPrefix.length === 1) return { id: byPrefix[0].id, project: byPrefix[0] };
  if (byPrefix.length > 1) throw new UsageError(`"${ref}" matches ${byPrefix.length} project ids; give more characters`, command);
  throw new CliError(`no project with id or name "${ref}" (see kiln projects ls)`);
}

/**
 * A build id from a whole id or the short id `builds ls` prints. A short one is looked up
 * among each project's 200 most recent builds.
 */
export async function resolveBuild(client: ApiClient, ref: string, command: string): Promise<string> {
  if (UUID.test(ref) || !/^[0-9a-f-]+$/i.test(ref)) return ref;
  if (ref.length < MIN_PREFIX) throw new UsageError(`build id "${ref}" is too short: give at least ${MIN_PREFIX} characters`, command);
  const prefix = ref.toLowerCase();
  const { items: projects } = await client.listProjects();
  const pages = await Promise.all(projects.map((p) => client.listBuilds(p.id, { limit: 200 }).catch((e: unknown) => (e instanceof ApiError && e.status === 404 ? { items: [] } : Promise.reject(e)))));
  const matches = [...new Set(pages.flatMap((pg) => pg.items.map((b) => b.id)).filter((id) => id.startsWith(prefix)))];
  if (matches.length === 1) return matches[0];
  if (matches.length > 1) throw new UsageError(`"${ref}" matches ${matches.length} builds; give more characters`, command);
  throw new CliError(`no recent build with an id starting "${ref}" (give the whole id)`);
}
