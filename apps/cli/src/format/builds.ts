import type { BuildView, ProjectView, StepView } from '../api/wire';
import { Palette, Style } from './ansi';
import { Column, renderTable } from './table';
import { elapsedMs, firstLine, formatDuration, shortId, shortRef, shortSha } from './text';

/** Colour of a build or step status. */
export function statusStyle(status: string): Style[] {
  switch (status) {
    case 'succeeded':
      return ['green'];
    case 'failed':
    case 'timed_out':
      return ['red'];
    case 'cancelled':
      return ['yellow'];
    case 'running':
      return ['cyan'];
    case 'assigned':
      return ['blue'];
    default: // queued, pending
      return ['gray'];
  }
}

/** A one-character mark of a status, for step lists. */
export function statusMark(status: string): string {
  return { succeeded: '✓', failed: '✗', timed_out: '✗', cancelled: '⊘', running: '●' }[status] ?? '○';
}

/** Wall time of a build: start to end, or start to `now` while it runs; `-` before it starts. */
export function buildDuration(b: Pick<BuildView, 'startedAt' | 'finishedAt'>, now: number): string {
  const ms = elapsedMs(b.startedAt, b.finishedAt, now);
  return ms === null ? '-' : formatDuration(ms);
}

/** The branch (or tag/ref) a build is of. */
export function buildBranch(b: BuildView): string {
  return b.source.branch ?? shortRef(b.source.ref);
}

/** `kiln builds ls`: id, status (coloured), branch, sha, message, duration. */
export function buildsTable(builds: BuildView[], p: Palette, now: number): string[] {
  const columns: Column<BuildView>[] = [
    { header: 'ID', value: (b) => shortId(b.id) },
    { header: 'STATUS', value: (b) => b.status, style: (b) => statusStyle(b.status) },
    { header: 'BRANCH', value: buildBranch, max: 30 },
    { header: 'SHA', value: (b) => shortSha(b.source.sha) },
    { header: 'MESSAGE', value: (b) => firstLine(b.source.message, 50) || (b.trigger === 'push' ? '' : `(${b.trigger})`) },
    { header: 'DURATION', value: (b) => buildDuration(b, now), align: 'right' },
  ];
  return renderTable(columns, builds, p);
}

/** `kiln builds show`: a header block, then each step with its status, exit code and time. */
export function buildDetail(b: BuildView, p: Palette, now: number, project?: ProjectView | null): string[] {
  const field = (name: string, value: string) => `${p.style(name.padEnd(9), 'dim')} ${value}`;
  const status = p.style(b.status, 'bold', ...statusStyle(b.status)) + (b.exitCode !== null ? ` (exit ${b.exitCode})` : '') + (b.cancelRequested && b.status !== 'cancelled' ? p.style('  cancel requested', 'yellow') : '');
  const src = b.source;
  const commit = [shortSha(src.sha), firstLine(src.message, 72) ? `"${firstLine(src.message, 72)}"` : '', src.author ? `by ${src.author}` : ''].filter(Boolean).join(' ');
  const out = [
    `${p.style('Build', 'bold')} ${b.id}`,
    field('Status', status),
    field('Project', project ? `${project.name} (${b.projectId})` : b.projectId),
    field('Ref', `${src.ref}${src.sha ? ` @ ${commit}` : ''}`),
    field('Trigger', `${b.trigger}${b.attempt > 1 ? `, attempt ${b.attempt}` : ''}${b.workerId ? `, worker ${b.workerId}` : ''}`),
    field('Requested', b.requestedAt),
  ];
  if (b.startedAt) out.push(field('Started', b.startedAt));
  if (b.finishedAt) out.push(field('Finished', b.finishedAt));
  out.push(field('Duration', buildDuration(b, now)));
  if (b.reason) out.push(field('Reason', b.reason));
  out.push('', p.style('Steps', 'bold'));
  if (!b.steps.length) out.push(p.style(b.startedAt ? '  (pipeline not loaded yet)' : '  (not started)', 'dim'));
  else out.push(...stepsTable(b.steps, p, now).map((l) => `  ${l}`));
  return out;
}

function stepsTable(steps: StepView[], p: Palette, now: number): string[] {
  const columns: Column<StepView>[] = [
    { header: ' ', value: (s) => statusMark(s.status), style: (s) => statusStyle(s.status) },
    { header: '#', value: (s) => String(s.index + 1), align: 'right' },
    { header: 'STEP', value: (s) => s.name, max: 40 },
    { header: 'STATUS', value: (s) => s.status, style: (s) => statusStyle(s.status) },
    { header: 'EXIT', value: (s) => (s.exitCode === null ? '-' : String(s.exitCode)), align: 'right' },
    {
      header: 'DURATION',
      value: (s) => (s.durationMs !== null ? formatDuration(s.durationMs) : s.status === 'running' ? formatDuration(elapsedMs(s.startedAt, null, now) ?? NaN) : '-'),
      align: 'right',
    },
  ];
  return renderTable(columns, steps, p);
}
