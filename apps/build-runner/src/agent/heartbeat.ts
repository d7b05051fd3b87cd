import { JSONCodec, NatsConnection } from 'nats';
import { Heartbeat, KilnNames } from '@kiln/contracts';

const json = JSONCodec<Heartbeat>();

/** Publishes the agent's heartbeat every `intervalMs` (core NATS; the pool marks silence as loss). */
export class HeartbeatSender {
  private timer: NodeJS.Timeout | null = null;
  buildId: string | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: KilnNames,
    private readonly workerId: string,
    private readonly intervalMs: number,
  ) {}

  /** Sends one now (and flushes it), then keeps sending. */
  async start(): Promise<void> {
    this.beat();
    await this.nc.flush();
    this.timer = setInterval(() => this.beat(), this.intervalMs);
  }

  private beat(): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(this.names.subjects.heartbeat(this.workerId), json.encode({ workerId: this.workerId, at: Date.now(), buildId: this.buildId }));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
