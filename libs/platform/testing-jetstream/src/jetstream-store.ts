/// <reference types="jest" />
// A library of its own, not part of @kiln/testing: the event store's own specs use
// @kiln/testing, so @kiln/testing importing @kiln/event-store would be a dependency cycle.
import { NatsConnection } from 'nats';
import { KilnNames, kilnNames } from '@kiln/contracts';
import { Aggregates, aggregates, connectNats, deleteStreams, ensureStreams, EventStore } from '@kiln/event-store';
import { testNamespace, testNatsUrl } from '@kiln/testing';

export interface JetStreamStoreOptions {
  /** Prefix of the spec file's own namespace (streams, subjects, buckets). */
  namespacePrefix: string;
  /** Client name of the spec's NATS connection, to tell it apart on the server. */
  clientName: string;
  /** Put `process.env` back as it was after the spec: for specs that configure an app under test through it. */
  restoreEnv?: boolean;
}

/** The event store of one spec file; `nc` and `store` exist from its `beforeAll` on. */
export interface JetStreamStore {
  readonly names: KilnNames;
  readonly aggs: Aggregates;
  readonly nc: NatsConnection;
  readonly store: EventStore;
}

interface Connected {
  nc: NatsConnection;
  store: EventStore;
}

/**
 * An event store on real NATS JetStream for the calling `describe`, in a namespace of its own
 * with its streams made, so spec files running side by side never see each other's events.
 * Registers a `beforeAll` and an `afterAll` that deletes the namespace's streams and buckets and
 * drains the connection. Jest runs `afterAll` hooks in the order they are declared: declare the
 * one that stops an app under test before calling this, so the app stops before its streams go.
 */
export function useJetStreamStore(options: JetStreamStoreOptions): JetStreamStore {
  const names = kilnNames(testNamespace(options.namespacePrefix));
  let connected: Connected | undefined;
  let savedEnv: NodeJS.ProcessEnv | undefined;
  const get = (): Connected => {
    if (!connected) throw new Error('the JetStream store is used before its beforeAll ran');
    return connected;
  };

  beforeAll(async () => {
    if (options.restoreEnv) savedEnv = { ...process.env };
    const nc = await connectNats(testNatsUrl(), options.clientName);
    const store = await EventStore.create(nc, names);
    // kept before the streams are made, so afterAll still drains the connection if that fails
    connected = { nc, store };
    await ensureStreams(store.jsm, names);
  });

  afterAll(async () => {
    if (savedEnv) process.env = savedEnv;
    if (connected) {
      await deleteStreams(connected.store.jsm, names);
      await connected.nc.drain();
    }
  });

  return {
    names,
    aggs: aggregates(names),
    get nc() {
      return get().nc;
    },
    get store() {
      return get().store;
    },
  };
}
