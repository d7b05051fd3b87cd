import { Attr } from '@kiln/contracts';
import { ConfigKeys } from '@kiln/config';
import { DockerApi } from '@kiln/docker';
import { Logger } from '@kiln/telemetry';
import { WorkerDriver } from './driver';
import { AGENT_ENV_ALLOWLIST } from './process-driver';

/** The named volume holding the git mirrors agent containers share, and where they see it. */
export const GIT_MIRROR_VOLUME = 'kiln-git-mirrors';
export const GIT_MIRROR_PATH = '/var/lib/kiln/git-mirrors';
/**
 * The named volume holding V8's code cache of the agent bundle, and where agent containers
 * see it: a container is new for every worker, so a cache written inside it would be lost
 * with it, and every agent would compile its bundle from scratch.
 */
export const CODE_CACHE_VOLUME = 'kiln-agent-code-cache';
export const CODE_CACHE_PATH = '/var/lib/kiln/code-cache';

/**
 * The create request of a worker's agent container: the allowlisted environment (paths
 * inside the container replaced), its worker id and work root, the shared git-mirror
 * volume unless mirrors are off, the shared code-cache volume, removed when it stops.
 */
export function agentContainer(workerId: string, image: string, from: NodeJS.ProcessEnv, network?: string) {
  const hostPaths = new Set<string>(['PATH', 'HOME', ConfigKeys.gitMirrorDir, ConfigKeys.agentCodeCacheDir, 'KILN_SPAN_LOG']);
  const env = AGENT_ENV_ALLOWLIST.filter((k) => !hostPaths.has(k) && from[k] !== undefined).map((k) => `${k}=${from[k]}`);
  env.push(`${ConfigKeys.workerId}=${workerId}`, 'KILN_SERVICE=build-runner', `${ConfigKeys.workRoot}=/var/lib/kiln/workers/${workerId}`);
  const mirrors = from[ConfigKeys.gitMirrorDir] !== 'off';
  env.push(`${ConfigKeys.gitMirrorDir}=${mirrors ? GIT_MIRROR_PATH : 'off'}`, `${ConfigKeys.agentCodeCacheDir}=${CODE_CACHE_PATH}`);
  const codeCache = { Type: 'volume', Source: CODE_CACHE_VOLUME, Target: CODE_CACHE_PATH };
  return {
    Image: image,
    Env: env,
    Labels: { [Attr.workerLabel]: workerId },
    HostConfig: {
      AutoRemove: true,
      NetworkMode: network,
      Init: true,
      Mounts: mirrors ? [{ Type: 'volume', Source: GIT_MIRROR_VOLUME, Target: GIT_MIRROR_PATH }, codeCache] : [codeCache],
    },
  };
}

/**
 * Workers as containers through the Docker Engine API: each agent runs the Kiln image
 * with `KILN_SERVICE=build-runner`, labelled with its worker id; the agent connects out
 * to NATS like any other (no port is published). Containers are removed when they stop.
 */
export class DockerDriver implements WorkerDriver {
  readonly name = 'docker';
  private readonly containers = new Map<string, string>();
  private exitCb: (workerId: string, detail: string) => void = () => undefined;

  constructor(
    private readonly api: DockerApi,
    private readonly image: string,
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly network: string | undefined = process.env.KILN_POOL_DOCKER_NETWORK,
  ) {}

  async start(workerId: string): Promise<void> {
    const created = await this.api.call<{ Id: string; message?: string }>('POST', `/containers/create?name=kiln-worker-${workerId}`, agentContainer(workerId, this.image, this.env, this.network));
    if (created.status !== 201) throw new Error(`docker create for worker ${workerId}: ${created.status} ${created.body?.message ?? ''}`);
    const id = created.body.Id;
    this.containers.set(workerId, id);
    const started = await this.api.call<{ message?: string }>('POST', `/containers/${id}/start`);
    if (started.status !== 204 && started.status !== 304) throw new Error(`docker start for worker ${workerId}: ${started.status} ${started.body?.message ?? ''}`);
    // wait for the container's exit in the background
    void this.api
      .call<{ StatusCode?: number }>('POST', `/containers/${id}/wait?condition=removed`, undefined, { timeoutMs: 0 })
      .then((r) => {
        this.containers.delete(workerId);
        this.exitCb(workerId, `container exited with code ${r.body?.StatusCode ?? 'unknown'}`);
      })
      .catch((e) => this.log.warn('docker wait failed', { workerId, err: e as Error }));
  }

  async stop(workerId: string): Promise<void> {
    const id = this.containers.get(workerId);
    if (!id) return;
    await this.api.call('POST', `/containers/${id}/stop?t=5`).catch(() => undefined);
  }

  onExit(cb: (workerId: string, detail: string) => void): void {
    this.exitCb = cb;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.containers.keys()].map((id) => this.stop(id)));
  }
}
