import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ANSI_JS } from './web/ansi';
import { APP_JS } from './web/app';
import { BUILD_PAGE_JS } from './web/build-page';
import { FAVICON_SVG, indexHtml } from './web/index-html';
import { LIB_JS } from './web/lib';
import { LOG_VIEW_JS } from './web/log-view';
import { PAGES_JS } from './web/pages';
import { APP_CSS } from './web/style';

/** One file the dashboard serves, read and hashed once at start. */
export interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
  cacheControl: string;
  headers: Record<string, string>;
}

export interface DashboardAssets {
  /** `/` */
  index: Asset;
  /** by URL path: `/assets/app.js`, `/assets/vendor/preact@11.2.0/preact.mjs`, ... */
  files: ReadonlyMap<string, Asset>;
  /** the import map in the page (bare specifier → URL) */
  importMap: Record<string, string>;
}

const JS = 'text/javascript; charset=utf-8';
const TYPES: Record<string, string> = {
  '.js': JS,
  '.mjs': JS,
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml; charset=utf-8',
};
/** The app's own files change with a deploy under the same URL: revalidate by ETag (cheap 304). */
const REVALIDATE = 'no-cache';
/** Vendored files carry their package version in the URL: cache them for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The app's browser modules (ES modules importing each other relatively). */
export const APP_MODULES: Record<string, string> = {
  'app.js': APP_JS,
  'lib.js': LIB_JS,
  'ansi.js': ANSI_JS,
  'pages.js': PAGES_JS,
  'build-page.js': BUILD_PAGE_JS,
  'log-view.js': LOG_VIEW_JS,
};

/** A vendored browser ES module: its bare specifier, its package, and the file on disk. */
interface Vendor {
  specifier: string;
  pkg: string;
  file: string;
}

/** The ES module builds of Preact, its hooks and htm, as installed (resolved, not guessed). */
function vendorFiles(): Vendor[] {
  const htmMain = require.resolve('htm'); // dist/htm.js (CommonJS); its ES module build sits beside it
  return [
    { specifier: 'preact', pkg: 'preact', file: require.resolve('preact') },
    { specifier: 'preact/hooks', pkg: 'preact', file: require.resolve('preact/hooks') },
    { specifier: 'htm', pkg: 'htm', file: join(dirname(htmMain), 'htm.mjs') },
  ];
}

/** The version of the package a file belongs to (the nearest package.json named `pkg`). */
function packageVersion(file: string, pkg: string): string {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const json = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
    if (json.name === pkg && json.version) return json.version;
  }
  throw new Error(`dashboard: no package.json of ${pkg} above ${file}`);
}

function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
}

function typeOf(path: string): string {
  const ext = path.slice(path.lastIndexOf('.'));
  const type = TYPES[ext];
  if (!type) throw new Error(`dashboard: no content type for ${path}`);
  return type;
}

function asset(body: string | Buffer, contentType: string, cacheControl: string, headers: Record<string, string> = {}): Asset {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return { body: buf, contentType, etag: etagOf(buf), cacheControl, headers };
}

/**
 * Every file of the dashboard, read once: the app's modules and CSS (from the string
 * constants in ./web), the vendored Preact/htm ES modules (with their source maps when the
 * package has them), and the page, whose Content-Security-Policy allows only this origin
 * (and the one inline script, the import map, by its hash): the dashboard makes no request
 * anywhere else.
 */
export function loadDashboardAssets(): DashboardAssets {
  const files = new Map<string, Asset>();
  for (const [name, code] of Object.entries(APP_MODULES)) files.set(`/assets/${name}`, asset(code, JS, REVALIDATE));
  files.set('/assets/app.css', asset(APP_CSS, TYPES['.css'], REVALIDATE));
  files.set('/assets/favicon.svg', asset(FAVICON_SVG, TYPES['.svg'], REVALIDATE));

  const importMap: Record<string, string> = {};
  for (const v of vendorFiles()) {
    const name = basename(v.file);
    const url = `/assets/vendor/${v.pkg}@${packageVersion(v.file, v.pkg)}/${name}`;
    files.set(url, asset(readFileSync(v.file), typeOf(name), IMMUTABLE));
    // the file's `//# sourceMappingURL=<name>.map` resolves next to it
    if (existsSync(`${v.file}.map`)) files.set(`${url}.map`, asset(readFileSync(`${v.file}.map`), TYPES['.map'], IMMUTABLE));
    importMap[v.specifier] = `.${url}`;
  }

  const mapJson = JSON.stringify({ imports: importMap });
  const preload = [...Object.values(importMap), ...Object.keys(APP_MODULES).map((m) => `./assets/${m}`)];
  const scriptHash = createHash('sha256').update(mapJson, 'utf8').digest('base64');
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${scriptHash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const index = asset(indexHtml(mapJson, preload), 'text/html; charset=utf-8', REVALIDATE, {
    'Content-Security-Policy': csp,
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
  });
  return { index, files, importMap };
}
