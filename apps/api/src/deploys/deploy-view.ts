import type { ExistingDeploy } from '@kiln/domain';

/** The API shape of a deploy, from its folded state. */
export function deployView(d: ExistingDeploy) {
  return {
    id: d.deployId,
    buildId: d.buildId,
    projectId: d.projectId,
    /** deploying | live | failed | rolled_back */
    status: d.status,
    environment: d.environment,
    sha: d.sha,
    reason: d.reason,
    previousDeployId: d.previousDeployId,
    spec: d.spec,
    startedAt: d.startedAt,
    switchedAt: d.switchedAt,
    finishedAt: d.finishedAt,
    instances: d.instances.map((i) => ({
      id: i.instanceId,
      index: i.index,
      /** warming | warm | failed | stopped (it was stopped with a deploy that did not switch) */
      status: i.status,
      pid: i.pid,
      port: i.port,
      observation: i.observation,
      signalSeen: i.signalSeen,
      warnings: i.warnings,
      reason: i.reason,
      startedAt: i.startedAt,
      warmAt: i.warmAt,
      failedAt: i.failedAt,
    })),
  };
}
