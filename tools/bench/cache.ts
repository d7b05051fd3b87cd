import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchEvent, withPlatform } from './platform-run';

/** The fixture: a real Node project (express, jest, eslint) whose lockfile holds ~400 packages. */
const FIXTURE = join(__dirname, '..', '..', '..', 'tools', 'bench', 'fixtures', 'npm-app');

/**
 * The pipelines compared. Each build gets its own npm cache folder inside its fresh
 * workspace, so npm's own ~/.npm never makes a "cold" build warm.
 *
 * - node_modules: the tree itself is cached under the lockfile's hash; on an exact hit it
 *   is already what `npm ci` would produce, so the step skips `npm ci` (the actions/cache
 *   pattern for node_modules). The warm build is one archive restore.
 * - npm cache: the tarball cache is cached and `npm ci --prefer-offline` runs every time;
 *   no network, but npm still unpacks and links ~400 packages.
 */
const PIPELINES = {
  node_modules: [
    'steps:',
    '  - name: npm ci',
    '    run: |',
    '      export npm_config_cache="$PWD/.npm-cache"',
    '      if [ -d node_modules ]; then echo "node_modules restored for this lockfile: npm ci skipped"; else npm ci --no-audit --no-fund; fi',
    '      node -e "require(\'express\'); require(\'jest/package.json\'); require(\'eslint/package.json\')"',
    '    cache:',
    "      key: npm-modules-${{ hashFiles('package-lock.json') }}",
    '      paths: [node_modules]',
    '',
  ].join('\n'),
  'npm cache': [
    'steps:',
    '  - name: npm ci',
    '    run: |',
    '      export npm_config_cache="$PWD/.npm-cache"',
    '      npm ci --prefer-offline --no-audit --no-fund',
    '      node -e "require(\'express\'); require(\'jest/package.json\'); require(\'eslint/package.json\')"',
    '    cache:',
    "      key: npm-cache-${{ hashFiles('package-lock.json') }}",
    '      paths: [.npm-cache]',
    '',
  ].join('\n'),
} as const;

/** One build's wall time cut at its events (each stage ends when its event was recorded). */
interface Run {
  label: string;
  wallMs: number;
  /** Webhook accepted → step started (queue, lease, clone, pipeline read). */
  startMs: number;
  /** Step started → cache restored (key expansion, download or move, unpack). */
  restoreMs: number;
  restore: string;
  /** Cache restored → step finished (the script). */
  stepMs: number;
  /** Step finished → cache saved (or skipped). */
  saveMs: number;
  saved: boolean;
  /** Cache saved → build succeeded (log flush, final event). */
  finishMs: number;
  ok: boolean;
}

