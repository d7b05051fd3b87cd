import { Attr } from '@kiln/contracts';
import { agentContainer, CODE_CACHE_PATH, CODE_CACHE_VOLUME, GIT_MIRROR_PATH, GIT_MIRROR_VOLUME } from './docker-driver';

describe('agentContainer (the docker driver create request)', () => {
  const from = {
    PATH: '/usr/bin',
    HOME: '/root',
    NATS_URL: 'nats://nats:4222',
    KILN_SECRET_KEY: 'k',
    KILN_GIT_MIRROR_DIR: '/var/lib/kiln/host-mirrors',
    KILN_AGENT_CODE_CACHE_DIR: '/srv/host-cache',
    DATABASE_URL: 'postgres://leaks',
  };

  it('passes the allowlist only, sets identity and work root, and mounts the shared git mirrors and code cache', () => {
    const c = agentContainer('w1', 'kiln:latest', from, 'kiln_default');
    expect(c.Image).toBe('kiln:latest');
    expect(c.Env).toEqual([
      'NATS_URL=nats://nats:4222',
      'KILN_SECRET_KEY=k',
      'KILN_WORKER_ID=w1',
      'KILN_SERVICE=build-runner',
      'KILN_WORK_ROOT=/var/lib/kiln/workers/w1',
      `KILN_GIT_MIRROR_DIR=${GIT_MIRROR_PATH}`,
      `KILN_AGENT_CODE_CACHE_DIR=${CODE_CACHE_PATH}`,
    ]);
    expect(c.Labels).toEqual({ [Attr.workerLabel]: 'w1' });
    expect(c.HostConfig).toEqual({ AutoRemove: true, NetworkMode: 'kiln_default', Init: true, Mounts: [
        { Type: 'volume', Source: GIT_MIRROR_VOLUME, Target: GIT_MIRROR_PATH },
        // every new container starts from the code cache an earlier one wrote
        { Type: 'volume', Source: CODE_CACHE_VOLUME, Target: CODE_CACHE_PATH },
      ],
    });
  });

  it('mounts no mirrors and tells the agent when mirrors are off', () => {
    const c = agentContainer('w2', 'kiln:latest', { ...from, KILN_GIT_MIRROR_DIR: 'off' });
    expect(c.Env).toContain('KILN_GIT_MIRROR_DIR=off');
    expect(c.HostConfig.Mounts).toEqual([{ Type: 'volume', Source: CODE_CACHE_VOLUME, Target: CODE_CACHE_PATH }]);
  });
});
