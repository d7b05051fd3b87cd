import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_BUNDLE, AGENT_START, agentCommand, workspaceRoot } from './process-driver';

describe('the agent the process driver starts', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'kiln-agent-cmd-'));
    mkdirSync(join(root, 'dist', 'agent'), { recursive: true });
    writeFileSync(join(root, 'dist', '.tsbuildinfo'), '{}');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is the bundle when the build made one, else the compiled sources through the path mapping', () => {
    expect(agentCommand(root)).toEqual(['-r', join(root, 'tools', 'register-paths.js'), join(root, 'dist/apps/build-runner/src/main.js')]);
    writeFileSync(join(root, AGENT_BUNDLE), '');
    expect(agentCommand(root)).toEqual([join(root, AGENT_BUNDLE)]);
    // through its code-cache loader when the build left one beside it
    writeFileSync(join(root, AGENT_START), '');
    expect(agentCommand(root)).toEqual([join(root, AGENT_START)]);
  });

  it('is not a bundle older than the last compile (tsc run alone would leave it stale)', () => {
    writeFileSync(join(root, AGENT_BUNDLE), '');
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(root, AGENT_BUNDLE), past, past);
    expect(agentCommand(root)[0]).toBe('-r');
  });

  it("the build's bundle loads every module the agent needs (it stops only at the missing worker id)", () => {
    const [start] = agentCommand(workspaceRoot());
    expect(start).toBe(join(workspaceRoot(), AGENT_START));
    const r = spawnSync(process.execPath, [start], { env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr + r.stdout).toContain('KILN_WORKER_ID is not set');
    expect(r.stderr + r.stdout).not.toMatch(/Cannot find module/);
  });
});
