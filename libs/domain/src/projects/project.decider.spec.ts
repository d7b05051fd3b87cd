import { IllegalStateError, InvalidError, NotFoundError, ProjectEvent, projectCodec } from '@kiln/contracts';
import { given } from '@kiln/testing';
import { fold } from '../decider';
import { acceptedWebhookSecrets, ActiveProject, projectDecider, refTriggers } from './project.decider';

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

describe('project secrets', () => {
  const sealed = (tag: string) => `enc:v1:aXY.dGFn.${tag}`;
  const set = (name: string, tag: string, at = '2024-05-15T10:00:00.000Z'): ProjectEvent => ({
    type: 'ProjectSecretSet',
    data: { projectId: data.projectId, name, value: sealed(tag), setAt: at },
  });

  it('sets a secret of an existing project', () => {
    given(projectDecider, [created])
      .when({ type: 'SetProjectSecret', projectId: data.projectId, name: 'NPM_TOKEN', value: sealed('a'), now: '2024-05-15T10:00:00.000Z' })
      .then([set('NPM_TOKEN', 'a')]);
    expect(() => projectCodec.validate(set('NPM_TOKEN', 'a'))).not.toThrow();
  });

  it('replaces a secret that is set again', () => {
    given(projectDecider, [created, set('NPM_TOKEN', 'a')])
      .when({ type: 'SetProjectSecret', projectId: data.projectId, name: 'NPM_TOKEN', value: sealed('b'), now: '2024-05-16T10:00:00.000Z' })
      .then([set('NPM_TOKEN', 'b', '2024-05-16T10:00:00.000Z')]);
    expect(fold(projectDecider, [created, set('NPM_TOKEN', 'a'), set('NPM_TOKEN', 'b', 'later')])).toMatchObject({ secrets: { NPM_TOKEN: { value: sealed('b'), setAt: 'later' } } });
  });

  it('rejects a secret for a project that does not exist', () => {
    given(projectDecider, [])
      .when({ type: 'SetProjectSecret', projectId: 'proj-nope', name: 'NPM_TOKEN', value: sealed('a'), now: 't' })
      .thenThrows(NotFoundError, /project proj-nope not found/);
    given(projectDecider, []).when({ type: 'RemoveProjectSecret', projectId: 'proj-nope', name: 'NPM_TOKEN', now: 't' }).thenThrows(NotFoundError, /project proj-nope not found/);
  });

  it('rejects names the runner sets itself', () => {
    for (const name of ['CI', 'KILN', 'KILN_BUILD_ID']) {
      given(projectDecider, [created]).when({ type: 'SetProjectSecret', projectId: data.projectId, name, value: sealed('a'), now: 't' }).thenThrows(InvalidError, /reserved/);
    }
  });

  it('removes a secret', () => {
    given(projectDecider, [created, set('NPM_TOKEN', 'a'), set('DEPLOY_KEY', 'k')])
      .when({ type: 'RemoveProjectSecret', projectId: data.projectId, name: 'NPM_TOKEN', now: '2024-05-17T10:00:00.000Z' })
      .then([{ type: 'ProjectSecretRemoved', data: { projectId: data.projectId, name: 'NPM_TOKEN', removedAt: '2024-05-17T10:00:00.000Z' } }]);
  });

  it('rejects removing a secret that is not set', () => {
    const removed: ProjectEvent = { type: 'ProjectSecretRemoved', data: { projectId: data.projectId, name: 'NPM_TOKEN', removedAt: 't' } };
    given(projectDecider, [created]).when({ type: 'RemoveProjectSecret', projectId: data.projectId, name: 'NPM_TOKEN', now: 't' }).thenThrows(NotFoundError, /no secret NPM_TOKEN/);
    given(projectDecider, [created, set('NPM_TOKEN', 'a'), removed])
      .when({ type: 'RemoveProjectSecret', projectId: data.projectId, name: 'NPM_TOKEN', now: 't' })
      .thenThrows(NotFoundError, /no secret NPM_TOKEN/);
  });

  it('folds set and removed secrets by name', () => {
    const removed: ProjectEvent = { type: 'ProjectSecretRemoved', data: { projectId: data.projectId, name: 'NPM_TOKEN', removedAt: 't' } };
    expect(fold(projectDecider, [created, set('NPM_TOKEN', 'a'), set('DEPLOY_KEY', 'k'), removed])).toEqual({
      status: 'active',
      ...data,
      secrets: { DEPLOY_KEY: { value: sealed('k'), setAt: '2024-05-15T10:00:00.000Z' } },
    });
  });

  it('never stores a plaintext value: the contract requires enc:v1:', () => {
    const plain: ProjectEvent = { type: 'ProjectSecretSet', data: { projectId: data.projectId, name: 'NPM_TOKEN', value: 'hunter22', setAt: 't' } };
    expect(() => projectCodec.validate(plain)).toThrow(/must be encrypted/);
    const badName: ProjectEvent = { type: 'ProjectSecretSet', data: { projectId: data.projectId, name: '1BAD-NAME', value: sealed('a'), setAt: 't' } };
    expect(() => projectCodec.validate(badName)).toThrow(/name/);
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

describe('ChangeProjectSettings', () => {
  const created: ProjectEvent = {
    type: 'ProjectCreated',
    data: { projectId: 'ps', name: 'n', repoUrl: '/r', provider: 'github', webhookSecret: 'enc:v1:x', branches: null, concurrency: 6, createdAt: '2026-01-01T00:00:00.000Z' },
  };
  it('records only what changes, and the state follows', () => {
    given(projectDecider, [created])
      .when({ type: 'ChangeProjectSettings', projectId: 'ps', settings: { autoCancel: true, concurrency: 6 }, now: '2026-01-02T00:00:00.000Z' })
      .then([{ type: 'ProjectSettingsChanged', data: { projectId: 'ps', autoCancel: true, changedAt: '2026-01-02T00:00:00.000Z' } }]);
    const state = given(projectDecider, [created, { type: 'ProjectSettingsChanged', data: { projectId: 'ps', autoCancel: true, concurrency: 2, changedAt: 't' } }]).state;
    expect(state).toMatchObject({ autoCancel: true, concurrency: 2, branches: null });
  });
  it('changes nothing when nothing differs, and refuses an unknown project', () => {
    given(projectDecider, [created]).when({ type: 'ChangeProjectSettings', projectId: 'ps', settings: { concurrency: 6 }, now: 't' }).then([]);
    given(projectDecider, []).when({ type: 'ChangeProjectSettings', projectId: 'nope', settings: { autoCancel: true }, now: 't' }).thenThrows(NotFoundError);
  });
});

describe('webhook secret rotation', () => {
  const rotated = (secret: string, at: string, until: string | null): ProjectEvent => ({
    type: 'ProjectWebhookSecretRotated',
    data: { projectId: data.projectId, webhookSecret: secret, previousValidUntil: until, rotatedAt: at },
  });

  it('records the new secret and until when the previous one is accepted', () => {
    given(projectDecider, [created])
      .when({ type: 'RotateWebhookSecret', projectId: data.projectId, webhookSecret: 'enc:v1:new', graceMs: 3_600_000, now: '2024-06-01T10:00:00.000Z' })
      .then([rotated('enc:v1:new', '2024-06-01T10:00:00.000Z', '2024-06-01T11:00:00.000Z')]);
    expect(() => projectCodec.validate(rotated('enc:v1:new', 't', null))).not.toThrow();
    expect(() => projectCodec.validate(rotated('plaintext', 't', null))).toThrow(/must be encrypted/);
  });

  it('with no grace the previous secret is not kept at all', () => {
    given(projectDecider, [created])
      .when({ type: 'RotateWebhookSecret', projectId: data.projectId, webhookSecret: 'enc:v1:new', graceMs: 0, now: '2024-06-01T10:00:00.000Z' })
      .then([rotated('enc:v1:new', '2024-06-01T10:00:00.000Z', null)]);
    const state = fold(projectDecider, [created, rotated('enc:v1:new', '2024-06-01T10:00:00.000Z', null)]);
    expect(state).toMatchObject({ webhookSecret: 'enc:v1:new', previousWebhookSecret: null });
    expect(acceptedWebhookSecrets(state as ActiveProject, '2024-06-01T10:00:00.000Z')).toEqual(['enc:v1:new']);
  });

  it('accepts the replaced secret only until its grace ends, and only the last one replaced', () => {
    const once = fold(projectDecider, [created, rotated('enc:v1:second', '2024-06-01T10:00:00.000Z', '2024-06-01T11:00:00.000Z')]) as ActiveProject;
    expect(acceptedWebhookSecrets(once, '2024-06-01T10:59:59.999Z')).toEqual(['enc:v1:second', data.webhookSecret]);
    expect(acceptedWebhookSecrets(once, '2024-06-01T11:00:00.000Z')).toEqual(['enc:v1:second']);
    const twice = fold(projectDecider, [
      created,
      rotated('enc:v1:second', '2024-06-01T10:00:00.000Z', '2024-06-01T11:00:00.000Z'),
      rotated('enc:v1:third', '2024-06-01T10:05:00.000Z', '2024-06-01T11:05:00.000Z'),
    ]) as ActiveProject;
    expect(acceptedWebhookSecrets(twice, '2024-06-01T10:06:00.000Z')).toEqual(['enc:v1:third', 'enc:v1:second']);
  });

  it('refuses a negative grace and an unknown project', () => {
    given(projectDecider, [created]).when({ type: 'RotateWebhookSecret', projectId: data.projectId, webhookSecret: 'enc:v1:x', graceMs: -1, now: 't' }).thenThrows(InvalidError, /grace/);
    given(projectDecider, []).when({ type: 'RotateWebhookSecret', projectId: 'nope', webhookSecret: 'enc:v1:x', graceMs: 0, now: 't' }).thenThrows(NotFoundError, /project nope not found/);
  });
});

describe('project deletion', () => {
  const deleted: ProjectEvent = { type: 'ProjectDeleted', data: { projectId: data.projectId, deletedAt: '2024-07-01T09:00:00.000Z' } };

  it('deletes an active project; the state keeps its fields for history', () => {
    given(projectDecider, [created]).when({ type: 'DeleteProject', projectId: data.projectId, now: '2024-07-01T09:00:00.000Z' }).then([deleted]);
    expect(() => projectCodec.validate(deleted)).not.toThrow();
    expect(fold(projectDecider, [created, deleted])).toEqual({ status: 'deleted', ...data, deletedAt: '2024-07-01T09:00:00.000Z' });
  });

  it('refuses to delete twice, or a project that never existed (404, saying which)', () => {
    given(projectDecider, [created, deleted]).when({ type: 'DeleteProject', projectId: data.projectId, now: 't' }).thenThrows(NotFoundError, /project proj-web-frontend was deleted at 2024-07-01T09:00:00.000Z/);
    given(projectDecider, []).when({ type: 'DeleteProject', projectId: 'nope', now: 't' }).thenThrows(NotFoundError, /project nope not found/);
  });

  it('refuses every other command on a deleted project, and creating it again', () => {
    const g = given(projectDecider, [created, deleted]);
    g.when({ type: 'SetProjectSecret', projectId: data.projectId, name: 'NPM_TOKEN', value: 'enc:v1:x', now: 't' }).thenThrows(NotFoundError, /was deleted/);
    g.when({ type: 'RemoveProjectSecret', projectId: data.projectId, name: 'NPM_TOKEN', now: 't' }).thenThrows(NotFoundError, /was deleted/);
    g.when({ type: 'ChangeProjectSettings', projectId: data.projectId, settings: { concurrency: 9 }, now: 't' }).thenThrows(NotFoundError, /was deleted/);
    g.when({ type: 'RotateWebhookSecret', projectId: data.projectId, webhookSecret: 'enc:v1:x', graceMs: 0, now: 't' }).thenThrows(NotFoundError, /was deleted/);
    g.when({ type: 'CreateProject', data }).thenThrows(IllegalStateError, /already exists/);
  });

  it('ignores events that arrive after the deletion', () => {
    const late: ProjectEvent = { type: 'ProjectSettingsChanged', data: { projectId: data.projectId, concurrency: 9, changedAt: 't' } };
    expect(fold(projectDecider, [created, deleted, late])).toMatchObject({ status: 'deleted', concurrency: 2 });
  });
});
