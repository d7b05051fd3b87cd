/** `1234abcd` of `1234abcd-5678-...`: the first 8 characters, enough to tell builds apart. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** The first 7 characters of a commit sha, or `-`. */
export function shortSha(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 7) : '-';
}

/** A duration for people: `850ms`, `12.3s`, `4m 05s`, `2h 03m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Milliseconds from `from` to `to` (ISO times; `to` null: `now`), or null without a start. */
export function elapsedMs(from: string | null | undefined, to: string | null | undefined, now: number): number | null {
  if (!from) return null;
  const a = Date.parse(from);
  const b = to ? Date.parse(to) : now;
  return Number.isFinite(a) && Number.isFinite(b) ? Math.max(0, b - a) : null;
}

/** The first line of `text`, cut to `max` characters with an ellipsis. */
export function firstLine(text: string | null | undefined, max: number): string {
  const line = (text ?? '').split(/\r?\n/, 1)[0].trim();
  return truncate(line, max);
}

export function truncate(text: string, max: number): string {
  if (max <= 0) return '';
  return text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text;
}

/** `refs/heads/main` → `main`, `refs/tags/v1` → `v1`. */
export function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, '');
}
