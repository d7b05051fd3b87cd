import { tmpdir } from 'node:os';
import { isAbsolute, join, normalize } from 'node:path';

/**
 * Every configuration key Kiln reads, defined once with its default and meaning.
 * Services call `loadConfig()`; a malformed value is a fatal misconfiguration: the
 * service prints what is wrong and exits non-zero.
 */
export const ConfigKeys = {
  /** NATS server URL(s), comma-separated. */
  natsUrl: 'NATS_URL',
  /** PostgreSQL connection string for read models. */
  databaseUrl: 'DATABASE_URL',
  /** Namespace of streams, subjects and the database schema (isolates installations and test runs). */
  namespace: 'KILN_NAMESPACE',
  /** JetStream replicas for Kiln's streams (1 on one server, 3 in a cluster). */
  streamReplicas: 'KILN_STREAM_REPLICAS',
  /** Bearer token for `/api/*` (a dev default is printed at start when unset). */
  adminToken: 'KILN_ADMIN_TOKEN',
  /** Requests per second each API token may make (a burst of twice that); over it: 429. */
  apiRateLimit: 'KILN_API_RATE_LIMIT',
  /** Key (any string; hashed to 256 bits) encrypting secrets at rest. */
  secretKey: 'KILN_SECRET_KEY',
  /** Ports. */
  apiPort: 'KILN_API_PORT',
  ingestPort: 'KILN_INGEST_PORT',
  logStorePort: 'KILN_LOG_STORE_PORT',
  schedulerPort: 'KILN_SCHEDULER_PORT',
  poolManagerPort: 'KILN_POOL_MANAGER_PORT',
  /** HTTP port of the deployer's own endpoints (`/healthz`, `/readyz`); default 8085. */
  deployerPort: 'KILN_DEPLOYER_PORT',
  /**
   * Port of the edge router (in the deployer; default 8090): a request whose `Host` is
   * `<environment>.localhost` goes to that environment's warm instances, round-robin.
   */
  edgePort: 'KILN_EDGE_PORT',
  /** Where the api gateway finds ingest and log-store. */
  ingestUrl: 'KILN_INGEST_URL',
  logStoreUrl: 'KILN_LOG_STORE_URL',
  /** Public base URL users paste into their Git host (webhook URLs). */
  publicUrl: 'KILN_PUBLIC_URL',
  /** Idle warm workers the pool keeps ready. */
  poolMinWarm: 'KILN_POOL_MIN_WARM',
  /** Upper bound on workers (busy + idle). */
  poolMaxWorkers: 'KILN_POOL_MAX_WORKERS',
  /** Idle warm workers above `minWarm` are retired after this long unused (ms). */
  poolIdleTtlMs: 'KILN_POOL_IDLE_TTL_MS',
  /** `true` (default): one build per worker, then retire and replace. `false`: workers are reused. */
  poolEphemeral: 'KILN_POOL_EPHEMERAL',
  /** Optional shell command an agent runs during warm-up (e.g. prefetch tools); failure retires the worker. */
  poolWarmupCommand: 'KILN_POOL_WARMUP_COMMAND',
  /** How long a warm-up may take; a hanging one keeps the worker cold until then, then retires it (ms). */
  poolWarmupTimeoutMs: 'KILN_POOL_WARMUP_TIMEOUT_MS',
  /** Worker driver: `process` (default) or `docker`. */
  poolDriver: 'KILN_POOL_DRIVER',
  /** Image the docker driver starts for each agent (built from the repo's Dockerfile). */
  poolDockerImage: 'KILN_POOL_DOCKER_IMAGE',
  /** Docker Engine API socket for the docker driver. */
  dockerSocket: 'DOCKER_SOCKET',
  /**
   * Docker Engine API address (`unix:///var/run/docker.sock`, `tcp://host:2375`; plain HTTP).
   * When set it wins over `DOCKER_SOCKET`. Read by the deployer's docker runtime (`deploy.image`).
   */
  dockerHost: 'DOCKER_HOST',
  /**
   * Where the build cache keeps its archives and keys: `nats` (default; the JetStream
   * Object Store and KV buckets, shared by every worker) or `dir:<absolute path>` (a local
   * directory, for a single always-on builder whose agents and api share that disk).
   * Read by the agent and the api, which must agree.
   */
  cacheBackend: 'KILN_CACHE_BACKEND',
  /** Build-cache size per project (bytes) before least recently used entries go (default 5 GiB). */
  cacheMaxBytes: 'KILN_CACHE_MAX_BYTES',
  /** Build-cache entries unused this long are evicted (ms; default 30 days). */
  cacheMaxAgeMs: 'KILN_CACHE_MAX_AGE_MS',
  /**
   * Pool warm-up: how many of the most used cache entries (all projects; used in the last
   * 7 days, most hits first) an agent copies to its own disk before it reports warm, so a
   * fresh worker restores them without a download (default 5; 0 disables).
   */
  poolCachePrefetch: 'KILN_POOL_CACHE_PREFETCH',
  /** Most bytes (compressed) the pool warm-up copies in all (default 512 MiB). */
  poolCachePrefetchBytes: 'KILN_POOL_CACHE_PREFETCH_BYTES',
  /**
   * Longest the cache copy of the warm-up may take (ms; default 120 s). Past it, or on any
   * error, the agent logs why and reports warm with what it has: a prefetch never keeps a
   * worker cold.
   */
  poolCachePrefetchTimeoutMs: 'KILN_POOL_CACHE_PREFETCH_TIMEOUT_MS',
  /** Where the process driver puts worker directories. */
  workRoot: 'KILN_WORK_ROOT',
  /**
   * Where agents keep V8's code cache of their bundle (default: beside the bundle,
   * `dist/agent`). Read by the agent's loader (`tools/agent-start.js`); the docker driver
   * points it at a volume its agent containers share, so each new container starts from it.
   */
  agentCodeCacheDir: 'KILN_AGENT_CODE_CACHE_DIR',
  /**
   * The host's git mirrors, shared by its workers and pool-manager: a pushed commit is
   * fetched there when its build is requested and workers check out from it (`off`
   * disables; default `$TMPDIR/kiln-git-mirrors`).
   */
  gitMirrorDir: 'KILN_GIT_MIRROR_DIR',
  /** Default per-project concurrency. */
  projectConcurrency: 'KILN_PROJECT_CONCURRENCY',
  /** Heartbeat interval of agents, and how many missed make a worker lost. */
  heartbeatMs: 'KILN_HEARTBEAT_MS',
  heartbeatMisses: 'KILN_HEARTBEAT_MISSES',
  /** Attempts before a build whose worker keeps getting lost fails. */
  maxAttempts: 'KILN_MAX_ATTEMPTS',
  /**
   * How long past a build's timeout the scheduler waits for the worker to end it before it
   * records the build `timed_out` itself and retires the worker (ms; default 30 s).
   */
  buildTimeoutGraceMs: 'KILN_BUILD_TIMEOUT_GRACE_MS',
  /** Worker (agent) identity, set by the pool-manager's driver. */
  workerId: 'KILN_WORKER_ID',
  /**
   * Most bytes of step output one build's log keeps (UTF-8 text plus one byte per line
   * break; default 50 MiB). Past it the log says once `kiln: log truncated at N bytes; the
   * build goes on`, further step output lines are dropped and counted, and the build goes on.
   * Read by the agent.
   */
  logMaxBytes: 'KILN_LOG_MAX_BYTES',
  /**
   * Longest a log record stays in the logs stream, e.g. `7d`, `12h`, `90m` (JetStream
   * `max_age` of the logs stream; empty, `0` or `forever`: kept forever, the default).
   * Finished logs are archived to the object store first and read from there once their
   * stream copy has aged out; a log that never ended (no `end` record) is not archived, so
   * keep this well above the longest build. Applied by log-store at start.
   */
  logRetention: 'KILN_LOG_RETENTION',
  /**
   * How long a project's replaced webhook secret is still accepted after a rotation, e.g.
   * `1h` (default), `15m`, `0` (rejected at once). Deliveries the git host signed before the
   * user pasted the new secret are not lost. Read by the api when it records the rotation;
   * `POST /api/projects/:id/webhook-secret/rotate` may ask for another one (`graceSeconds`).
   */
  webhookSecretGrace: 'KILN_WEBHOOK_SECRET_GRACE',
  /** HTTP port of git-status's own endpoints (`/healthz`, `/readyz`); default 8086. */
  gitStatusPort: 'KILN_GIT_STATUS_PORT',
  /**
   * CPU niceness of this service's process (0–19; higher yields more). Unset: 10 for the
   * services off the path from webhook to first step (api, git-status), so their read
   * models and integrations yield the cores to dispatch on a small host; 0 for the rest (the
   * deployer too: the instances it starts would inherit its niceness).
   */
  cpuNice: 'KILN_CPU_NICE',
  /** Base URL of the GitHub REST API git-status posts commit statuses to (GitHub Enterprise: `https://<host>/api/v3`). */
  githubApiUrl: 'KILN_GITHUB_API_URL',
  /** Base URL of the GitLab REST API (v4) git-status posts commit statuses to. */
  gitlabApiUrl: 'KILN_GITLAB_API_URL',
  /**
   * Token git-status sends to GitHub (`Authorization: Bearer`; needs `repo:status` or the
   * fine-grained "Commit statuses: write"). A project secret `GIT_STATUS_TOKEN` overrides it
   * for that project. Neither set: no statuses for GitHub projects.
   */
  githubToken: 'KILN_GITHUB_TOKEN',
  /** Token git-status sends to GitLab (`PRIVATE-TOKEN`; scope `api`); a project secret `GIT_STATUS_TOKEN` overrides it. */
  gitlabToken: 'KILN_GITLAB_TOKEN',
} as const;

