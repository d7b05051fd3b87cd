/// <reference types="jest" />
/** The shape of a decider (declared here so tests of the domain can use this helper without a cycle). */
interface Decider<S, C, E> {
  initialState(): S;
  decide(command: C, state: S): E[];
  evolve(state: S, event: E): S;
}

/**
 * Given/when/then for deciders:
 * `given(decider, events).when(command).then(expectedEvents)` or `.thenThrows(ErrorClass)`.
 */
export function given<S, C, E>(decider: Decider<S, C, E>, events: E[]) {
  const state = events.reduce((s, e) => decider.evolve(s, e), decider.initialState());
  return {
    state,
    when(command: C) {
      return {
        then(expected: E[]) {
          expect(decider.decide(command, state)).toEqual(expected);
        },
        thenThrows(cls: new (...a: never[]) => Error, message?: RegExp) {
          let thrown: unknown;
          try {
            decider.decide(command, state);
          } catch (e) {
            thrown = e;
          }
          expect(thrown).toBeInstanceOf(cls);
          if (message) expect((thrown as Error).message).toMatch(message);
        },
      };
    },
  };
}
