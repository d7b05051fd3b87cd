import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What a cache key template may refer to. */
export interface KeyContext {
  /** The checkout the build runs in. */
  workspace: string;
  branch: string | null;
  env: Record<string, string>;
}

const EXPR = /\$\{\{\s*([^}]+?)\s*\}\}/g;

/**
 * Expands a cache key template: `${{ hashFiles('package-lock.json', '**\/yarn.lock') }}`,
 * `${{ branch }}`, `${{ env.NAME }}`. Unknown expressions are an error naming them.
 */
export async function expandKey(template: string, ctx: KeyContext): Promise<string> {
  let out = '';
  let last = 0;
  for (const m of template.matchAll(EXPR)) {
    out += template.slice(last, m.index);
    out += await evaluate(m[1], ctx);
    last = m.index! + m[0].length;
  }
  out += template.slice(last);
  return out;
}

async function evaluate(expr: string, ctx: KeyContext): Promise<string> {
  if (expr === 'branch') return ctx.branch ?? 'detached';
  const env = /^env\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expr);
  if (env) return ctx.env[env[1]] ?? '';
  const hf = /^hashFiles\((.*)\)$/.exec(expr);
  if (hf) {
    const patterns = [...hf[1].matchAll(/'([^']*)'|"([^"]*)"/g)].map((p) => p[1] ?? p[2]);
    if (!patterns.length) throw new Error(`hashFiles() needs at least one pattern`);
    return hashFiles(ctx.workspace, patterns);
  }
  throw new Error(`unknown expression \${{ ${expr} }} in cache key (use hashFiles('...'), branch or env.NAME)`);
}

/** Turns a glob (`**`, `*`, `?`) into a regular expression over `/`-separated paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * SHA-256 over the contents of the files matching the patterns (sorted by path), like
 * GitHub's hashFiles; an empty string when nothing matches. The files are the checkout's
 * tracked ones plus those an earlier step wrote and `.gitignore` does not exclude (a lock
 * file generated before the cached step counts); a tracked file deleted since is left out.
 */
export async function hashFiles(workspace: string, patterns: string[]): Promise<string> {
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--deduplicate'], { cwd: workspace, maxBuffer: 64 * 1024 * 1024 });
  const files = stdout.split('\0').filter(Boolean);
  const res = patterns.map(globToRegExp);
  const matched = files.filter((f) => res.some((r) => r.test(f))).sort();
  if (!matched.length) return '';
  const h = createHash('sha256');
  let hashed = 0;
  for (const f of matched) {
    const content = await readFile(join(workspace, f)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (content === null) continue;
    h.update(f + '\0');
    h.update(content);
    hashed++;
  }
  return hashed ? h.digest('hex') : '';
}
