import { readFileSync } from 'node:fs';
import { ServiceName, SERVICES } from '../platform/launch';

/** CPU time (ms) a process has used itself, and that its reaped children (git, agents that exited) used. */
export function cpuMs(pid: number | undefined): { own: number; children: number } {
  if (!pid) return { own: 0, children: 0 };
  try {
    // fields after "(comm) ": state is index 0, utime/stime/cutime/cstime are 11..14, in clock ticks (100/s)
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return { own: (Number(f[11]) + Number(f[12])) * 10, children: (Number(f[13]) + Number(f[14])) * 10 };
  } catch {
    return { own: 0, children: 0 }; // not Linux, or the process is gone
  }
}

/** CPU time (ms) the whole machine was busy (all cores), from /proc/stat. */
export function machineBusyMs(): number {
  try {
    const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (user + nice + system + irq + softirq) * 10;
  } catch {
    return 0;
  }
}

/** Adds up CPU per service over the windows between `start()` and `stop()`. */
export class CpuMeter {
  private readonly total = new Map<string, number>();
  private at: Map<string, number> | null = null;
  private windows = 0;

  constructor(private readonly pidOf: (s: ServiceName) => number | undefined) {}

  start(): void {
    this.at = this.read();
  }

  stop(): void {
    if (!this.at) return;
    for (const [k, v] of this.read()) this.total.set(k, (this.total.get(k) ?? 0) + v - (this.at.get(k) ?? 0));
    this.at = null;
    this.windows++;
  }

  /** Each service's own CPU, its children's (under `<service> children`), and the machine's. */
  private read(): Map<string, number> {
    const m = new Map<string, number>([['machine', machineBusyMs()]]);
    for (const s of SERVICES) {
      const { own, children } = cpuMs(this.pidOf(s));
      m.set(s, own);
      m.set(`${s} children`, children);
    }
    return m;
  }

  /** "api 60, scheduler 25, pool-manager 12 (+40 in its child processes), ..., whole machine 700" in ms per window. */
  perWindow(): string {
    const per = (k: string) => Math.round((this.total.get(k) ?? 0) / Math.max(1, this.windows));
    // the pool-manager's children are the agents (each runs one build) and git: told apart from its own work
    const service = (s: ServiceName) => (per(`${s} children`) > 0 ? `${s} ${per(s)} (+${per(`${s} children`)} in its child processes)` : `${s} ${per(s)}`);
    return `${SERVICES.map(service).join(', ')}; whole machine ${per('machine')}`;
  }
}
