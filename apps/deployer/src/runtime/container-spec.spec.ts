import { Attr, type DeploySpec } from '@kiln/contracts';
import { containerName, createContainerBody, demuxLogs, exitReasonOf, hostPortOf } from './container-spec';
import { runtimeKindOf } from './instance-runtime';

const spec = (s: Partial<DeploySpec> = {}): DeploySpec => ({
  environment: 'shop',
  start: null,
  image: 'ghcr.io/acme/shop:1.4',
  instances: 2,
  warmup: { paths: ['/'], hostName: null, header: 'X-AppInit-WarmingUp', timeoutMs: 600_000, maxTimeoutMs: 1_500_000, requestTimeoutMs: 10_000 },
  ...s,
});

describe('the runtime of a deploy section', () => {
  it('image → docker; start alone → process', () => {
    expect(runtimeKindOf(spec())).toBe('docker');
    expect(runtimeKindOf(spec({ start: 'node server.js' }))).toBe('docker');
    expect(runtimeKindOf(spec({ image: null, start: 'node server.js' }))).toBe('process');
  });
});

describe('container request of an instance', () => {
  const body = createContainerBody({ instanceId: 'd-abc-2', deployId: 'd-abc', spec: spec(), env: { KILN_ENVIRONMENT: 'shop', KILN_INSTANCE_INDEX: '2' } });

  it('runs the image with PORT, the KILN_* variables and its instance id', () => {
    expect(body.Image).toBe('ghcr.io/acme/shop:1.4');
    expect(body.Env).toEqual(['KILN_ENVIRONMENT=shop', 'KILN_INSTANCE_INDEX=2', 'PORT=8080', 'KILN_INSTANCE_ID=d-abc-2', 'KILN_DEPLOY_ID=d-abc']);
    expect(body).not.toHaveProperty('Cmd'); // the image's own command
  });

  it('publishes the port on 127.0.0.1 only, on a free port the engine picks', () => {
    expect(body.ExposedPorts).toEqual({ '8080/tcp': {} });
    expect(body.HostConfig).toEqual({
      PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
      Init: true,
      RestartPolicy: { Name: 'no' },
    });
  });

  it('labels it so a restarted deployer finds it; its name derives from the instance', () => {
    expect(body.Labels).toEqual({ [Attr.instanceLabel]: 'd-abc-2', [Attr.deployLabel]: 'd-abc', [Attr.environmentLabel]: 'shop' });
    expect(containerName('d-abc-2')).toBe('kiln-d-abc-2');
  });

  it('runs deploy.start as the command when the section has both', () => {
    const withStart = createContainerBody({ instanceId: 'd-abc-1', deployId: 'd-abc', spec: spec({ start: 'node server.js --port $PORT' }), env: {} });
    expect(withStart.Cmd).toEqual(['sh', '-c', 'node server.js --port $PORT']);
  });

  it('refuses a section without an image', () => {
    expect(() => createContainerBody({ instanceId: 'x-1', deployId: 'x', spec: spec({ image: null, start: 'x' }), env: {} })).toThrow('the deploy has no image');
  });
});

describe('what the engine says of a container', () => {
  const state = { Running: true, Pid: 4242, ExitCode: 0 };

  it('finds the host port published on 127.0.0.1', () => {
    expect(hostPortOf({ Id: 'c', State: state, NetworkSettings: { Ports: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '49153' }] } } })).toBe(49153);
    expect(hostPortOf({ Id: 'c', State: state, NetworkSettings: { Ports: { '8080/tcp': null } } })).toBeNull();
    expect(hostPortOf({ Id: 'c', State: state })).toBeNull();
  });

  it('says why it ended in the words of the process runtime', () => {
    expect(exitReasonOf({ Running: false, Pid: 0, ExitCode: 3 })).toBe('exited with code 3');
    expect(exitReasonOf({ Running: false, Pid: 0, ExitCode: 137 })).toBe('killed by SIGKILL');
    expect(exitReasonOf({ Running: false, Pid: 0, ExitCode: 137, OOMKilled: true })).toBe('killed: out of memory');
    expect(exitReasonOf({ Running: false, Pid: 0, ExitCode: 127, Error: 'exec: "node": executable file not found in $PATH' })).toBe(
      'could not run: exec: "node": executable file not found in $PATH',
    );
  });

  it('reads the multiplexed log stream of a container without a TTY', () => {
    const frame = (stream: number, text: string) => {
      const payload = Buffer.from(text);
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(payload.length, 4);
      return Buffer.concat([header, payload]);
    };
    const buf = Buffer.concat([frame(1, 'listening on 8080\n'), frame(2, 'warn: cold cache\nboom'), frame(2, ' at start\n')]);
    expect(demuxLogs(buf)).toEqual(['listening on 8080', 'warn: cold cache', 'boom at start']);
    expect(demuxLogs(Buffer.alloc(0))).toEqual([]);
  });
});
