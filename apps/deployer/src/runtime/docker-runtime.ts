import { appendFile } from 'node:fs/promises';
import type { DeploySpec } from '@kiln/contracts';
import { DockerApi, messageOf } from '@kiln/docker';
import { Logger } from '@kiln/telemetry';
import { CONTAINER_LABELS, ContainerInspect, containerName, createContainerBody, demuxLogs, exitReasonOf, hostPortOf } from './container-spec';
import { ExitCallback, InstanceRef, InstanceRuntime, RunningInstance, StartInstanceRequest } from './instance-runtime';

const TAIL_LINES = 3;
/** Lines of a container's output copied to the instance's log file when it ends. */
const LOG_LINES_KEPT = 2000;

export interface DockerRuntimeOptions {
  log?: Logger;
  /** Longest an image pull may take. */
  pullTimeoutMs?: number;
  /** Pause before asking again after a `wait` on a container failed (the engine restarted). */
  rewaitMs?: number;
}

/**
 * The docker runtime: `deploy.image` runs as a container through the Docker Engine API (no
 * docker CLI): created with `PORT`, its port published on a free port of 127.0.0.1, an init
 * process, named `kiln-<instanceId>` and labelled with its instance, deploy and environment.
 * A missing image is pulled. Its end is noticed by `POST /containers/{id}/wait`; then its
 * output goes to the instance's log file and the container is removed. A deploy with an image
 * on a deployer whose engine does not answer fails at once, saying so.
 */
export class DockerRuntime implements InstanceRuntime {
  readonly kind = 'docker';

  constructor(
    private readonly api: DockerApi,
    private readonly opts: DockerRuntimeOptions = {},
  ) {}

  async unavailable(spec: DeploySpec): Promise<string | null> {
    if (!spec.image) return 'the docker runtime runs deploy.image, and this deploy has none';
    if (!(await this.api.ping())) return `deploy.image (${spec.image}) needs a Docker engine, and none answers at ${this.api.address} (set DOCKER_HOST)`;
    return null;
  }

  async start(req: StartInstanceRequest): Promise<RunningInstance> {
    const name = containerName(req.instanceId);
    // a container of this name is left over from a start that did not finish: it goes
    await this.remove(name);
    const body = createContainerBody({ instanceId: req.instanceId, deployId: req.deployId, spec: req.spec, env: req.env });
    const create = () => this.api.call<{ Id?: string; message?: string }>('POST', `/containers/create?name=${encodeURIComponent(name)}`, body);
    let created = await create();
    if (created.status === 404) {
      this.opts.log?.info('pulling image', { image: req.spec.image, instanceId: req.instanceId });
      await this.api.pull(req.spec.image!, this.opts.pullTimeoutMs);
      created = await create();
    }
    if (created.status !== 201 || !created.body?.Id) throw new Error(`docker create ${req.spec.image}: ${created.status} ${messageOf(created.body)}`);
    const id = created.body.Id;
    try {
      const started = await this.api.call('POST', `/containers/${id}/start`);
      if (started.status !== 204 && started.status !== 304) throw new Error(`docker start ${req.spec.image}: ${started.status} ${messageOf(started.body)}`);
      const inspect = await this.inspect(id);
      const port = inspect && hostPortOf(inspect);
      if (!inspect || !port) throw new Error(`container ${name} has no port published on 127.0.0.1 (state: ${inspect?.State.Status ?? 'gone'})`);
      if (!inspect.State.Running) throw new Error(`container ${name} ${exitReasonOf(inspect.State)}`);
      return new ContainerInstance(this.api, id, req.instanceId, req.deployId, inspect.State.Pid, port, req.logFile, this.opts);
    } catch (e) {
      await this.remove(id);
      throw e;
    }
  }

  async adopt(ref: InstanceRef): Promise<RunningInstance | null> {
    const inspect = await this.inspect(containerName(ref.instanceId));
    if (!inspect) return null;
    if (!inspect.State.Running) {
      await this.remove(inspect.Id);
      return null;
    }
    return new ContainerInstance(this.api, inspect.Id, ref.instanceId, ref.deployId, inspect.State.Pid, hostPortOf(inspect) ?? ref.port, null, this.opts);
  }

  async reap(ref: Pick<InstanceRef, 'instanceId'>, graceMs: number): Promise<void> {
    const name = containerName(ref.instanceId);
    await this.api.call('POST', `/containers/${name}/stop?t=${Math.ceil(graceMs / 1000)}`, undefined, { timeoutMs: graceMs + 30_000 });
    await this.remove(name);
  }

