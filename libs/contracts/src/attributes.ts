/** Span attribute and label names Kiln uses, defined once (like subjects). */
export const Attr = {
  buildId: 'kiln.build.id',
  projectId: 'kiln.project.id',
  workerId: 'kiln.worker.id',
  attempt: 'kiln.attempt',
  retryOf: 'kiln.retry.of',
  /** The commit a push built (OpenTelemetry's VCS semantic convention). */
  commitSha: 'vcs.ref.head.revision',
  eventType: 'kiln.event.type',
  commandType: 'kiln.command.type',
  /** How a worker checked out a build's commit: from the host's git mirror or fetched directly. */
  checkoutVia: 'kiln.checkout.via',
  /** How long starting a git process held the service's event loop (fork, then the wait for exec), in ms. */
  gitSpawnMs: 'kiln.git.spawn_ms',
  /** Size of the build-cache archive a restore reads, in bytes. */
  cacheBytes: 'kiln.cache.bytes',
  /** Docker label naming a worker container. */
  workerLabel: 'kiln.worker',
  /** Docker labels of a deployed instance's container: its instance, deploy and environment. */
  instanceLabel: 'kiln.instance',
  deployLabel: 'kiln.deploy',
  environmentLabel: 'kiln.environment',
} as const;
