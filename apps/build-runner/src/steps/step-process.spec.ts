import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStep, type RunStepOptions, type StepOutputLine } from './step-process';

const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir() };

/** True when the process exists and is not a zombie. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitForFile(path: string, timeoutMs = 5000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const text = (await readFile(path, 'utf8')).trim();
      if (text) return text;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${path}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitUntilGone(pid: number, timeoutMs = 3000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe('runStep', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-step-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (script: string, extra: Partial<RunStepOptions> = {}) => {
    const lines: StepOutputLine[] = [];
    const result = await runStep({ run: script, cwd: dir, env, onLine: (l) => lines.push(l), ...extra });
    return { result, lines };
  };

  it('streams many stdout lines in order and succeeds', async () => {
    const { result, lines } = await run('for i in $(seq 1 5000); do echo "line $i"; done');
    expect(result.outcome).toBe('succeeded');
    expect(result.exitCode).toBe(0);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(lines).toHaveLength(5000);
    expect(lines.every((l) => l.stream === 'stdout')).toBe(true);
    expect(lines.map((l) => l.text)).toEqual(Array.from({ length: 5000 }, (_, i) => `line ${i + 1}`));
  });

  it('reports the exit code of a failing command and tags stderr', async () => {
    const { result, lines } = await run('echo out; echo err >&2; exit 3');
    expect(result).toMatchObject({ exitCode: 3, outcome: 'failed' });
    expect(lines).toContainEqual({ stream: 'stdout', text: 'out' });
    expect(lines).toContainEqual({ stream: 'stderr', text: 'err' });
  });

  it('runs with -e and -o pipefail', async () => {
    const e = await run('false; echo not reached');
    expect(e.result).toMatchObject({ exitCode: 1, outcome: 'failed' });
    expect(e.lines).toEqual([]);
    const pipe = await run('false | cat');
    expect(pipe.result.outcome).toBe('failed');
  });

  it('uses exactly the given env and cwd', async () => {
    process.env['KILN_RUNNER_ONLY'] = 'leak';
    try {
      const { lines } = await run('echo "${KILN_RUNNER_ONLY:-unset} $STEP_VAR $(pwd)"', {
        env: { ...env, STEP_VAR: 'hello' },
      });
      expect(lines).toEqual([{ stream: 'stdout', text: `unset hello ${dir}` }]);
    } finally {
      delete process.env['KILN_RUNNER_ONLY'];
    }
  });

  it('flushes a trailing partial line and handles \\r progress output', async () => {
    const { lines } = await run("printf 'a\\r\\nprog 1\\rprog 2\\rdone\\nno newline'");
    expect(lines.map((l) => l.text)).toEqual(['a', 'done', 'no newline']);
  });

  it('splits very long lines instead of dropping them', async () => {
    const { lines } = await run("head -c 150000 /dev/zero | tr '\\0' x; echo");
    expect(lines.map((l) => l.text.length)).toEqual([65536, 65536, 150000 - 2 * 65536]);
  });

  it('times out and kills the whole process group, including grandchildren in background subshells', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const script = `( sleep 30 & echo $! > '${pidFile}'; wait ) & wait`;
    const { result } = await run(script, { timeoutMs: 500, killGraceMs: 500 });
    expect(result.outcome).toBe('timed_out');
    expect(result.exitCode).toBeNull();
    expect(result.durationMs).toBeGreaterThanOrEqual(450);
    expect(result.durationMs).toBeLessThan(5000);
    const pid = Number(await waitForFile(pidFile));
    expect(pid).toBeGreaterThan(0);
    expect(await waitUntilGone(pid)).toBe(true);
  });

  it('SIGKILLs the group after the grace period when SIGTERM is ignored', async () => {
    const { result, lines } = await run("trap '' TERM; echo started; sleep 30", { timeoutMs: 300, killGraceMs: 300 });
    expect(lines).toEqual([{ stream: 'stdout', text: 'started' }]);
    expect(result.outcome).toBe('timed_out');
    expect(result.durationMs).toBeGreaterThanOrEqual(550);
    expect(result.durationMs).toBeLessThan(5000);
  });

  it('is cancelled quickly on abort', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const { result } = await run('sleep 30', { signal: controller.signal });
    expect(result.outcome).toBe('cancelled');
    expect(result.durationMs).toBeLessThan(2000);
  });

  it('does not start when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const { result, lines } = await run('echo should not run', { signal: controller.signal });
    expect(result).toEqual({ exitCode: null, outcome: 'cancelled', durationMs: 0 });
    expect(lines).toEqual([]);
  });

  it('ends background jobs left running when the script exits instead of hanging', async () => {
    const pidFile = join(dir, 'leftover.pid');
    const { result } = await run(`sleep 30 & echo $! > '${pidFile}'; echo done`, { killGraceMs: 500 });
    expect(result).toMatchObject({ exitCode: 0, outcome: 'succeeded' });
    expect(result.durationMs).toBeLessThan(5000);
    expect(await waitUntilGone(Number(await waitForFile(pidFile)))).toBe(true);
  });

  it('reports a missing working directory as a failed step', async () => {
    const { result, lines } = await run('echo hi', { cwd: join(dir, 'does-not-exist') });
    expect(result).toMatchObject({ exitCode: null, outcome: 'failed' });
    expect(lines[0]?.stream).toBe('stderr');
    expect(lines[0]?.text).toContain('failed to start step');
  });
});
