import type { CreatedProject, ProjectView, RotatedWebhookSecret } from '../api/wire';
import { Palette } from './ansi';
import { renderTable } from './table';
import { shortId } from './text';

/** `kiln projects ls`. */
export function projectsTable(projects: ProjectView[], p: Palette): string[] {
  return renderTable(
    [
      { header: 'ID', value: (x: ProjectView) => shortId(x.id) },
      { header: 'NAME', value: (x) => x.name, style: () => ['bold'], max: 40 },
      { header: 'PROVIDER', value: (x) => x.provider },
      { header: 'BRANCHES', value: (x) => (x.branches?.length ? x.branches.join(',') : '*'), max: 30 },
      { header: 'CONCURRENCY', value: (x) => String(x.concurrency), align: 'right' },
      { header: 'REPOSITORY', value: (x) => x.repoUrl },
    ],
    projects,
    p,
  );
}

/** What `kiln projects rotate-secret` prints: the new secret and how long the old one still works. */
export function rotatedSecretText(r: RotatedWebhookSecret, project: { name: string; provider: string } | null, p: Palette): string[] {
  const gitlab = project?.provider === 'gitlab';
  const where = gitlab ? 'GitLab (Settings → Webhooks → Edit → Secret token)' : project ? 'GitHub (Settings → Webhooks → Edit → Secret)' : 'the git host\'s webhook settings';
  return [
    `${p.style('✓', 'green')} Rotated the webhook secret of ${p.style(project?.name ?? r.id, 'bold')} (${r.id})`,
    '',
    `Paste the new secret into ${where}:`,
    `  ${p.style((gitlab ? 'Secret token' : 'Secret').padEnd(13), 'dim')} ${p.style(r.webhook.secret, 'yellow')}`,
    '',
    r.previousSecretValidUntil
      ? p.style(`The old secret is still accepted until ${r.previousSecretValidUntil}; the new one is shown only now.`, 'dim')
      : p.style('The old secret is no longer accepted; the new one is shown only now.', 'dim'),
  ];
}

/**
 * What `kiln projects create` prints: the project, then the webhook settings to paste
 * into GitHub or GitLab, with the host's own names for each field.
 */
export function createdProjectText(c: CreatedProject, p: Palette): string[] {
  const gitlab = c.provider === 'gitlab';
  const row = (name: string, value: string) => `  ${p.style(name.padEnd(13), 'dim')} ${value}`;
  return [
    `${p.style('✓', 'green')} Created project ${p.style(c.name, 'bold')} (${c.id})`,
    '',
    gitlab
      ? `Add a webhook in GitLab (${p.style('Settings → Webhooks → Add new webhook', 'bold')}):`
      : `Add a webhook in GitHub (${p.style('Settings → Webhooks → Add webhook', 'bold')}):`,
    row(gitlab ? 'URL' : 'Payload URL', p.style(c.webhook.url, 'cyan')),
    ...(gitlab ? [] : [row('Content type', c.webhook.contentType)]),
    row(gitlab ? 'Secret token' : 'Secret', p.style(c.webhook.secret, 'yellow')),
    row(gitlab ? 'Trigger' : 'Events', gitlab ? 'Push events, Tag push events' : c.webhook.events.join(', ') === 'push' ? 'Just the push event' : c.webhook.events.join(', ')),
    '',
    p.style('The secret is not shown again; Kiln stores it encrypted.', 'dim'),
  ];
}
