import { createHmac, randomUUID } from 'node:crypto';

/**
 * A GitHub `push` webhook delivery as GitHub sends it (the fields Kiln and most
 * receivers read), signed with the project's secret.
 */
export function githubPush(opts: { repoUrl: string; fullName: string; sha: string; branch?: string; message?: string; secret: string; deliveryId?: string }) {
  const branch = opts.branch ?? 'main';
  const body = JSON.stringify({
    ref: `refs/heads/${branch}`,
    before: '0000000000000000000000000000000000000000',
    after: opts.sha,
    created: false,
    deleted: false,
    forced: false,
    compare: `https://github.com/${opts.fullName}/compare`,
    commits: [{ id: opts.sha, message: opts.message ?? 'commit', author: { name: 'Kiln Demo', email: 'demo@kiln.local', username: 'kiln' } }],
    head_commit: { id: opts.sha, message: opts.message ?? 'commit', timestamp: new Date().toISOString(), author: { name: 'Kiln Demo', email: 'demo@kiln.local', username: 'kiln' } },
    repository: {
      id: 1,
      name: opts.fullName.split('/')[1],
      full_name: opts.fullName,
      clone_url: opts.repoUrl,
      html_url: `https://github.com/${opts.fullName}`,
      ssh_url: `git@github.com:${opts.fullName}.git`,
      default_branch: 'main',
    },
    pusher: { name: 'kiln', email: 'demo@kiln.local' },
    sender: { login: 'kiln', id: 1 },
  });
  const signature = 'sha256=' + createHmac('sha256', opts.secret).update(body).digest('hex');
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': opts.deliveryId ?? randomUUID(),
      'x-hub-signature-256': signature,
      'user-agent': 'GitHub-Hookshot/kiln-test',
    } as Record<string, string>,
  };
}
