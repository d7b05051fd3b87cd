import { NotFoundError } from '@kiln/contracts';
import { ActiveProject, Project } from '@kiln/domain';
import { Aggregate, EventStore } from '@kiln/event-store';

/** What an aggregate id can look like; anything else cannot exist (404 without a read). */
export const AGGREGATE_ID = /^[A-Za-z0-9_-]+$/;

/**
 * Loads an aggregate for a request, or answers 404 naming it: the id cannot be one, or
 * the aggregate has no events (or `exists` says it does not count, e.g. a deleted project).
 * The one "load by id, 404 if none" of the api's controllers.
 */
export async function loadOr404<S extends { status: string }, C, E extends { type: string; data: unknown }, T extends S = Exclude<S, { status: 'none' }>>(
  store: EventStore,
  agg: Aggregate<S, C, E>,
  subject: (id: string) => string,
  what: string,
  id: string,
  exists: (state: S) => state is T = (s): s is T => s.status !== 'none',
) {
  if (!AGGREGATE_ID.test(id)) throw new NotFoundError(`${what} ${id} not found`);
  const loaded = await store.load(agg, subject(id));
  const { state } = loaded;
  if (!exists(state)) throw new NotFoundError(`${what} ${id} not found`);
  return { ...loaded, state };
}

/** A project that exists and is not deleted (what most project requests need). */
export const isActive = (p: Project): p is ActiveProject => p.status === 'active';
