import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workspaceRoot } from './process-driver';

/**
 * tools/agent-start.js, beside a stand-in bundle that reports what the loader gave it and
 * asks for the cache to be written, as the agent does after its build.
 */
describe('the agent loader (V8 code cache)', () => {
  let dir: string;
  const BUNDLE = [
    "const { basename } = require('node:path');",
    "const hook = globalThis[Symbol.for('kiln.agent.codeCache')];",
    'const used = hook.used;',
    'module.exports = { ok: true };',
    'process.stdout.write(JSON.stringify({ used, saved: hook.save(), again: hook.save(), file: basename(__filename), exportsOk: module.exports.ok, args: process.argv.slice(2) }));',
  ].join('\n');
  const run = (...args: string[]) => JSON.parse(execFileSync(process.execPath, [join(dir, 'start-build-runner.js'), ...args], { encoding: 'utf8' })) as Record<string, unknown>;
  const caches = () => readdirSync(dir).filter((n) => n.endsWith('.v8cache'));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-agent-start-'));
    copyFileSync(join(workspaceRoot(), 'tools', 'agent-start.js'), join(dir, 'start-build-runner.js'));
    writeFileSync(join(dir, 'build-runner.js'), BUNDLE);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the bundle as a module, writes the cache once when there was none, and starts from it next time', () => {
    const first = run('--x');
    expect(first).toMatchObject({ used: false, file: 'build-runner.js', exportsOk: true, args: ['--x'], again: 'in use' });
    expect(first.saved).toMatch(/^written to /);
    expect(caches()).toHaveLength(1);
    expect(run()).toMatchObject({ used: true, saved: 'in use' });
  });

  it('does not start a changed bundle from the cache of the one before', () => {
    run();
    // same length, new content: V8's own check (the source's length) would accept the old cache
    writeFileSync(join(dir, 'build-runner.js'), BUNDLE.replace('exportsOk', 'exportsOK'));
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, 'build-runner.js'), later, later);
    const second = run();
    expect(second).toMatchObject({ used: false, exportsOK: true });
    expect(caches()).toHaveLength(2);
  });

  it('starts without a cache when it cannot write one, and says why', () => {
    const path = String(run().saved).replace(/^written to /, '');
    // the cache's path taken by a folder: neither read nor written (as in a read-only install)
    rmSync(path);
    mkdirSync(path);
    expect(run()).toMatchObject({ used: false, saved: expect.stringMatching(/^not written: /) });
  });
});
