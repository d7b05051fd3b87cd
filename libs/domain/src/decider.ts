/**
 * A decider: the pure heart of an aggregate. `decide` turns a command into events (or
 * throws a KilnError); `evolve` folds one event into state. No I/O, no clock, no random:
 * time and ids arrive in the command.
 */
export interface Decider<State, Command, Event> {
  initialState(): State;
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
}

/** Folds events into state. */
export function fold<S, C, E>(decider: Decider<S, C, E>, events: readonly E[]): S {
  return events.reduce((s, e) => decider.evolve(s, e), decider.initialState());
}

export function assertNever(x: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(x)}`);
}
