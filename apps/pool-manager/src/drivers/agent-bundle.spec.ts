import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { workspaceRoot } from './process-driver';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { lazyDateTimeFormat } = require(join(workspaceRoot(), 'tools', 'bundle-agent.js')) as { lazyDateTimeFormat: (source: string) => string | null };

/**
 * In a plain Node process (the agent's, not jest's sandbox): loads NestJS's logger module
 * `file` as tools/bundle-agent.js rewrites it, counting the `Intl.DateTimeFormat`s built at
 * load and at the first timestamps, and compares those with the original module's.
 */
const CHECK = `
require('reflect-metadata');
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const { lazyDateTimeFormat } = require('./tools/bundle-agent.js');
const [file, exportName] = process.argv.slice(1);
// the original (and what it requires) first: the rewritten copy's requires then find them loaded
const original = require(file);
const original_ = Intl.DateTimeFormat;
let built = 0;
Intl.DateTimeFormat = new Proxy(original_, { construct(t, a) { built++; return new t(...a); } });
const m = new Module(file);
m.filename = file;
m.paths = Module._nodeModulePaths(path.dirname(file));
m._compile(lazyDateTimeFormat(fs.readFileSync(file, 'utf8')), file);
const atLoad = built;
Date.now = () => Date.UTC(2026, 10, 24, 12, 34, 56);
const stamp = (x) => exportName === 'ConsoleLogger' ? x.ConsoleLogger.prototype.getTimestamp.call({}) : x.Logger.getTimestamp();
const first = stamp(m.exports);
const second = stamp(m.exports);
process.stdout.write(JSON.stringify({ atLoad, afterUse: built, first, second, expected: stamp(original) }));
`;

/**
 * tools/bundle-agent.js defers the date formatter NestJS's loggers build when they load
 * (ICU's start, ~15 ms of every agent's start), in the NestJS installed here: when an
 * upgrade changes that code, this says so rather than the agent quietly starting slower.
 */
describe('the agent bundle: NestJS loggers build their date formatter on first use', () => {
  const services = join(workspaceRoot(), 'node_modules', '@nestjs', 'common', 'services');

  it.each([
    ['console-logger.service.js', 'ConsoleLogger'],
    ['logger.service.js', 'Logger'],
  ])('%s: nothing built at load, one formatter at the first timestamp, the same timestamps', (name, exportName) => {
    const out = JSON.parse(execFileSync(process.execPath, ['-e', CHECK, join(services, name), exportName], { cwd: workspaceRoot(), encoding: 'utf8' })) as Record<string, unknown>;
    expect(out.atLoad).toBe(0);
    expect(out.afterUse).toBe(1);
    expect(out.first).toBe(out.expected);
    expect(out.second).toBe(out.expected);
    expect(out.expected).toMatch(/2026/);
  });

  it('leaves code it does not recognise alone', () => {
    expect(lazyDateTimeFormat('const dateTimeFormatter = makeFormatter();')).toBeNull();
  });
});
