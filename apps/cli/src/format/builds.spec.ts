import type { BuildView } from '../api/wire';
import { palette, stripAnsi } from './ansi';
import { buildDetail, buildDuration, buildsTable, statusMark, statusStyle } from './builds';
import { projectsTable } from './projects';

const build = (b: Partial<BuildView> = {}): BuildView => ({
  id: '1234abcd-0000-4000-8000-000000000000',
  projectId: 'p1',
  status: 'succeeded',
  trigger: 'push',
  attempt: 1,
  workerId: 'w-1',
  source: { repoUrl: 'r', ref: 'refs/heads/main', sha: 'abcdef1234567', branch: 'main', author: 'Ada', message: 'Add a feature\n\nwith a body' },
  cancelRequested: false,
  reason: null,
  exitCode: null,
  requestedAt: '2025-01-01T00:00:00.000Z',
  queuedAt: '2025-01-01T00:00:00.000Z',
  startedAt: '2025-01-01T00:00:01.000Z',
  finishedAt: '2025-01-01T00:00:04.200Z',
  steps: [],
  ...b,
});
const NOW = Date.parse('2025-01-01T00:00:10.000Z');

describe('build formatting', () => {
  it('status colours and marks', () => {
    expect(statusStyle('succeeded')).toEqual(['green']);
    expect(statusStyle('failed')).toEqual(['red']);
    expect(statusStyle('timed_out')).toEqual(['red']);
    expect(statusStyle('cancelled')).toEqual(['yellow']);
    expect(statusStyle('running')).toEqual(['cyan']);
    expect(statusStyle('queued')).toEqual(['gray']);
    expect(statusMark('succeeded')).toBe('✓');
    expect(statusMark('failed')).toBe('✗');
    expect(statusMark('pending')).toBe('○');
  });

  it('duration: finished, running (to now), not started', () => {
    expect(buildDuration(build(), NOW)).toBe('3.2s');
    expect(buildDuration(build({ finishedAt: null }), NOW)).toBe('9.0s');
    expect(buildDuration(build({ startedAt: null, finishedAt: null }), NOW)).toBe('-');
  });

  it('builds table: aligned columns; colour does not change the alignment', () => {
    const rows = [build(), build({ id: 'ffff0000-0000', status: 'running', finishedAt: null, source: { ...build().source, branch: null, ref: 'refs/tags/v1.2', sha: null, message: null }, trigger: 'manual' })];
    const plain = buildsTable(rows, palette(false), NOW);
    expect(plain).toEqual([
      'ID        STATUS     BRANCH  SHA      MESSAGE        DURATION',
      '1234abcd  succeeded  main    abcdef1  Add a feature      3.2s',
      'ffff0000  running    v1.2    -        (manual)           9.0s',
    ]);
    const coloured = buildsTable(rows, palette(true), NOW);
    expect(coloured[1]).toBe('1234abcd  \x1b[32msucceeded\x1b[39m  main    abcdef1  Add a feature      3.2s');
    expect(stripAnsi(coloured[1])).toBe(plain[1]);
  });

  it('detail: header, reason and steps with exit codes and durations', () => {
    const lines = buildDetail(
      build({
        status: 'failed',
        exitCode: 1,
        reason: 'step "test" failed with exit code 1',
        steps: [
          { index: 0, name: 'install', status: 'succeeded', exitCode: 0, startedAt: null, finishedAt: null, durationMs: 1200 },
          { index: 1, name: 'test', status: 'failed', exitCode: 1, startedAt: null, finishedAt: null, durationMs: 64_000 },
        ],
      }),
      palette(false),
      NOW,
      { id: 'p1', name: 'web', repoUrl: 'r', provider: 'github', branches: null, concurrency: 6, createdAt: '' },
    );
    expect(lines).toEqual([
      'Build 1234abcd-0000-4000-8000-000000000000',
      'Status    failed (exit 1)',
      'Project   web (p1)',
      'Ref       refs/heads/main @ abcdef1 "Add a feature" by Ada',
      'Trigger   push, worker w-1',
      'Requested 2025-01-01T00:00:00.000Z',
      'Started   2025-01-01T00:00:01.000Z',
      'Finished  2025-01-01T00:00:04.200Z',
      'Duration  3.2s',
      'Reason    step "test" failed with exit code 1',
      '',
      'Steps',
      '     #  STEP     STATUS     EXIT  DURATION',
      '  ✓  1  install  succeeded     0      1.2s',
      '  ✗  2  test     failed        1    1m 04s',
    ]);
  });

  it('detail of a queued build says it has not started', () => {
    const lines = buildDetail(build({ status: 'queued', startedAt: null, finishedAt: null, workerId: null }), palette(false), NOW);
    expect(lines.slice(-2)).toEqual(['Steps', '  (not started)']);
    expect(lines).toContain('Duration  -');
  });

  it('projects table', () => {
    expect(projectsTable([{ id: 'abcdef12-3456', name: 'web', repoUrl: 'https://x/web.git', provider: 'gitlab', branches: ['main', 'release/*'], concurrency: 6, createdAt: '' }], palette(false))).toEqual([
      'ID        NAME  PROVIDER  BRANCHES        CONCURRENCY  REPOSITORY',
      'abcdef12  web   gitlab    main,release/*            6  https://x/web.git',
    ]);
  });
});
