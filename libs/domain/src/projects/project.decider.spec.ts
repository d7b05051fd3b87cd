import { IllegalStateError, ProjectEvent, projectCodec } from '@kiln/contracts';
import { given } from '@kiln/testing';
import { fold } from '../decider';
import { projectDecider, refTriggers } from './project.decider';

type ProjectData = Extract<ProjectEvent, { type: 'ProjectCreated' }>['data'];

const data: ProjectData = {
  projectId: 'proj-web-frontend',
  name: 'Web frontend',
  repoUrl: 'https://github.com/acme/web-frontend.git',
  provider: 'github',
  webhookSecret: 'enc:v1:q9Xw3LrT0bKc1F2eYp8s7A==:Zm9vYmFyYmF6',
  branches: ['main', 'release/*'],
  concurrency: 2,
  createdAt: '2024-05-14T08:15:00.000Z',
};
const created: ProjectEvent = { type: 'ProjectCreated', data };

describe('project decider', () => {
  it('creates a project', () => {
    given(projectDecider, []).when({ type: 'CreateProject', data }).then([created]);
    expect(() => projectCodec.validate(created)).not.toThrow();
  });

  it('rejects creating the same project twice', () => {
    given(projectDecider, [created])
      .when({ type: 'CreateProject', data: { ...data, name: 'Web frontend (copy)' } })
      .thenThrows(IllegalStateError, /project proj-web-frontend already exists/);
  });

  it('folds ProjectCreated into an active project', () => {
    expect(fold(projectDecider, [])).toEqual({ status: 'none' });
    expect(fold(projectDecider, [created])).toEqual({ status: 'active', ...data });
  });
});

describe('refTriggers', () => {
  it('triggers on every branch and tag when branches is null', () => {
    const p = { branches: null };
    expect(refTriggers(p, 'refs/heads/main')).toBe(true);
    expect(refTriggers(p, 'refs/heads/feature/login-form')).toBe(true);
    expect(refTriggers(p, 'refs/tags/v1.4.0')).toBe(true);
  });

  it('treats an empty list like no filter', () => {
    expect(refTriggers({ branches: [] }, 'refs/heads/main')).toBe(true);
    expect(refTriggers({ branches: [] }, 'refs/tags/v1.4.0')).toBe(true);
  });

  it('matches an exact branch name and nothing else', () => {
    const p = { branches: ['main'] };
    expect(refTriggers(p, 'refs/heads/main')).toBe(true);
    expect(refTriggers(p, 'refs/heads/main-old')).toBe(false);
    expect(refTriggers(p, 'refs/heads/hotfix/main')).toBe(false);
    expect(refTriggers(p, 'refs/heads/develop')).toBe(false);
  });

  it('matches a glob like release/*', () => {
    const p = { branches: ['release/*'] };
    expect(refTriggers(p, 'refs/heads/release/1.4')).toBe(true);
    expect(refTriggers(p, 'refs/heads/release/2024-05')).toBe(true);
    expect(refTriggers(p, 'refs/heads/release')).toBe(false);
    expect(refTriggers(p, 'refs/heads/prerelease/1.4')).toBe(false);
    expect(refTriggers(p, 'refs/heads/main')).toBe(false);
  });

  it('treats regex characters in patterns literally', () => {
    const p = { branches: ['v1.4'] };
    expect(refTriggers(p, 'refs/heads/v1.4')).toBe(true);
    expect(refTriggers(p, 'refs/heads/v1x4')).toBe(false);
    expect(refTriggers({ branches: ['deps+(bump)'] }, 'refs/heads/deps+(bump)')).toBe(true);
  });

  it('matches when any pattern matches', () => {
    const p = { branches: data.branches };
    expect(refTriggers(p, 'refs/heads/main')).toBe(true);
    expect(refTriggers(p, 'refs/heads/release/3.0')).toBe(true);
    expect(refTriggers(p, 'refs/heads/feature/x')).toBe(false);
  });

  it('does not trigger tags when branch filters are set', () => {
    expect(refTriggers({ branches: ['main'] }, 'refs/tags/main')).toBe(false);
    expect(refTriggers({ branches: ['*'] }, 'refs/tags/v1.4.0')).toBe(false);
    expect(refTriggers({ branches: ['release/*'] }, 'refs/tags/release/1.4')).toBe(false);
  });

  it('lets * match every branch', () => {
    expect(refTriggers({ branches: ['*'] }, 'refs/heads/anything')).toBe(true);
  });
});
