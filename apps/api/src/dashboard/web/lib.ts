import { source } from './source';

/**
 * `/assets/lib.js`: what every page uses — htm bound to Preact, the API client with the
 * token from localStorage, hash routing, polling with back-off while the tab is hidden,
 * formatting, and small shared components.
 */
export const LIB_JS = source`
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);

// ---- token -------------------------------------------------------------------------------

const TOKEN_KEY = 'kiln.token';
export const DEFAULT_TOKEN = 'kiln-dev-token';

function readToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || DEFAULT_TOKEN;
  } catch {
    return DEFAULT_TOKEN;
  }
}
let token = readToken();

export function getToken() {
  return token;
}

/** Saves the token (localStorage) and tells the app, which reloads the page's data with it. */
export function saveToken(value) {
  token = value || DEFAULT_TOKEN;
  try {
    localStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* storage disabled: the token lasts for this page */
  }
  window.dispatchEvent(new CustomEvent('kiln:token'));
}

// ---- API ---------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || 'the API answered ' + status);
    this.status = status;
    this.body = body;
  }
}

/** Calls the REST API (relative to this page, so a path prefix in front of Kiln works). */
export async function api(path, { method = 'GET', body } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: { authorization: 'Bearer ' + token, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, { message: 'the Kiln API did not answer (' + e.message + ')' });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (res.status === 401) window.dispatchEvent(new CustomEvent('kiln:unauthorized'));
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const enc = encodeURIComponent;

/** A URL that authenticates with the token in the query (EventSource and links cannot set headers). */
export function withToken(path) {
  return path + (path.includes('?') ? '&' : '?') + 'access_token=' + enc(token);
}

// ---- routing -----------------------------------------------------------------------------

export const href = {
  projects: () => '#/',
  project: (id) => '#/projects/' + enc(id),
  build: (id) => '#/builds/' + enc(id),
  pool: () => '#/pool',
};

export function parseRoute(hash) {
  const path = (hash || '').replace(/^#/, '') || '/';
  const parts = path
    .split('?')[0]
    .split('/')
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  return { path, parts };
}

export function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return parseRoute(hash);
}

export function navigate(to) {
  location.hash = to;
}

export function useTitle(title) {
  useEffect(() => {
    document.title = title ? title + ' · Kiln' : 'Kiln';
  }, [title]);
}

// ---- data --------------------------------------------------------------------------------

/**
 * Loads data and keeps it fresh: \`every(data)\` gives the next delay in ms (0: stop). Polling
 * pauses while the tab is hidden and catches up when it is shown again. A failed refresh
 * keeps the last data and reports the error.
 */
export function useResource(load, deps, every) {
  const key = JSON.stringify(deps);
  const [state, setState] = useState({ key, data: undefined, error: null });
  const [nonce, setNonce] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const everyRef = useRef(every);
  everyRef.current = every;
  useEffect(() => {
    let alive = true;
    let timer = 0;
    let generation = 0;
    const run = async () => {
      clearTimeout(timer);
      const mine = ++generation;
      let data;
      let error = null;
      try {
        data = await loadRef.current();
      } catch (e) {
        error = e;
      }
      if (!alive || mine !== generation) return;
      setState((s) => ({ key, data: error ? (s.key === key ? s.data : undefined) : data, error }));
      const next = typeof everyRef.current === 'function' ? everyRef.current(error ? undefined : data, error) : everyRef.current;
      if (next > 0) timer = setTimeout(() => (document.hidden ? undefined : run()), next);
    };
    const onVisible = () => {
      if (!document.hidden) run();
    };
    document.addEventListener('visibilitychange', onVisible);
    run();
    return () => {
      alive = false;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [key, nonce]);
  const current = state.key === key ? state : { data: undefined, error: null };
  return { data: current.data, error: current.error, loading: current.data === undefined && !current.error, reload: () => setNonce((n) => n + 1) };
}

/** The current time, ticking while \`active\` (live durations). */
export function useNow(active, ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return undefined;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [active, ms]);
  return active ? now : Date.now();
}

// ---- formatting --------------------------------------------------------------------------

export const FINAL = ['succeeded', 'failed', 'cancelled', 'timed_out'];
export const isFinal = (status) => FINAL.includes(status);
export const shortId = (id) => String(id || '').slice(0, 8);

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return Math.round(ms) + ' ms';
  const s = ms / 1000;
  if (s < 60) return (s < 10 ? s.toFixed(1) : String(Math.floor(s))) + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) return m + ' min ' + String(Math.floor(s % 60)).padStart(2, '0') + ' s';
  return Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0') + ' min';
}

/** From \`start\` to \`end\` (or to \`now\` while running), as text. */
export function span(start, end, now) {
  if (!start) return '–';
  const to = end ? Date.parse(end) : now;
  return fmtDuration(to - Date.parse(start));
}

export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return '–';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  return Math.floor(s / 86400) + ' d ago';
}

export function fmtTime(iso) {
  return iso ? new Date(iso).toLocaleString() : '–';
}

// ---- components --------------------------------------------------------------------------

const ICONS = {
  succeeded: '✓',
  failed: '✕',
  timed_out: '⏱',
  cancelled: '⊘',
  running: '▶',
  assigned: '◐',
  queued: '○',
  pending: '○',
  warm: '●',
  leased: '▶',
  warming: '◐',
  provisioning: '○',
  deploying: '◐',
  live: '●',
  rolled_back: '↺',
  stopped: '■',
};

/** A status as an icon and a word (never colour alone). */
export function StatusBadge({ status }) {
  const s = status || 'unknown';
  return html\`<span class=\${'badge st-' + s}><span class="badge-icon" aria-hidden="true">\${ICONS[s] || '•'}</span>\${s.replace('_', ' ')}</span>\`;
}

export function Ago({ iso, now }) {
  if (!iso) return html\`<span class="muted">–</span>\`;
  return html\`<time datetime=\${iso} title=\${fmtTime(iso)}>\${fmtAgo(iso, now)}</time>\`;
}

export function ErrorNote({ error, what }) {
  if (!error) return null;
  const hint = error.status === 401 ? ' Check the API token at the top of the page.' : '';
  return html\`<p class="note note-error" role="alert">\${what ? what + ': ' : ''}\${error.message}.\${hint}</p>\`;
}

export function Loading({ what }) {
  return html\`<p class="muted loading" role="status">Loading \${what || ''}…</p>\`;
}

/** The page heading; it takes the focus after a navigation (see the app). */
export function PageHeader({ title, crumbs, children }) {
  return html\`<div class="page-head">
    \${crumbs && html\`<nav aria-label="Breadcrumb" class="crumbs"><ol>\${crumbs.map((c) => html\`<li><a href=\${c.href}>\${c.label}</a></li>\`)}</ol></nav>\`}
    <div class="page-title"><h1 tabindex="-1">\${title}</h1>\${children}</div>
  </div>\`;
}
`;
