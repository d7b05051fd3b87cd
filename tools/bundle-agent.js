// Bundles the compiled build-runner agent (dist/apps/build-runner) into one file,
// dist/agent/build-runner.js, which the pool-manager's process driver starts.
//
// Why: an ephemeral agent starts for every build. Unbundled, its start resolves and
// compiles ~1,400 modules (tsconfig-paths matching included): ~0.8 s of CPU on this
// 2-core machine, taken from the builds running beside it. Bundled: ~0.5 s. The input is
// tsc's output, so NestJS keeps the decorator metadata esbuild itself would not emit.
//
// Packages NestJS loads only if installed (websockets, kafkajs, class-validator, ...) stay
// run-time requires, failing there exactly as they would unbundled.
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
const base = require(path.join(root, 'tsconfig.base.json'));

/** `@kiln/*` → the compiled library in dist/, from the same `paths` table tsc uses. */
const alias = {};
for (const [name, [target]] of Object.entries(base.compilerOptions.paths)) {
  alias[name] = path.join(root, 'dist', target.replace(/\.ts$/, '.js'));
}

/**
 * Loaded only when used, and large: the OpenTelemetry SDK with its exporters (only with an
 * OTLP endpoint set) and NestJS's HTTP platform (the agent serves no HTTP). Left to run
 * time, resolved from node_modules like any unbundled require; bundled, their ~2.5 MB
 * would be parsed at every agent start.
 */
const LAZY = new Set(['@opentelemetry/sdk-node', '@nestjs/platform-express', 'express']);

/** Bare imports that do not resolve here are left to run time (optional peers), like the lazy ones. */
const optionalPeers = {
  name: 'optional-peers',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || args.path.startsWith('@kiln/')) return undefined;
      if (LAZY.has(args.path)) return { path: args.path, external: true };
      try {
        require.resolve(args.path, { paths: [args.resolveDir || root] });
        return undefined;
      } catch {
        return { path: args.path, external: true };
      }
    });
  },
};

/**
 * NestJS's two loggers each build an `Intl.DateTimeFormat` when their module loads, only to
 * stamp the console lines they print, which an agent never prints (its logs are its own
 * JSON). The first DateTimeFormat of a process initialises ICU: 12-19 ms of CPU at every
 * agent start here, about 8% of it. In the bundle the formatter is built on first use.
 */
const NEST_LOGGERS = /[\\/]@nestjs[\\/]common[\\/]services[\\/](console-)?logger\.service\.js$/;
const EAGER_DATE_FORMAT = /const dateTimeFormatter = new Intl\.DateTimeFormat\(([^;]*?)\);/;

/** The module's source with its formatter built on first use; null when its code is not the one expected. */
function lazyDateTimeFormat(source) {
  if (!EAGER_DATE_FORMAT.test(source)) return null;
  return source.replace(
    EAGER_DATE_FORMAT,
    (_all, args) => `let kilnDateTimeFormat;\nconst dateTimeFormatter = { format: (t) => (kilnDateTimeFormat ??= new Intl.DateTimeFormat(${args})).format(t) };`,
  );
}

const lazyNestDateFormat = {
  name: 'lazy-nest-date-format',
  setup(build) {
    build.onLoad({ filter: NEST_LOGGERS }, (args) => {
      const source = fs.readFileSync(args.path, 'utf8');
      const patched = lazyDateTimeFormat(source);
      // another NestJS version: bundled as it is (the agent only starts a little slower)
      if (patched === null) return { contents: source, loader: 'js', warnings: [{ text: `${path.basename(args.path)}: no eager Intl.DateTimeFormat found; bundled unchanged` }] };
      return { contents: patched, loader: 'js' };
    });
  },
};

async function main() {
  const outfile = path.join(root, 'dist', 'agent', 'build-runner.js');
  await esbuild.build({
    entryPoints: [path.join(root, 'dist', 'apps', 'build-runner', 'src', 'main.js')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    outfile,
    alias,
    plugins: [optionalPeers, lazyNestDateFormat],
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  // ASCII only (esbuild escapes strings, not the comments it keeps): the loader then reads the
  // 5 MB as latin1, without UTF-8 decoding, into a one-byte string V8 scans faster
  const text = fs.readFileSync(outfile, 'utf8');
  // eslint-disable-next-line no-control-regex
  const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== text) fs.writeFileSync(outfile, ascii);
  // the loader that starts it through V8's code cache (see agent-start.js); caches of earlier bundles go
  const dir = path.dirname(outfile);
  fs.copyFileSync(path.join(__dirname, 'agent-start.js'), path.join(dir, 'start-build-runner.js'));
  for (const name of fs.readdirSync(dir)) if (name.endsWith('.v8cache')) fs.rmSync(path.join(dir, name), { force: true });
}

module.exports = { lazyDateTimeFormat };

if (require.main === module) {
  main().catch((e) => {
    console.error(`bundling the agent failed: ${e.message}`);
    process.exit(1);
  });
}
