import { Attr, type DeploySpec } from '@kiln/contracts';

/** Port the app listens on inside its container (`PORT`); published on a free port of 127.0.0.1. */
export const CONTAINER_PORT = 8080;

/** Labels of instance containers: found again by them after a restart. */
export const CONTAINER_LABELS = {
  instance: Attr.instanceLabel,
  deploy: Attr.deployLabel,
  environment: Attr.environmentLabel,
} as const;

/** The container of an instance has a name derived from its id, so a restarted deployer finds it. */
export function containerName(instanceId: string): string {
  return `kiln-${instanceId}`;
}

export interface ContainerRequest {
  instanceId: string;
  deployId: string;
  spec: DeploySpec;
  /** `KILN_*` variables. */
  env: Record<string, string>;
}

/**
 * The body of `POST /containers/create` for one instance: the image; `deploy.start`, when the
 * section has both, as its command (`sh -c`); `PORT` and the `KILN_*` variables; the port
 * published on 127.0.0.1 only, the engine choosing a free host port; an init process (so the
 * app gets SIGTERM on stop); labels naming the instance, its deploy and environment.
 */
export function createContainerBody(req: ContainerRequest): Record<string, unknown> {
  if (!req.spec.image) throw new Error('createContainerBody: the deploy has no image');
  const env = { ...req.env, PORT: String(CONTAINER_PORT), KILN_INSTANCE_ID: req.instanceId, KILN_DEPLOY_ID: req.deployId };
  const port = `${CONTAINER_PORT}/tcp`;
  return {
    Image: req.spec.image,
    ...(req.spec.start ? { Cmd: ['sh', '-c', req.spec.start] } : {}),
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ExposedPorts: { [port]: {} },
    Labels: {
      [CONTAINER_LABELS.instance]: req.instanceId,
      [CONTAINER_LABELS.deploy]: req.deployId,
      [CONTAINER_LABELS.environment]: req.spec.environment,
    },
    HostConfig: {
      PortBindings: { [port]: [{ HostIp: '127.0.0.1', HostPort: '' }] },
      Init: true,
      RestartPolicy: { Name: 'no' },
    },
  };
}

/** What Kiln reads of `GET /containers/{id}/json`. */
export interface ContainerInspect {
  Id: string;
  State: { Running: boolean; Status?: string; Pid: number; ExitCode: number; OOMKilled?: boolean; Error?: string };
  NetworkSettings?: { Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> | null };
  Config?: { Labels?: Record<string, string> | null };
}

/** The host port the instance's port is published on (127.0.0.1), or null when it is not (yet). */
export function hostPortOf(inspect: ContainerInspect): number | null {
  const bindings = inspect.NetworkSettings?.Ports?.[`${CONTAINER_PORT}/tcp`] ?? [];
  const b = bindings.find((x) => x.HostIp === '127.0.0.1') ?? bindings[0];
  const port = b ? Number(b.HostPort) : NaN;
  return Number.isInteger(port) && port > 0 ? port : null;
}

/** Why a container ended, in the words of the process runtime (`exited with code 3`, `killed by SIGKILL`). */
export function exitReasonOf(state: ContainerInspect['State']): string {
  if (state.OOMKilled) return 'killed: out of memory';
  if (state.Error) return `could not run: ${state.Error}`;
  // 128 + n: the main process was killed by signal n
  if (state.ExitCode === 137) return 'killed by SIGKILL';
  if (state.ExitCode === 143) return 'killed by SIGTERM';
  return `exited with code ${state.ExitCode}`;
}

/**
 * The lines of `GET /containers/{id}/logs` of a container without a TTY: frames of an
 * 8-byte header (stream, 3 zero bytes, big-endian length) and the payload.
 */
export function demuxLogs(buf: Buffer): string[] {
  let text = '';
  let at = 0;
  while (at + 8 <= buf.length) {
    const len = buf.readUInt32BE(at + 4);
    text += buf.subarray(at + 8, Math.min(buf.length, at + 8 + len)).toString('utf8');
    at += 8 + len;
  }
  return text.split(/\r?\n/).filter((l) => l.trim() !== '');
}
