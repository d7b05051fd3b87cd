import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
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
  const run = (...args: string[]) => runIn({}, ...args);
  const runIn = (env: Record<string, string>, ...args: string[]) =>
    JSON.parse(execFileSync(process.execPath, [join(dir, 'start-build-runner.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } })) as Record<string, unknown>;
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

  it('keeps the cache in KILN_AGENT_CODE_CACHE_DIR when set (a volume agent containers share), and removes other bundles\' day-old caches there', () => {
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    const stale = join(shared, 'build-runner.0123456789abcdef.v8cache');
    const recent = join(shared, 'build-runner.fedcba9876543210.v8cache');
    const other = join(shared, 'notes.txt');
    for (const f of [stale, recent, other]) writeFileSync(f, 'x');
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    for (const f of [stale, other]) utimesSync(f, twoDaysAgo, twoDaysAgo);
    expect(runIn({ KILN_AGENT_CODE_CACHE_DIR: shared }).saved).toMatch(new RegExp(`^written to ${shared}/build-runner\\.[0-9a-f]{16}\\.v8cache$`));
    expect(caches()).toEqual([]); // nothing beside the bundle
    // a rolling update's other agents may still use theirs: only day-old caches go, and nothing else
    const left = readdirSync(shared);
    expect(left).not.toContain(basename(stale));
    expect(left).toEqual(expect.arrayContaining([basename(recent), 'notes.txt']));
    expect(left.filter((n) => n.endsWith('.v8cache'))).toHaveLength(2);
    expect(runIn({ KILN_AGENT_CODE_CACHE_DIR: shared })).toMatchObject({ used: true });
  });

  it('starts without a cache when it cannot write one, and says why', () => {
    const path = String(run().saved).replace(/^written to /, '');
    // the cache's path taken by a folder: neither read nor written (as in a read-only install)
    rmSync(path);
    mkdirSync(path);
    expect(run()).toMatchObject({ used: false, saved: expect.stringMatching(/^not written: /) });
  });
});
