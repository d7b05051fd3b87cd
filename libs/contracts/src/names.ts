/**
 * Every stream name, subject and durable consumer name in Kiln, defined once.
 *
 * Names are built from a namespace (`KILN_NAMESPACE`, default `kiln`) so that test runs
 * and several installations can share one NATS server without seeing each other's data:
 * namespace `kiln` gives stream `KILN_BUILDS` with subjects `kiln.build.<id>`.
 *
 * One subject per aggregate instance (not one per event type): JetStream's
 * `Nats-Expected-Last-Subject-Sequence` guards a single subject, so optimistic concurrency
 * on an aggregate needs all its events on one subject. The event type travels in the
 * envelope and in the `Kiln-Type` header.
 */
export interface KilnNames {
  readonly namespace: string;
  readonly streams: {
    /** Build aggregates: `<ns>.build.<buildId>`. */
    readonly builds: string;
    /** Worker aggregates: `<ns>.worker.<workerId>`. */
    readonly workers: string;
    /** Project aggregates: `<ns>.project.<projectId>`. */
    readonly projects: string;
    /** Log chunks: `<ns>.log.<buildId>`. */
    readonly logs: string;
    /** Deploy aggregates: `<ns>.deploy.<deployId>`. */
    readonly deploys: string;
  };
  readonly subjects: {
    build(buildId: string): string;
    readonly allBuilds: string;
    worker(workerId: string): string;
    readonly allWorkers: string;
    project(projectId: string): string;
    readonly allProjects: string;
    log(buildId: string): string;
    readonly allLogs: string;
    deploy(deployId: string): string;
    readonly allDeploys: string;
    /** Core NATS request/reply: scheduler asks pool-manager for a lease. */
    readonly leaseRequest: string;
    /** Core NATS: agents publish heartbeats here (`<ns>.heartbeat.<workerId>`). */
    heartbeat(workerId: string): string;
    readonly allHeartbeats: string;
  };
  /** Durable consumer names (shared by replicas of one service). */
  readonly durables: {
    /** api read models (one durable per stream: NATS 2.9 consumers take one filter). */
    readonly apiBuilds: string;
    readonly apiProjects: string;
    readonly apiWorkers: string;
    /** log-store: archives a build's log when its `end` record arrives. */
    readonly logArchiver: string;
    /** deployer: reacts to `BuildSucceeded` of builds whose pipeline has a `deploy` section. */
    readonly deployerBuilds: string;
    /** git-status: posts each build's commit status to GitHub / GitLab. */
    readonly gitStatusBuilds: string;
  };
  /** Object store bucket names. */
  readonly buckets: {
    readonly logArchive: string;
    readonly cache: string;
    /** KV bucket of build-cache pointers: `<projectId>.<encoded key>` → entry. */
    readonly cacheKeys: string;
    /** KV bucket of API tokens (hashed), by token id. */
    readonly apiTokens: string;
    /** KV bucket holding the pool-manager leader's lease (one replica provisions). */
    readonly poolLeader: string;
  };
}

const NAMESPACE_RE = /^[a-z][a-z0-9_]{0,30}$/;

/** Builds every name for one namespace. Throws on a namespace NATS or PostgreSQL would reject. */
export function kilnNames(namespace = 'kiln'): KilnNames {
  if (!NAMESPACE_RE.test(namespace)) {
    throw new Error(
      `invalid namespace "${namespace}": use 1-31 lower-case letters, digits or _ starting with a letter`,
    );
  }
  const ns = namespace;
  const NS = ns.toUpperCase();
  return {
    namespace: ns,
    streams: {
      builds: `${NS}_BUILDS`,
      workers: `${NS}_WORKERS`,
      projects: `${NS}_PROJECTS`,
      logs: `${NS}_LOGS`,
      deploys: `${NS}_DEPLOYS`,
    },
    subjects: {
      build: (id) => `${ns}.build.${token(id)}`,
      allBuilds: `${ns}.build.*`,
      worker: (id) => `${ns}.worker.${token(id)}`,
      allWorkers: `${ns}.worker.*`,
      project: (id) => `${ns}.project.${token(id)}`,
      allProjects: `${ns}.project.*`,
      log: (id) => `${ns}.log.${token(id)}`,
      allLogs: `${ns}.log.*`,
      deploy: (id) => `${ns}.deploy.${token(id)}`,
      allDeploys: `${ns}.deploy.*`,
      leaseRequest: `${ns}.pool.lease`,
      heartbeat: (id) => `${ns}.heartbeat.${token(id)}`,
      allHeartbeats: `${ns}.heartbeat.*`,
    },
    durables: {
      apiBuilds: `${ns}_api_builds`,
      apiProjects: `${ns}_api_projects`,
      apiWorkers: `${ns}_api_workers`,
      logArchiver: `${ns}_log_archiver`,
      deployerBuilds: `${ns}_deployer_builds`,
      gitStatusBuilds: `${ns}_git_status_builds`,
    },
    buckets: {
      logArchive: `${ns}_log_archive`,
      cache: `${ns}_cache`,
      cacheKeys: `${ns}_cache_keys`,
      apiTokens: `${ns}_api_tokens`,
      poolLeader: `${ns}_pool_leader`,
    },
  };
}

/** The last subject token of an aggregate subject (its id). */
export function idFromSubject(subject: string): string {
  return subject.slice(subject.lastIndexOf('.') + 1);
}

function token(id: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`invalid id "${id}" for a subject token`);
  return id;
}
