import type { DeploySpec } from '@kiln/contracts';

/** Why an instance ended: `exited with code 1 (last output: ...)`, `killed by SIGKILL`. */
export type ExitCallback = (reason: string) => void;

/** One running instance of a release, listening on `127.0.0.1:port` of this machine. */
export interface RunningInstance {
  readonly instanceId: string;
  readonly deployId: string;
  /** Its main process on this machine (a process group leader; a container's init). */
  readonly pid: number;
  readonly port: number;
  /** Set once Kiln itself is stopping it: its exit is expected, not a crash. */
  readonly stopping: boolean;
  /** Called once when it ends (also when Kiln stopped it; check `stopping`). */
  onExit(cb: ExitCallback): void;
  /** Asks it to end, forces it after `graceMs`; resolves when it is gone (and its resources removed). */
  stop(graceMs: number): Promise<void>;
}

/** An instance as the deploy's events recorded it (`InstanceStarted`). */
export interface InstanceRef {
  instanceId: string;
  deployId: string;
  pid: number;
  port: number;
}

/** What a runtime needs to start one instance. */
export interface StartInstanceRequest {
  instanceId: string;
  deployId: string;
  spec: DeploySpec;
  /** The release checkout (the process runtime's working directory). */
  releaseDir: string;
  /** Where the instance's output goes. */
  logFile: string;
  /** `KILN_*` variables; the runtime adds `PORT` and `KILN_INSTANCE_ID`. */
  env: Record<string, string>;
}

/** The runtimes: `process` runs `deploy.start` on this machine, `docker` runs `deploy.image`. */
export type RuntimeKind = 'process' | 'docker';

/** The runtime that runs a deploy section: `image` needs docker; otherwise `start` runs as a process. */
export function runtimeKindOf(spec: DeploySpec): RuntimeKind {
  return spec.image ? 'docker' : 'process';
}

/**
 * Starts, finds and stops instances of one kind. Instances outlive a deployer that is killed:
 * its next run {@link adopt}s the live ones and {@link reap}s the rest, found by what the
 * deploy events recorded and by {@link strays} (instances a killed deployer started but had not
 * recorded yet).
 */
export interface InstanceRuntime {
  readonly kind: RuntimeKind;
  /** Why this runtime cannot run `spec` here (null: it can). Checked before a deploy starts anything. */
  unavailable(spec: DeploySpec): Promise<string | null>;
  /** Starts an instance listening on a free port of 127.0.0.1; throws (with the reason) when it cannot. */
  start(req: StartInstanceRequest): Promise<RunningInstance>;
  /** The instance, if it still runs (an earlier run of the deployer started it); null when it is gone. */
  adopt(ref: InstanceRef): Promise<RunningInstance | null>;
  /** Stops an instance no deployer owns any more (asked to end, forced after `graceMs`); fine when it is gone. */
  reap(ref: Pick<InstanceRef, 'instanceId' | 'deployId' | 'pid'>, graceMs: number): Promise<void>;
  /** Instances of these deploys that run now, recorded or not. */
  strays(deployIds: ReadonlySet<string>): Promise<Pick<InstanceRef, 'instanceId' | 'deployId' | 'pid'>[]>;
}
