import { parseDeploy, parsePipeline, type PipelineError } from './pipeline';

const STEPS = 'steps:\n  - name: build\n    run: npm ci\n';

function errorOf(text: string): PipelineError {
  const r = parseDeploy(text);
  if (r.ok) throw new Error(`expected an error, got ${JSON.stringify(r.deploy)}`);
  return r.error;
}

describe('parseDeploy', () => {
  it('reads a full deploy section, durations in ms', () => {
    const r = parseDeploy(
      [
        STEPS + 'deploy:',
        '  environment: staging',
        '  start: node server.js',
        '  instances: 3',
        '  warmup:',
        '    paths: [/, /health]',
        '    hostName: app.example.com',
        '    header: X-Warming',
        '    timeout: 2m',
        '    maxTimeout: 5m',
        '    requestTimeout: 3s',
      ].join('\n'),
    );
    expect(r).toEqual({
      ok: true,
      deploy: {
        environment: 'staging',
        start: 'node server.js',
        image: null,
        instances: 3,
        warmup: { paths: ['/', '/health'], hostName: 'app.example.com', header: 'X-Warming', timeoutMs: 120_000, maxTimeoutMs: 300_000, requestTimeoutMs: 3000 },
      },
    });
  });

  it('applies the defaults: 2 instances, /, X-AppInit-WarmingUp, 10m, 25m', () => {
    expect(parseDeploy(`${STEPS}deploy:\n  environment: prod\n  start: ./run.sh\n`)).toEqual({
      ok: true,
      deploy: {
        environment: 'prod',
        start: './run.sh',
        image: null,
        instances: 2,
        warmup: { paths: ['/'], hostName: null, header: 'X-AppInit-WarmingUp', timeoutMs: 600_000, maxTimeoutMs: 1_500_000, requestTimeoutMs: 10_000 },
      },
    });
  });

  it('raises maxTimeout with a timeout above its default', () => {
    const r = parseDeploy(`${STEPS}deploy:\n  environment: prod\n  start: x\n  warmup:\n    timeout: 40m\n`);
    expect(r).toMatchObject({ ok: true, deploy: { warmup: { timeoutMs: 2_400_000, maxTimeoutMs: 2_400_000 } } });
  });

  it('accepts an image (the runtime decides whether it can run it)', () => {
    expect(parseDeploy(`${STEPS}deploy:\n  environment: prod\n  image: ghcr.io/acme/app:1\n`)).toMatchObject({
      ok: true,
      deploy: { start: null, image: 'ghcr.io/acme/app:1' },
    });
  });

  it('is null without a deploy section', () => {
    expect(parseDeploy(STEPS)).toEqual({ ok: true, deploy: null });
  });

  it('leaves the build untouched: parsePipeline reads the steps of the same file', () => {
    const text = `${STEPS}deploy:\n  environment: prod\n  start: node server.js\n`;
    expect(parsePipeline(text)).toEqual({ ok: true, pipeline: { timeoutMs: 20 * 60 * 1000, steps: [{ name: 'build', run: 'npm ci', env: {} }] } });
  });

  describe('errors with line and column', () => {
    it('names an unknown key and the allowed ones', () => {
      expect(errorOf(`${STEPS}deploy:\n  environment: prod\n  start: x\n  target: prod\n`)).toEqual({
        line: 7,
        column: 3,
        message: "deploy: unknown key 'target' (allowed: environment, start, image, instances, warmup)",
      });
      expect(errorOf(`${STEPS}deploy:\n  environment: prod\n  start: x\n  warmup:\n    path: /\n`)).toEqual({
        line: 8,
        column: 5,
        message: "deploy.warmup: unknown key 'path' (allowed: paths, hostName, header, timeout, maxTimeout, requestTimeout)",
      });
    });

    it('needs an environment and something to start', () => {
      expect(errorOf(`${STEPS}deploy:\n  start: x\n`)).toEqual({ line: 5, column: 3, message: "deploy: missing required key 'environment'" });
      expect(errorOf(`${STEPS}deploy:\n  environment: prod\n`)).toEqual({
        line: 5,
        column: 3,
        message: "deploy: needs 'start' (a shell command that starts one instance listening on $PORT) or 'image'",
      });
    });

    it('rejects an environment that is not a DNS label', () => {
      const e = errorOf(`${STEPS}deploy:\n  environment: Prod_1\n  start: x\n`);
      expect(e).toEqual({ line: 5, column: 16, message: 'deploy.environment: lower-case letters, digits and -, at most 63 characters (a DNS label)' });
    });

    it('checks instances', () => {
      expect(errorOf(`${STEPS}deploy:\n  environment: prod\n  start: x\n  instances: 0\n`)).toEqual({ line: 7, column: 14, message: 'deploy.instances: must be at least 1' });
      expect(errorOf(`${STEPS}deploy:\n  environment: prod\n  start: x\n  instances: 1.5\n`).message).toBe('deploy.instances: must be a whole number');
      expect(errorOf(`${STEPS}deploy:\n  environment: prod\n  start: x\n  instances: two\n`).message).toBe('deploy.instances: expected a number, got a string');
    });

    it('checks warm-up paths, header and durations', () => {
      const w = (body: string) => `${STEPS}deploy:\n  environment: prod\n  start: x\n  warmup:\n${body}`;
      expect(errorOf(w('    paths: [/, health]\n'))).toEqual({ line: 8, column: 16, message: "deploy.warmup.paths[1]: must be a path starting with '/' (no spaces)" });
      expect(errorOf(w('    paths: []\n')).message).toBe('deploy.warmup.paths: must contain at least one path');
      expect(errorOf(w('    header: "X Warm"\n')).message).toBe('deploy.warmup.header: must be an HTTP header name');
      expect(errorOf(w('    timeout: soon\n')).message).toMatch(/^deploy\.warmup\.timeout: invalid duration "soon"/);
      expect(errorOf(w('    timeout: 10m\n    maxTimeout: 5m\n'))).toEqual({ line: 9, column: 17, message: 'deploy.warmup.maxTimeout: must be at least timeout' });
    });

    it('reports a deploy section that is not a mapping', () => {
      expect(errorOf(`${STEPS}deploy: prod\n`)).toEqual({ line: 4, column: 9, message: 'deploy: expected a mapping, got a string' });
    });
  });
});
