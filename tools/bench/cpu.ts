import { readFileSync } from 'node:fs';
import { ServiceName, SERVICES } from '../platform/launch';

/** CPU time (ms) a process and its reaped children (git, agents that exited) have used. */
export function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    // fields after "(comm) ": state is index 0, utime/stime/cutime/cstime are 11..14, in clock ticks (100/s)
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10;
  } catch {
    return 0; // not Linux, or the process is gone
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
    this.at = new Map([...SERVICES.map((s) => [s, cpuMs(this.pidOf(s))] as const), ['machine', machineBusyMs()]]);
  }

  stop(): void {
    if (!this.at) return;
    for (const [k, v] of this.at) this.total.set(k, (this.total.get(k) ?? 0) + (k === 'machine' ? machineBusyMs() : cpuMs(this.pidOf(k as ServiceName))) - v);
    this.at = null;
    this.windows++;
  }

  /** "api 60, scheduler 25, ..., whole machine 700" in ms per window. */
  perWindow(): string {
    const per = (k: string) => Math.round((this.total.get(k) ?? 0) / Math.max(1, this.windows));
    return `${SERVICES.map((s) => `${s} ${per(s)}`).join(', ')}; whole machine ${per('machine')}`;
  }
}
