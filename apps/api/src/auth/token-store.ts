import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { KV, NatsConnection } from 'nats';
import { newId } from '@kiln/contracts';

export type TokenScope = 'read' | 'admin';

/** A stored API token: only its SHA-256 is kept; the token itself is shown once. */
export interface ApiToken {
  id: string;
  name: string;
  scope: TokenScope;
  sha256: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface Principal {
  tokenId: string;
  name: string;
  scope: TokenScope;
}

const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');

/**
 * API tokens in a NATS KV bucket, hashed; every api replica holds them in memory through
 * a watch, so verifying a request costs no round trip and a revoke reaches all replicas.
 * The admin token from `KILN_ADMIN_TOKEN` is always valid with scope admin.
 */
export class TokenStore {
  private readonly byHash = new Map<string, ApiToken>();
  /**
   * The newest KV revision applied per token id. This replica's own writes apply at once,
   * so a watch entry older than them (the create of a token revoked meanwhile, arriving
   * late under load) must not bring a revoked token back.
   */
  private readonly revisions = new Map<string, number>();
  private stopWatch: (() => void) | null = null;

  private constructor(
    private readonly kv: KV,
    private readonly adminToken: string,
  ) {}

  static async open(nc: NatsConnection, bucket: string, adminToken: string, replicas = 1): Promise<TokenStore> {
    const kv = await nc.jetstream().views.kv(bucket, { history: 1, replicas });
    const store = new TokenStore(kv, adminToken);
    await store.watch();
    return store;
  }

  private async watch(): Promise<void> {
    const iter = await this.kv.watch({ initializedFn: () => undefined });
    let ready!: () => void;
    const initialized = new Promise<void>((r) => (ready = r));
    const status = await this.kv.status();
    if (status.values === 0) ready();
    let seen = 0;
    void (async () => {
      for await (const e of iter) {
        const stale = (this.revisions.get(e.key) ?? 0) >= e.revision;
        if (!stale) this.revisions.set(e.key, e.revision);
        if (stale) {
          // already applied by this replica's own write
        } else if (e.operation === 'PUT' && e.value.length) {
          const t = e.json<ApiToken>();
          for (const [h, old] of this.byHash) if (old.id === t.id) this.byHash.delete(h);
          if (!t.revokedAt) this.byHash.set(t.sha256, t);
        } else {
          for (const [h, old] of this.byHash) if (old.id === e.key) this.byHash.delete(h);
        }
        if (++seen >= status.values || e.delta === 0) ready();
      }
    })();
    this.stopWatch = () => iter.stop();
    await Promise.race([initialized, new Promise((r) => setTimeout(r, 2000))]);
  }

  /** The principal a presented token stands for, or null. */
  verify(presented: string | null): Principal | null {
    if (!presented) return null;
    const a = createHash('sha256').update(presented).digest();
    const b = createHash('sha256').update(this.adminToken).digest();
    if (timingSafeEqual(a, b)) return { tokenId: 'admin', name: 'KILN_ADMIN_TOKEN', scope: 'admin' };
    const t = this.byHash.get(a.toString('hex'));
    return t ? { tokenId: t.id, name: t.name, scope: t.scope } : null;
  }

  /** Creates a token; returns it in clear once (only its hash is stored). */
  async create(name: string, scope: TokenScope): Promise<{ token: string; record: ApiToken }> {
    const token = `kiln_${randomBytes(24).toString('base64url')}`;
    const record: ApiToken = { id: newId(), name, scope, sha256: sha256(token), createdAt: new Date().toISOString(), revokedAt: null };
    this.revisions.set(record.id, await this.kv.put(record.id, JSON.stringify(record)));
    this.byHash.set(record.sha256, record); // this replica knows at once; others through the watch
    return { token, record };
  }

  async list(): Promise<ApiToken[]> {
    const ids: string[] = [];
    for await (const k of await this.kv.keys()) ids.push(k);
    const out: ApiToken[] = [];
    for (const id of ids) {
      const e = await this.kv.get(id);
      if (e && e.operation === 'PUT' && e.value.length) out.push(e.json<ApiToken>());
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Revokes a token (kept, marked revoked, for the record); false when unknown. */
  async revoke(id: string): Promise<boolean> {
    const e = await this.kv.get(id);
    if (!e || e.operation !== 'PUT' || !e.value.length) return false;
    const t = e.json<ApiToken>();
    if (!t.revokedAt) {
      const revoked = { ...t, revokedAt: new Date().toISOString() };
      this.revisions.set(id, await this.kv.put(id, JSON.stringify(revoked)));
      this.byHash.delete(t.sha256);
    }
    return true;
  }

  close(): void {
    this.stopWatch?.();
  }
}
