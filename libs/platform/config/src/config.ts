import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  /** Key (any string; hashed to 256 bits) encrypting secrets at rest. */
  secretKey: 'KILN_SECRET_KEY',
  /** Ports. */
  apiPort: 'KILN_API_PORT',
  ingestPort: 'KILN_INGEST_PORT',
  logStorePort: 'KILN_LOG_STORE_PORT',
  schedulerPort: 'KILN_SCHEDULER_PORT',
  poolManagerPort: 'KILN_POOL_MANAGER_PORT',
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
  /** Where the process driver puts worker directories. */
  workRoot: 'KILN_WORK_ROOT',
  /** Default per-project concurrency. */
  projectConcurrency: 'KILN_PROJECT_CONCURRENCY',
  /** Heartbeat interval of agents, and how many missed make a worker lost. */
  heartbeatMs: 'KILN_HEARTBEAT_MS',
  heartbeatMisses: 'KILN_HEARTBEAT_MISSES',
  /** Attempts before a build whose worker keeps getting lost fails. */
  maxAttempts: 'KILN_MAX_ATTEMPTS',
  /** Worker (agent) identity, set by the pool-manager's driver. */
  workerId: 'KILN_WORKER_ID',
} as const;

export interface KilnConfig {
  natsUrl: string;
  databaseUrl: string;
  namespace: string;
  streamReplicas: number;
  adminToken: string | null;
  secretKey: string;
  apiPort: number;
  ingestPort: number;
  logStorePort: number;
  schedulerPort: number;
  poolManagerPort: number;
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
  dockerSocket: string;
  workRoot: string;
  projectConcurrency: number;
  heartbeatMs: number;
  heartbeatMisses: number;
  maxAttempts: number;
  workerId: string | null;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

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
    secretKey: str(env, ConfigKeys.secretKey, 'kiln-dev-secret-key-change-me'),
    apiPort,
    ingestPort,
    logStorePort,
    schedulerPort: int(env, ConfigKeys.schedulerPort, 8083, 0),
    poolManagerPort: int(env, ConfigKeys.poolManagerPort, 8084, 0),
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
    dockerSocket: str(env, ConfigKeys.dockerSocket, '/var/run/docker.sock'),
    workRoot: str(env, ConfigKeys.workRoot, join(tmpdir(), 'kiln-workers')),
    projectConcurrency: int(env, ConfigKeys.projectConcurrency, 6, 1),
    heartbeatMs: int(env, ConfigKeys.heartbeatMs, 5000, 100),
    heartbeatMisses: int(env, ConfigKeys.heartbeatMisses, 3, 1),
    maxAttempts: int(env, ConfigKeys.maxAttempts, 3, 1),
    workerId: env[ConfigKeys.workerId] || null,
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
