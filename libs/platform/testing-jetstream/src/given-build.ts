import { BuildSource } from '@kiln/contracts';
import { JetStreamStore } from './jetstream-store';

/** A commit no test fetches: for builds whose source nothing reads. */
const nowhere: BuildSource = { repoUrl: 'file:///nowhere', ref: 'refs/heads/main', sha: 'a'.repeat(40), branch: 'main', author: null, message: null };

export interface RunningBuild {
  buildId: string;
  projectId: string;
  workerId: string;
  /** Default: a commit at `file:///nowhere`. */
  source?: BuildSource;
  /** Default: null, as for a manual trigger. */
  deliveryId?: string | null;
  /**
   * Also record the worker: provisioned, connected, warm and leased to the build, as the pool
   * does. For specs whose code looks at the worker; without it only the build is recorded.
   */
  leasedWorker?: boolean;
}

/**
 * Records, through the store's commands, a build running its first attempt on `workerId`
 * (requested, queued, assigned, started), as the scheduler and the worker would have.
 */
export async function givenRunningBuild(ns: Pick<JetStreamStore, 'store' | 'aggs' | 'names'>, build: RunningBuild): Promise<void> {
  const { store, aggs, names } = ns;
  const { buildId, projectId, workerId, source = nowhere, deliveryId = null } = build;
  const now = () => new Date().toISOString();
  const w = names.subjects.worker(workerId);
  const b = names.subjects.build(buildId);
  const cause = { correlationId: buildId };
  if (build.leasedWorker) {
    await store.handle(aggs.worker, w, { type: 'ProvisionWorker', workerId, driver: 'process', now: now() }, cause);
    await store.handle(aggs.worker, w, { type: 'ConnectWorker', hostname: 'h', pid: 1, protocolVersion: 1, now: now() }, cause);
    await store.handle(aggs.worker, w, { type: 'MarkWarm', checks: ['git'], now: now() }, cause);
  }
  await store.handle(aggs.build, b, { type: 'RequestBuild', data: { buildId, projectId, trigger: 'manual', deliveryId, source, requestedAt: now() } }, cause);
  await store.handle(aggs.build, b, { type: 'QueueBuild', now: now() }, cause);
  if (build.leasedWorker) {
    await store.handle(aggs.worker, w, { type: 'LeaseWorker', job: { buildId, projectId, attempt: 1, source }, allowCold: false, now: now() }, cause);
  }
  await store.handle(aggs.build, b, { type: 'AssignBuild', workerId, attempt: 1, now: now() }, cause);
  await store.handle(aggs.build, b, { type: 'StartBuild', workerId, attempt: 1, now: now() }, cause);
}
