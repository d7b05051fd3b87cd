'use strict';
// Starts the bundled agent (build-runner.js, beside this file once `npm run build` copied it
// to dist/agent/start-build-runner.js) through V8's code cache.
//
// Why: an ephemeral agent is a new process for every build. Without a cache, V8 parses
// the 5 MB bundle at each start and compiles every function on its first call, some of
// them between lease and first step. The cache holds the bytecode of every function a
// finished build ran: the first agent on a host without a usable cache writes it when its
// build is done (AgentService calls the hook below), later agents load it. Measured on this
// 2-core machine (back-to-back bench, median agent): 610 ms of CPU from start to warm
// instead of 700, and 730 ms to the end of its build instead of 845.
//
// V8 checks a cache against the source's length, its own version and its flags, and
// ignores one that does not match (`cachedDataRejected`). Here it is also keyed by the
// bundle's size and modification time, the Node version and Node's arguments, so a rebuilt
// bundle of the same length never meets an old cache. The cache lives beside the bundle,
// as trusted as the bundle itself, or in KILN_AGENT_CODE_CACHE_DIR (a volume the docker
// driver's containers share); where that folder is not writable there is no cache. Writing
// one removes the caches of other bundles there that are a day old (a rolling update's
// older agents may still be writing theirs before that).
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');
const { createHash } = require('node:crypto');

const bundle = path.join(__dirname, 'build-runner.js');
// latin1: the build leaves the bundle ASCII only (tools/bundle-agent.js), and a one-byte read
// skips UTF-8 decoding of 5 MB at every agent start
const source = fs.readFileSync(bundle, 'latin1');
const st = fs.statSync(bundle);
const key = createHash('sha256')
  .update([st.size, st.mtimeMs, process.version, process.arch, process.execArgv.join(' ')].join('\n'))
  .digest('hex')
  .slice(0, 16);
// the key's name is ConfigKeys.agentCodeCacheDir (@kiln/config); this file loads before any library
const cacheDir = process.env.KILN_AGENT_CODE_CACHE_DIR || __dirname;
const cacheFile = path.join(cacheDir, `build-runner.${key}.v8cache`);
const STALE_MS = 24 * 3600 * 1000;

/** Removes other bundles' caches in the cache folder that are older than STALE_MS; never throws. */
function removeStaleCaches() {
  try {
    for (const name of fs.readdirSync(cacheDir)) {
      const file = path.join(cacheDir, name);
      if (file === cacheFile || !/^build-runner\.[0-9a-f]{16}\.v8cache$/.test(name)) continue;
      const s = fs.statSync(file, { throwIfNoEntry: false });
      if (s && Date.now() - s.mtimeMs > STALE_MS) fs.rmSync(file, { force: true });
    }
  } catch {
    // another agent removed it first, or the folder cannot be listed: nothing is lost
  }
}
let cachedData;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  cachedData = undefined; // none yet
}
const script = new vm.Script(Module.wrap(source), {
  filename: bundle,
  cachedData,
  importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
const used = cachedData !== undefined && !script.cachedDataRejected;

/**
 * The hook the agent calls once its build is done: writes the cache when none was usable
 * (temporary name, then a rename: agents finishing at once never leave half a file).
 * Returns what it did, for the agent's log.
 */
let written = false;
globalThis[Symbol.for('kiln.agent.codeCache')] = {
  used,
  save() {
    if (used || written) return 'in use';
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
      written = true;
      removeStaleCaches();
      return `written to ${cacheFile}`;
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      return `not written: ${e.message}`;
    }
  },
};

const mod = new Module(bundle, null);
mod.filename = bundle;
script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(bundle), mod, bundle, __dirname);