function measure(label: string, events: BenchEvent[]): Run {
  const at = (type: string) => Date.parse(events.find((e) => e.type === type)?.meta.occurredAt ?? '');
  const final = events.find((e) => /BuildSucceeded|BuildFailed|BuildCancelled|BuildTimedOut/.test(e.type))!;
  const requested = Date.parse(String(events.find((e) => e.type === 'BuildRequested')!.data.requestedAt));
  const restored = events.find((e) => e.type === 'CacheRestored')?.data as Record<string, unknown> | undefined;
  const saved = events.find((e) => e.type === 'CacheSaved')?.data as Record<string, unknown> | undefined;
  const end = Date.parse(final.meta.occurredAt);
  return {
    label,
    wallMs: end - requested,
    startMs: at('StepStarted') - requested,
    restoreMs: at('CacheRestored') - at('StepStarted'),
    restore: String(restored?.result ?? 'none'),
    stepMs: at('StepFinished') - at('CacheRestored'),
    saveMs: at('CacheSaved') - at('StepFinished'),
    saved: saved?.saved === true,
    finishMs: end - at('CacheSaved'),
    ok: final.type === 'BuildSucceeded',
  };
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function table(title: string, runs: Run[]): string[] {
  const cold = runs[0];
  const col = (v: string) => v.padStart(22);
  const line = (name: string, f: (r: Run) => string) => `  ${name.padEnd(34)}${runs.map((r) => col(f(r))).join('')}`;
  return [
    title,
    line('', (r) => r.label),
    line('build wall time (accepted → done)', (r) => (r === cold ? s(r.wallMs) : `${s(r.wallMs)} (${((100 * r.wallMs) / cold.wallMs).toFixed(1)}%)`)),
    line('  accepted → step started', (r) => s(r.startMs)),
    line('  cache restore', (r) => `${r.restore} ${s(r.restoreMs)}`),
    line('  step script', (r) => s(r.stepMs)),
    line('  cache save', (r) => (r.saved ? s(r.saveMs) : `skipped ${s(r.saveMs)}`)),
    line('  log flush, build recorded', (r) => s(r.finishMs)),
    line('  result', (r) => (r.ok ? 'succeeded' : 'FAILED')),
  ];
}

type Files = Record<string, string>;

/** One platform: for each pipeline, a cold build (empty cache) and `warm` builds of the same commit. */
async function scenario(print: (line: string) => void, files: Files, title: string, settings: Record<string, string>, plan: [keyof typeof PIPELINES, number][]): Promise<void> {
  const packages = Object.keys(JSON.parse(files['package-lock.json']).packages).filter((k) => k.startsWith('node_modules/')).length;
  await withPlatform({ KILN_POOL_MIN_WARM: '1', KILN_POOL_MAX_WORKERS: '4', ...settings }, async ({ call, repo, push, api, finished }) => {
    const waitWarm = async () => {
      for (let k = 0; k < 1200; k++) {
        // a dropped keep-alive connection on this loaded machine is not a reason to stop
        const pool = await call<{ counts?: Record<string, number> }>('/api/pool').catch(() => null);
        if ((pool?.counts?.warm ?? 0) >= 1) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const logLine = async (buildId: string) => {
      const text = await (await fetch(`${api}/api/builds/${buildId}/logs/raw`, { headers: { authorization: 'Bearer bench-token' } })).text();
      return /kiln: cache (hit|partial hit|miss)[^\n]*/.exec(text)?.[0] ?? '(no cache line)';
    };
    for (const [name, warm] of plan) {
      const sha = repo.commit({ ...files, '.kiln.yml': PIPELINES[name] }, `bench: ${name}`);
      const runs: Run[] = [];
      const lines: string[] = [];
      for (const label of ['cold', ...Array.from({ length: warm }, (_, i) => `warm #${i + 1}`)]) {
        await waitWarm();
        const id = await push(sha);
        const events = await finished(id, 900_000);
        const line = await logLine(id);
        const source = /\(prefetched\)|, prefetched\)/.test(line) ? ', prefetched' : label === 'cold' ? '' : ', downloaded';
        runs.push(measure(`${label}${source}`, events));
        lines.push(`    ${label}: ${line}`);
      }
      for (const l of table(`npm ci of ${packages} packages, cache of ${name}; ${title}:`, runs)) print(l);
      for (const l of lines) print(l);
    }
  });
}

/**
 * A real Node project's `npm ci` from the registry with an empty cache, then the same
 * commit again with the cache warm. With the pool prefetch on (the default) a warm build's
 * worker holds the entry unpacked already; with it off, the warm build downloads and
 * unpacks it from the object store. Each scenario runs on its own platform (empty cache).
 */
export async function benchCache(print: (line: string) => void): Promise<void> {
  const files = {
    'package.json': readFileSync(join(FIXTURE, 'package.json'), 'utf8'),
    'package-lock.json': readFileSync(join(FIXTURE, 'package-lock.json'), 'utf8'),
  };
  await scenario(print, files, 'pool prefetch on (default)', {}, [
    ['node_modules', 2],
    ['npm cache', 1],
  ]);
  await scenario(print, files, 'pool prefetch off (KILN_POOL_CACHE_PREFETCH=0)', { KILN_POOL_CACHE_PREFETCH: '0' }, [['node_modules', 1]]);
}
