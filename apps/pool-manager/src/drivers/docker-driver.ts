import { Attr } from '@kiln/contracts';
import { request } from 'node:http';
import { ConfigKeys } from '@kiln/config';
import { Logger } from '@kiln/telemetry';
import { WorkerDriver } from './driver';
import { AGENT_ENV_ALLOWLIST } from './process-driver';

/** A minimal Docker Engine API client over its unix socket (no extra dependency). */
export class DockerApi {
  constructor(private readonly socketPath: string) {}

  call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        { socketPath: this.socketPath, method, path: `/v1.41${path}`, headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : null;
            } catch {
              /* plain text */
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
        },
      );
      req.on('error', reject);
      req.setTimeout(30_000, () => req.destroy(new Error(`docker ${method} ${path} timed out`)));
      if (data) req.write(data);
      req.end();
    });
  }

  /** Whether an engine answers on the socket. */
  async ping(): Promise<boolean> {
    try {
      return (await this.call('GET', '/_ping')).status === 200;
    } catch {
      return false;
    }
  }
}

/**
 * Workers as containers through the Docker Engine API: each agent runs the Kiln image
 * with `KILN_SERVICE=build-runner`, labelled with its worker id; the agent connects out
 * to NATS like any other (no port is published). Containers are removed when they stop.
 */
/** The named volume holding the git mirrors agent containers share, and where they see it. */
export const GIT_MIRROR_VOLUME = 'kiln-git-mirrors';
export const GIT_MIRROR_PATH = '/var/lib/kiln/git-mirrors';

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
    const env = AGENT_ENV_ALLOWLIST.filter((k) => k !== 'PATH' && k !== 'HOME' && this.env[k] !== undefined).map((k) => `${k}=${this.env[k]}`);
    env.push(`${ConfigKeys.workerId}=${workerId}`, 'KILN_SERVICE=build-runner', `${ConfigKeys.workRoot}=/var/lib/kiln/workers/${workerId}`);
    // the host's git mirrors: one named volume every agent container shares (see GitMirrors)
    const mirrors = this.env[ConfigKeys.gitMirrorDir] === 'off' ? null : GIT_MIRROR_VOLUME;
    if (mirrors) env.push(`${ConfigKeys.gitMirrorDir}=${GIT_MIRROR_PATH}`);
    const created = await this.api.call<{ Id: string; message?: string }>('POST', `/containers/create?name=kiln-worker-${workerId}`, {
      Image: this.image,
      Env: env,
      Labels: { [Attr.workerLabel]: workerId },
      HostConfig: {
        AutoRemove: true,
        NetworkMode: this.network,
        Init: true,
        Mounts: mirrors ? [{ Type: 'volume', Source: mirrors, Target: GIT_MIRROR_PATH }] : [],
      },
    });
    if (created.status !== 201) throw new Error(`docker create for worker ${workerId}: ${created.status} ${created.body?.message ?? ''}`);
    const id = created.body.Id;
    this.containers.set(workerId, id);
    const started = await this.api.call<{ message?: string }>('POST', `/containers/${id}/start`);
    if (started.status !== 204 && started.status !== 304) throw new Error(`docker start for worker ${workerId}: ${started.status} ${started.body?.message ?? ''}`);
    // wait for the container's exit in the background
    void this.api
      .call<{ StatusCode?: number }>('POST', `/containers/${id}/wait?condition=removed`)
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
