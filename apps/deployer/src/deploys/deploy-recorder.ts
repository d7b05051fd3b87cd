import { DeployEvent, IllegalStateError } from '@kiln/contracts';
import { Deploy, DeployCommand } from '@kiln/domain';
import { Aggregate, EventStore } from '@kiln/event-store';

/**
 * Records one deploy's commands through the event store, one at a time (warm-ups, crashes and
 * the switch run concurrently; queueing them here spares optimistic-concurrency retries).
 * A command the deploy's state no longer allows (it ended meanwhile) changes nothing and
 * resolves with the current state; every other error is thrown.
 */
export class DeployRecorder {
  state: Deploy = { status: 'none' };
  private lastSeq = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: EventStore,
    private readonly agg: Aggregate<Deploy, DeployCommand, DeployEvent>,
    readonly subject: string,
    readonly deployId: string,
  ) {}

  async load(): Promise<Deploy> {
    const loaded = await this.store.load(this.agg, this.subject);
    this.state = loaded.state;
    this.lastSeq = loaded.lastSeq;
    return this.state;
  }

  handle(command: DeployCommand): Promise<Deploy> {
    const next = this.chain.then(async () => {
      try {
        const r = await this.store.handle(this.agg, this.subject, command, { correlationId: this.deployId }, { known: { state: this.state, lastSeq: this.lastSeq } });
        this.state = r.state;
        this.lastSeq = r.lastSeq;
      } catch (e) {
        if (!(e instanceof IllegalStateError)) throw e;
        await this.load();
      }
      return this.state;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }
}
