import { ConcurrencyError } from '@kiln/contracts';
import { Aggregate, CausationInput, EventStore } from './event-store';

/**
 * Creates an aggregate in one round trip: decides on the initial state and appends with
 * expected last-subject-sequence 0. Returns `created: false` when the subject already had
 * events (a duplicate request), whatever JetStream's dedupe window says.
 */
export async function createAggregate<S, C, E extends { type: string; data: unknown }>(
  store: EventStore,
  agg: Aggregate<S, C, E>,
  subject: string,
  command: C,
  cause: CausationInput,
): Promise<{ created: boolean; seq: number }> {
  const events = agg.decider.decide(command, agg.decider.initialState());
  try {
    const { seq, duplicate } = await store.append(agg.codec, subject, events, { ...cause, expectedLastSeq: 0 });
    return { created: !duplicate, seq };
  } catch (e) {
    if (e instanceof ConcurrencyError) return { created: false, seq: 0 };
    throw e;
  }
}
