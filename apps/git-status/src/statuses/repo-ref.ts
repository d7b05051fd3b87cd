import type { Provider } from '@kiln/contracts';

/** Where a project's commit statuses go: a GitHub `owner/repo`, or a GitLab project path (with subgroups). */
export type RepoRef = { provider: 'github'; owner: string; repo: string } | { provider: 'gitlab'; path: string };

/**
 * The path segments of a hosted repository's clone URL: `https://host/a/b(.git)`,
 * `ssh://git@host[:port]/a/b.git`, `git@host:a/b.git`. Null for a local path, `file://`,
 * or fewer than two segments: such a repository has no host to report to.
 */
export function repoPathOf(repoUrl: string): string[] | null {
  const url = repoUrl.trim();
  let path: string;
  const scp = /^[\w.-]+@[\w.-]+:(?!\/\/)(.+)$/.exec(url);
  if (scp) path = scp[1];
  else {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return null;
    }
    if (!['http:', 'https:', 'ssh:', 'git:'].includes(u.protocol) || !u.hostname) return null;
    try {
      path = decodeURIComponent(u.pathname);
    } catch {
      return null;
    }
  }
  const segments = path.replace(/\/+$/, '').replace(/\.git$/, '').split('/').filter(Boolean);
  return segments.length >= 2 ? segments : null;
}

/** The repository a project's `repoUrl` names on its provider; null when it names none (GitHub: exactly `owner/repo`). */
export function repoRefOf(provider: Provider, repoUrl: string): RepoRef | null {
  const segments = repoPathOf(repoUrl);
  if (!segments) return null;
  if (provider === 'github') return segments.length === 2 ? { provider, owner: segments[0], repo: segments[1] } : null;
  return { provider, path: segments.join('/') };
}
