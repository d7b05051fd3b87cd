/** One instance the edge can send an environment's requests to. */
export interface Backend {
  readonly instanceId: string;
  readonly deployId: string;
  readonly host: string;
  readonly port: number;
  /** Warm instances take traffic; cold ones only when none in the list is warm (the AppInit rule). */
  warm: boolean;
  /** Requests proxied to it that have not finished (drain waits for 0). */
  inflight: number;
}

/** An environment's routing table: replaced as a whole, never edited in place. */
interface Table {
  readonly backends: readonly Backend[];
  next: number;
}

/**
 * The edge's routing state: per environment, one immutable list of backends. A deploy's
 * switch is one `swap` (the list is replaced in a single assignment, so every request sees
 * either the old list or the new one); a crashed instance is removed the same way.
 *
 * `pick` sends requests round-robin to the warm backends of the list, and to all of them only
 * when none is warm (Azure App Service AppInit).
 */
export class EdgeRouter {
  private readonly tables = new Map<string, Table>();
  private readonly swapListeners = new Set<(environment: string, backends: readonly Backend[]) => void>();

  environments(): string[] {
    return [...this.tables.keys()];
  }

  backends(environment: string): readonly Backend[] {
    return this.tables.get(environment)?.backends ?? [];
  }

  /** Replaces an environment's list at once; returns the list it replaced. */
  swap(environment: string, backends: readonly Backend[]): readonly Backend[] {
    const previous = this.backends(environment);
    this.tables.set(environment, { backends: Object.freeze([...backends]), next: 0 });
    for (const l of this.swapListeners) l(environment, this.backends(environment));
    return previous;
  }

  /** Puts one more instance in rotation (a new list with it; one with the same id is replaced). */
  add(environment: string, backend: Backend): void {
    this.swap(environment, [...this.backends(environment).filter((b) => b.instanceId !== backend.instanceId), backend]);
  }

  /** Takes one instance out of rotation (a new list without it); false when it was not in. */
  remove(environment: string, instanceId: string): boolean {
    const current = this.backends(environment);
    if (!current.some((b) => b.instanceId === instanceId)) return false;
    this.swap(environment, current.filter((b) => b.instanceId !== instanceId));
    return true;
  }

  /** The backend for the next request; `undefined`: unknown environment; `null`: no instance. */
  pick(environment: string): Backend | null | undefined {
    const table = this.tables.get(environment);
    if (!table) return undefined;
    if (table.backends.length === 0) return null;
    const warm = table.backends.filter((b) => b.warm);
    const candidates = warm.length > 0 ? warm : table.backends;
    const chosen = candidates[table.next % candidates.length];
    table.next = (table.next + 1) % 1_000_000_007;
    return chosen;
  }

  /** Called after every swap (and removal); tests use it to time the switch. */
  onSwap(listener: (environment: string, backends: readonly Backend[]) => void): () => void {
    this.swapListeners.add(listener);
    return () => this.swapListeners.delete(listener);
  }
}

/** A backend for an instance listening on `port` on this machine. */
export function backendOf(instanceId: string, deployId: string, port: number, warm = true): Backend {
  return { instanceId, deployId, host: '127.0.0.1', port, warm, inflight: 0 };
}
