/// <reference types="jest" />
import { Decider } from '@kiln/domain';

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