/** Where the build cache lives; see {@link ConfigKeys.cacheBackend}. */
export type CacheBackendSetting = { kind: 'nats' } | { kind: 'dir'; path: string };

export interface KilnConfig {
  natsUrl: string;
  databaseUrl: string;
  namespace: string;
  streamReplicas: number;
  adminToken: string | null;
  apiRateLimit: number;
  secretKey: string;
  apiPort: number;
  ingestPort: number;
  logStorePort: number;
  schedulerPort: number;
  poolManagerPort: number;
  /** See {@link ConfigKeys.deployerPort}. */
  deployerPort: number;
  /** See {@link ConfigKeys.edgePort}. */
  edgePort: number;
  ingestUrl: string;
  logStoreUrl: string;
  publicUrl: string;
  poolMinWarm: number;
  poolMaxWorkers: number;
  poolIdleTtlMs: number;
  poolEphemeral: boolean;
  poolWarmupCommand: string | null;
  poolWarmupTimeoutMs: number;
  poolDriver: 'process' | 'docker';
  poolDockerImage: string;
  /** See {@link ConfigKeys.cacheBackend}. */
  cacheBackend: CacheBackendSetting;
  cacheMaxBytes: number;
  cacheMaxAgeMs: number;
  /** See {@link ConfigKeys.poolCachePrefetch}. */
  poolCachePrefetch: number;
  /** See {@link ConfigKeys.poolCachePrefetchBytes}. */
  poolCachePrefetchBytes: number;
  /** See {@link ConfigKeys.poolCachePrefetchTimeoutMs}. */
  poolCachePrefetchTimeoutMs: number;
  dockerSocket: string;
  /** See {@link ConfigKeys.dockerHost}; null: `unix://` + `dockerSocket`. */
  dockerHost: string | null;
  workRoot: string;
  /** null when mirrors are off. */
  gitMirrorDir: string | null;
  projectConcurrency: number;
  heartbeatMs: number;
  heartbeatMisses: number;
  maxAttempts: number;
  buildTimeoutGraceMs: number;
  workerId: string | null;
  /** See {@link ConfigKeys.logMaxBytes}. */
  logMaxBytes: number;
  /** Max age of the logs stream in milliseconds; 0 keeps records forever. See {@link ConfigKeys.logRetention}. */
  logRetentionMs: number;
  /** See {@link ConfigKeys.webhookSecretGrace} (ms). */
  webhookSecretGraceMs: number;
  /** See {@link ConfigKeys.gitStatusPort}. */
  gitStatusPort: number;
  /** See {@link ConfigKeys.cpuNice}; null: the service's own default. */
  cpuNice: number | null;
  /** See {@link ConfigKeys.githubApiUrl}; no trailing slash. */
  githubApiUrl: string;
  /** See {@link ConfigKeys.gitlabApiUrl}; no trailing slash. */
  gitlabApiUrl: string;
  /** See {@link ConfigKeys.githubToken}. */
  githubToken: string | null;
  /** See {@link ConfigKeys.gitlabToken}. */
  gitlabToken: string | null;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function nice(env: Env, key: string): number {
  const n = int(env, key, 0, 0);
  if (n > 19) throw new ConfigError(`${key}="${env[key]}" must be an integer from 0 to 19`);
  return n;
}

function int(env: Env, key: string, def: number, min = 0): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${key}="${raw}" must be an integer >= ${min}`);
  return n;
}

function bool(env: Env, key: string, def: boolean): boolean {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  if (/^(true|1|yes)$/i.test(raw)) return true;
  if (/^(false|0|no)$/i.test(raw)) return false;
  throw new ConfigError(`${key}="${raw}" must be true or false`);
}

function oneOf<T extends string>(env: Env, key: string, values: readonly T[], def: T): T {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  if (!(values as readonly string[]).includes(raw)) throw new ConfigError(`${key}="${raw}" must be one of ${values.join(', ')}`);
  return raw as T;
}

/** Default {@link KilnConfig.logMaxBytes}: 50 MiB. */
export const DEFAULT_LOG_MAX_BYTES = 50 * 1024 * 1024;

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Parses a retention like `7d`, `12h`, `90m`, `30s`, `1w` (or a sum such as `1d12h`) into
 * milliseconds; empty, `0`, `forever` and `never` mean 0 (keep forever). Throws on anything else.
 */
export function parseRetention(raw: string): number {
  const text = raw.trim().toLowerCase();
  if (text === '' || text === '0' || text === 'forever' || text === 'never') return 0;
  if (!/^(\d+(ms|s|m|h|d|w))+$/.test(text)) throw new Error(`"${raw}" is not a duration like 7d, 12h or 90m`);
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) total += Number(m[1]) * DURATION_UNITS_MS[m[2]];
  return total;
}

function retention(env: Env, key: string): number {
  const raw = env[key];
  if (raw === undefined) return 0;
  try {
    return parseRetention(raw);
  } catch (e) {
    throw new ConfigError(`${key}=${(e as Error).message}`);
  }
}

function duration(env: Env, key: string, def: number): number {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return def;
  if (/^(forever|never)$/i.test(raw.trim())) throw new ConfigError(`${key}="${raw}" must be a duration like 1h, 15m or 0`);
  try {
    return parseRetention(raw);
  } catch (e) {
    throw new ConfigError(`${key}=${(e as Error).message}`);
  }
}

function cacheBackend(env: Env, key: string): CacheBackendSetting {
  const raw = env[key];
  if (raw === undefined || raw === '' || raw === 'nats') return { kind: 'nats' };
  const path = /^dir:(.*)$/.exec(raw)?.[1];
  if (path === undefined || !isAbsolute(path)) throw new ConfigError(`${key}="${raw}" must be nats or dir:<absolute path>`);
  return { kind: 'dir', path: normalize(path) };
}

function baseUrl(env: Env, key: string, def: string): string {
  const v = str(env, key, def).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(v)) throw new ConfigError(`${key}="${v}" is not an http(s) URL`);
  return v;
}

function str(env: Env, key: string, def: string): string {
  const v = env[key];
  return v === undefined || v === '' ? def : v;
}

export function loadConfig(env: Env = process.env): KilnConfig {
  const apiPort = int(env, ConfigKeys.apiPort, 8080, 0);
  const ingestPort = int(env, ConfigKeys.ingestPort, 8081, 0);
  const logStorePort = int(env, ConfigKeys.logStorePort, 8082, 0);
  const cfg: KilnConfig = {
    natsUrl: str(env, ConfigKeys.natsUrl, 'nats://127.0.0.1:4222'),
    databaseUrl: str(env, ConfigKeys.databaseUrl, 'postgres://postgres@127.0.0.1:5432/test'),
    namespace: str(env, ConfigKeys.namespace, 'kiln'),
    streamReplicas: int(env, ConfigKeys.streamReplicas, 1, 1),
    adminToken: env[ConfigKeys.adminToken] || null,
    apiRateLimit: int(env, ConfigKeys.apiRateLimit, 50, 1),
    secretKey: str(env, ConfigKeys.secretKey, 'kiln-dev-secret-key-change-me'),
    apiPort,
    ingestPort,
    logStorePort,
    schedulerPort: int(env, ConfigKeys.schedulerPort, 8083, 0),
    poolManagerPort: int(env, ConfigKeys.poolManagerPort, 8084, 0),
    deployerPort: int(env, ConfigKeys.deployerPort, 8085, 0),
    edgePort: int(env, ConfigKeys.edgePort, 8090, 0),
    ingestUrl: str(env, ConfigKeys.ingestUrl, `http://127.0.0.1:${ingestPort}`),
    logStoreUrl: str(env, ConfigKeys.logStoreUrl, `http://127.0.0.1:${logStorePort}`),
    publicUrl: str(env, ConfigKeys.publicUrl, `http://127.0.0.1:${apiPort}`),
    poolMinWarm: int(env, ConfigKeys.poolMinWarm, 3, 0),
    poolMaxWorkers: int(env, ConfigKeys.poolMaxWorkers, 12, 1),
    poolIdleTtlMs: int(env, ConfigKeys.poolIdleTtlMs, 10 * 60_000, 1000),
    poolEphemeral: bool(env, ConfigKeys.poolEphemeral, true),
    poolWarmupCommand: env[ConfigKeys.poolWarmupCommand] || null,
    poolWarmupTimeoutMs: int(env, ConfigKeys.poolWarmupTimeoutMs, 10 * 60_000, 100),
    poolDriver: oneOf(env, ConfigKeys.poolDriver, ['process', 'docker'] as const, 'process'),
    poolDockerImage: str(env, ConfigKeys.poolDockerImage, 'kiln:latest'),
    cacheBackend: cacheBackend(env, ConfigKeys.cacheBackend),
    cacheMaxBytes: int(env, ConfigKeys.cacheMaxBytes, 5 * 1024 ** 3, 1),
    cacheMaxAgeMs: int(env, ConfigKeys.cacheMaxAgeMs, 30 * 24 * 3600_000, 1000),
    poolCachePrefetch: int(env, ConfigKeys.poolCachePrefetch, 5, 0),
    poolCachePrefetchBytes: int(env, ConfigKeys.poolCachePrefetchBytes, 512 * 1024 ** 2, 0),
    poolCachePrefetchTimeoutMs: int(env, ConfigKeys.poolCachePrefetchTimeoutMs, 120_000, 100),
    dockerSocket: str(env, ConfigKeys.dockerSocket, '/var/run/docker.sock'),
    dockerHost: env[ConfigKeys.dockerHost] || null,
    workRoot: str(env, ConfigKeys.workRoot, join(tmpdir(), 'kiln-workers')),
    gitMirrorDir: env[ConfigKeys.gitMirrorDir] === 'off' ? null : str(env, ConfigKeys.gitMirrorDir, join(tmpdir(), 'kiln-git-mirrors')),
    projectConcurrency: int(env, ConfigKeys.projectConcurrency, 6, 1),
    heartbeatMs: int(env, ConfigKeys.heartbeatMs, 5000, 100),
    heartbeatMisses: int(env, ConfigKeys.heartbeatMisses, 3, 1),
    maxAttempts: int(env, ConfigKeys.maxAttempts, 3, 1),
    buildTimeoutGraceMs: int(env, ConfigKeys.buildTimeoutGraceMs, 30_000, 0),
    workerId: env[ConfigKeys.workerId] || null,
    logMaxBytes: int(env, ConfigKeys.logMaxBytes, DEFAULT_LOG_MAX_BYTES, 1024),
    logRetentionMs: retention(env, ConfigKeys.logRetention),
    webhookSecretGraceMs: duration(env, ConfigKeys.webhookSecretGrace, 3_600_000),
    gitStatusPort: int(env, ConfigKeys.gitStatusPort, 8086, 0),
    cpuNice: env[ConfigKeys.cpuNice] === undefined || env[ConfigKeys.cpuNice] === '' ? null : nice(env, ConfigKeys.cpuNice),
    githubApiUrl: baseUrl(env, ConfigKeys.githubApiUrl, 'https://api.github.com'),
    gitlabApiUrl: baseUrl(env, ConfigKeys.gitlabApiUrl, 'https://gitlab.com/api/v4'),
    githubToken: env[ConfigKeys.githubToken] || null,
    gitlabToken: env[ConfigKeys.gitlabToken] || null,
  };
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(cfg.namespace)) {
    throw new ConfigError(`${ConfigKeys.namespace}="${cfg.namespace}" must be 1-31 lower-case letters, digits or _ starting with a letter`);
  }
  if (!/^(nats|tls|wss?):\/\//.test(cfg.natsUrl.split(',')[0]) && !/^[\w.-]+:\d+$/.test(cfg.natsUrl.split(',')[0])) {
    throw new ConfigError(`${ConfigKeys.natsUrl}="${cfg.natsUrl}" is not a NATS URL (e.g. nats://127.0.0.1:4222)`);
  }
  if (!/^postgres(ql)?:\/\//.test(cfg.databaseUrl)) {
    throw new ConfigError(`${ConfigKeys.databaseUrl}="${cfg.databaseUrl}" is not a postgres:// URL`);
  }
  return cfg;
}
