import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CliError, UsageError } from '../errors';

/** What `kiln login` saves. */
export interface SavedLogin {
  /** Base URL of the Kiln API gateway, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Bearer token for `/api/*`. */
  token: string;
}

/** The settings a command runs with, and where each came from (for messages). */
export interface Settings {
  url: string;
  token: string;
  source: { url: SettingSource; token: SettingSource };
}
export type SettingSource = 'flag' | 'env' | 'config' | 'default';

/** Used when neither a flag, the environment nor a saved login names a server. */
export const DEFAULT_URL = 'http://127.0.0.1:8080';

/**
 * The config file: `$KILN_CONFIG`, else `$XDG_CONFIG_HOME/kiln/config.json`, else
 * `~/.config/kiln/config.json`.
 */
export function configPath(env: Record<string, string | undefined>, homeDir: string): string {
  if (env.KILN_CONFIG) return env.KILN_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homeDir, '.config');
  return join(base, 'kiln', 'config.json');
}

/** The saved login, or null when there is none. A malformed file is an error naming it. */
export function readConfig(path: string): Partial<SavedLogin> | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    const o = v as Record<string, unknown>;
    return {
      url: typeof o.url === 'string' ? o.url : undefined,
      token: typeof o.token === 'string' ? o.token : undefined,
    };
  } catch (e) {
    throw new CliError(`${path} is not a valid config file (${(e as Error).message}); run kiln login again`);
  }
}

/**
 * Saves the login readable by the user only: directory 0700, file 0600, written to a
 * temporary file and renamed so a crash never leaves half a file.
 */
export function writeConfig(path: string, login: SavedLogin): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ url: login.url, token: login.token }, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600); // the umask may have widened nothing, but an old tmp file might exist
  renameSync(tmp, path);
}

/**
 * Resolves the server and token: a flag wins over the environment (`KILN_URL`,
 * `KILN_TOKEN`), which wins over the saved login. Without a token it is a usage error
 * pointing at `kiln login`.
 */
export function resolveSettings(
  flags: { url?: string; token?: string },
  env: Record<string, string | undefined>,
  saved: Partial<SavedLogin> | null,
): Settings {
  const pick = (flag: string | undefined, envValue: string | undefined, file: string | undefined): [string | undefined, SettingSource] =>
    flag ? [flag, 'flag'] : envValue ? [envValue, 'env'] : file ? [file, 'config'] : [undefined, 'default'];
  const [url, urlSource] = pick(flags.url, env.KILN_URL, saved?.url);
  const [token, tokenSource] = pick(flags.token, env.KILN_TOKEN, saved?.token);
  if (!token) throw new UsageError('not logged in: run `kiln login --url <url> --token <token>`, or pass --token / set KILN_TOKEN');
  return { url: normalizeUrl(url ?? DEFAULT_URL), token, source: { url: url ? urlSource : 'default', token: tokenSource } };
}

/**
 * The API base URL without a trailing slash or `/api` (users often paste the API address).
 * Anything but an absolute http(s) URL is a usage error.
 */
export function normalizeUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new UsageError(`invalid URL "${raw}": expected e.g. ${DEFAULT_URL}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`invalid URL "${raw}": only http and https are supported`);
  u.search = '';
  u.hash = '';
  return u.toString().replace(/\/+$/, '').replace(/\/api$/, '');
}