  async strays(deployIds: ReadonlySet<string>): Promise<Pick<InstanceRef, 'instanceId' | 'deployId' | 'pid'>[]> {
    // no engine, no container: nothing to look for (and nothing to wait for at start)
    if (!(await this.api.ping())) return [];
    const filters = encodeURIComponent(JSON.stringify({ label: [CONTAINER_LABELS.deploy] }));
    const r = await this.api.call<{ Labels?: Record<string, string> }[]>('GET', `/containers/json?all=true&filters=${filters}`);
    if (r.status !== 200 || !Array.isArray(r.body)) throw new Error(`docker list containers: ${r.status} ${messageOf(r.body)}`);
    return r.body
      .map((c) => ({ deployId: c.Labels?.[CONTAINER_LABELS.deploy] ?? '', instanceId: c.Labels?.[CONTAINER_LABELS.instance] ?? '', pid: 0 }))
      .filter((c) => c.instanceId && deployIds.has(c.deployId));
  }

  private async inspect(idOrName: string): Promise<ContainerInspect | null> {
    const r = await this.api.call<ContainerInspect>('GET', `/containers/${encodeURIComponent(idOrName)}/json`);
    if (r.status === 404) return null;
    if (r.status !== 200) throw new Error(`docker inspect ${idOrName}: ${r.status} ${messageOf(r.body)}`);
    return r.body;
  }

  /** Removes a container (stopping it first if it runs); one that does not exist is fine. */
  private async remove(idOrName: string): Promise<void> {
    const r = await this.api.call('DELETE', `/containers/${encodeURIComponent(idOrName)}?force=true`);
    if (r.status !== 204 && r.status !== 404 && r.status !== 409) throw new Error(`docker remove ${idOrName}: ${r.status} ${messageOf(r.body)}`);
  }
}

/** One instance container. Its end (a crash, or Kiln stopping it) is noticed by the engine's `wait`. */
export class ContainerInstance implements RunningInstance {
  stopping = false;
  private readonly callbacks: ExitCallback[] = [];
  private exitReason: string | null = null;
  private readonly exited: Promise<void>;

  constructor(
    private readonly api: DockerApi,
    readonly containerId: string,
    readonly instanceId: string,
    readonly deployId: string,
    readonly pid: number,
    readonly port: number,
    /** Where its output is copied when it ends (null: an adopted one, whose file is not known). */
    private readonly logFile: string | null,
    private readonly opts: DockerRuntimeOptions,
  ) {
    this.exited = this.watch();
  }

  onExit(cb: ExitCallback): void {
    if (this.exitReason !== null) cb(this.exitReason);
    else this.callbacks.push(cb);
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.exitReason !== null) return;
    // the engine sends SIGTERM, then SIGKILL after t seconds
    await this.api
      .call('POST', `/containers/${this.containerId}/stop?t=${Math.ceil(graceMs / 1000)}`, undefined, { timeoutMs: graceMs + 30_000 })
      .catch((e: Error) => this.opts.log?.warn('docker stop failed', { instanceId: this.instanceId, reason: e.message }));
    await this.exited;
  }

  /** Waits for the container to stop, then reports why, keeps its output and removes it. */
  private async watch(): Promise<void> {
    for (;;) {
      try {
        const r = await this.api.call<{ StatusCode?: number }>('POST', `/containers/${this.containerId}/wait?condition=not-running`, undefined, { timeoutMs: 0 });
        if (r.status === 200 || r.status === 404) break;
      } catch {
        // the engine went away for a moment: ask again
      }
      if (!(await this.running())) break;
      await new Promise((r) => setTimeout(r, this.opts.rewaitMs ?? 1000));
    }
    let reason = 'container gone';
    try {
      const inspect = await this.api.call<ContainerInspect>('GET', `/containers/${this.containerId}/json`);
      if (inspect.status === 200) reason = exitReasonOf(inspect.body.State);
      const logs = await this.api.raw('GET', `/containers/${this.containerId}/logs?stdout=true&stderr=true&tail=${LOG_LINES_KEPT}`);
      const lines = logs.status === 200 ? demuxLogs(logs.body) : [];
      if (this.logFile && lines.length) await appendFile(this.logFile, lines.join('\n') + '\n').catch(() => undefined);
      const last = this.stopping ? '' : lines.slice(-TAIL_LINES).map((l) => (l.length > 300 ? l.slice(0, 300) + '…' : l)).join(' | ');
      if (last) reason += ` (last output: ${last})`;
      await this.api.call('DELETE', `/containers/${this.containerId}?force=true`);
    } catch (e) {
      this.opts.log?.warn('cannot read or remove an ended container', { instanceId: this.instanceId, reason: (e as Error).message });
    }
    this.exitReason = reason;
    for (const cb of this.callbacks) cb(reason);
  }

  private async running(): Promise<boolean> {
    try {
      const r = await this.api.call<ContainerInspect>('GET', `/containers/${this.containerId}/json`);
      return r.status === 200 && r.body.State.Running;
    } catch {
      return true; // no answer: assume it still runs and ask again
    }
  }
}
