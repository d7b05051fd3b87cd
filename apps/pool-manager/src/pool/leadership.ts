import { KV, NatsConnection } from 'nats';
import { Logger } from '@kiln/telemetry';

/**
 * One leader among pool-manager replicas, by a lease in a NATS KV bucket whose entries
 * expire after `leaseMs`: the leader renews every `leaseMs / 3`; the others try to take
 * the key and succeed only once it has expired (a dead leader is replaced within
 * `leaseMs`). Only the leader provisions, retires and sweeps; every replica answers lease
 * requests (those are safe under optimistic concurrency).
 */
export class Leadership {
  private kv: KV | null = null;
  private revision = 0;
  private timer: NodeJS.Timeout | null = null;
  private leader = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly bucket: string,
    private readonly me: string,
    private readonly leaseMs: number,
    private readonly log: Logger,
    private readonly onChange: (leader: boolean) => void,
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  async start(): Promise<void> {
    this.kv = await this.nc.jetstream().views.kv(this.bucket, { ttl: this.leaseMs, history: 1 });
    await this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (!this.kv) return;
    try {
      if (this.leader) {
        this.revision = await this.kv.update('leader', this.me, this.revision);
      } else {
        this.revision = await this.kv.create('leader', this.me);
        this.set(true);
      }
    } catch {
      if (this.leader) this.set(false);
    }
  }

  private set(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.log.info(leader ? 'became pool leader' : 'lost pool leadership', { replica: this.me });
    this.onChange(leader);
  }

  /** Stops renewing; a leader hands over at once by deleting its lease. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.leader && this.kv) await this.kv.delete('leader', { previousSeq: this.revision }).catch(() => undefined);
    this.leader = false;
  }
}
