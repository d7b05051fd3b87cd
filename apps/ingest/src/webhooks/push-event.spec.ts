import webhookDefinitions from '@octokit/webhooks-examples';
import {
  normalizeRepoUrl,
  parseGithubEvent,
  parseGitlabEvent,
  PushEvent,
  repoMatches,
  WebhookParseResult,
  WebhookPayloadError,
} from './push-event';

type Json = Record<string, unknown>;

const ZERO_SHA = '0000000000000000000000000000000000000000';

/** Real payloads GitHub sends, from `@octokit/webhooks-examples` (api.github.com). */
function githubExamples(name: string): Json[] {
  const definition = webhookDefinitions.find((d) => d.name === name);
  if (!definition) throw new Error(`@octokit/webhooks-examples has no "${name}" examples`);
  // Deep copies so a test can mutate its payload freely.
  return (definition.examples as unknown[]).map((e) => structuredClone(e) as Json);
}

function expectPush(result: WebhookParseResult): PushEvent {
  if (result.kind !== 'push') throw new Error(`expected a push, got ${JSON.stringify(result)}`);
  return result.push;
}

function thrown(fn: () => unknown): WebhookPayloadError {
  try {
    fn();
  } catch (error) {
    if (error instanceof WebhookPayloadError) return error;
    throw error;
  }
  throw new Error('expected a WebhookPayloadError, nothing was thrown');
}

const pushExamples = githubExamples('push');
const branchPush = pushExamples.find((e) => e.ref === 'refs/heads/master' && e.head_commit !== null);
const tagPush = pushExamples.find((e) => e.ref === 'refs/tags/simple-tag' && e.deleted === false);
const deletion = pushExamples.find((e) => e.deleted === true);

describe('parseGithubEvent — push', () => {
  it('has push examples covering a branch push, a tag push and a deletion', () => {
    expect(pushExamples.length).toBeGreaterThan(0);
    expect(branchPush).toBeDefined();
    expect(tagPush).toBeDefined();
    expect(deletion).toBeDefined();
  });

  it.each(pushExamples.map((example, i) => [i, example] as const))('parses push example #%i', (_i, example) => {
    const push = expectPush(parseGithubEvent('push', example));
    const repository = example.repository as Json;

    expect(push.provider).toBe('github');
    expect(push.repo.fullName).toBe(repository.full_name);
    expect(push.repo.cloneUrls[0]).toBe(repository.clone_url);
    expect(push.ref).toBe(example.ref);
    expect(push.sha).toBe(example.after);
    expect(push.deleted).toBe(example.deleted);
    if (push.branch !== null) expect(push.ref).toBe(`refs/heads/${push.branch}`);
    if (push.tag !== null) expect(push.ref).toBe(`refs/tags/${push.tag}`);
    expect(push.branch === null || push.tag === null).toBe(true);
  });

  it('normalizes a branch push fully', () => {
    expect(parseGithubEvent('push', branchPush)).toEqual({
      kind: 'push',
      push: {
        provider: 'github',
        repo: {
          fullName: 'Codertocat/Hello-World',
          cloneUrls: [
            'https://github.com/Codertocat/Hello-World.git',
            'git@github.com:Codertocat/Hello-World.git',
            'https://github.com/Codertocat/Hello-World',
            'git://github.com/Codertocat/Hello-World.git',
          ],
        },
        ref: 'refs/heads/master',
        branch: 'master',
        tag: null,
        sha: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
        deleted: false,
        author: {
          name: 'Codertocat',
          email: '21031067+Codertocat@users.noreply.github.com',
          username: 'Codertocat',
        },
        message: 'Initial commit',
      },
    });
  });

  it('recognizes a tag push', () => {
    const push = expectPush(parseGithubEvent('push', tagPush));
    expect(push.tag).toBe('simple-tag');
    expect(push.branch).toBeNull();
    expect(push.deleted).toBe(false);
  });

  it('marks a deletion (head_commit null, after all zeros) as deleted, author from the pusher', () => {
    expect(deletion?.head_commit).toBeNull();
    const push = expectPush(parseGithubEvent('push', deletion));
    expect(push.deleted).toBe(true);
    expect(push.sha).toBe(ZERO_SHA);
    expect(push.message).toBeNull();
    expect(push.author).toEqual({ name: 'Codertocat', email: '21031067+Codertocat@users.noreply.github.com' });
  });

  it('infers a deletion from an all-zero "after" when "deleted" is absent', () => {
    const body = structuredClone(deletion) as Json;
    delete body.deleted;
    expect(expectPush(parseGithubEvent('push', body)).deleted).toBe(true);
  });

  it('lower-cases the sha', () => {
    const body = { ...branchPush, after: '6113728F27AE82C7B1A177C8D03F9E96E0ADF246' };
    expect(expectPush(parseGithubEvent('push', body)).sha).toBe('6113728f27ae82c7b1a177c8d03f9e96e0adf246');
  });

  it('gives author null when there is neither a head commit nor a pusher', () => {
    const body = { ...deletion, pusher: null };
    expect(expectPush(parseGithubEvent('push', body)).author).toBeNull();
  });

  it('throws naming repository.clone_url when it is removed', () => {
    const body = structuredClone(branchPush) as Json;
    delete (body.repository as Json).clone_url;
    const error = thrown(() => parseGithubEvent('push', body));
    expect(error).toBeInstanceOf(WebhookPayloadError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('WebhookPayloadError');
    expect(error.code).toBe('INVALID');
    expect(error.message).toContain('repository.clone_url: expected string');
    expect(error.issues).toEqual(['repository.clone_url: expected string']);
  });

  it('names every failing field', () => {
    const body = structuredClone(branchPush) as Json;
    delete body.ref;
    (body.repository as Json).full_name = 42;
    const error = thrown(() => parseGithubEvent('push', body));
    expect(error.message).toContain('ref: expected string');
    expect(error.message).toContain('repository.full_name: expected string');
  });

  it('throws when repository is missing altogether', () => {
    const body = structuredClone(branchPush) as Json;
    delete body.repository;
    expect(thrown(() => parseGithubEvent('push', body)).message).toContain('repository: expected object');
  });

  it.each([
    ['null', null],
    ['a string', '{"ref":"refs/heads/main"}'],
    ['an array', []],
  ])('throws for a body that is %s', (_label, body) => {
    expect(() => parseGithubEvent('push', body)).toThrow(WebhookPayloadError);
  });

  it('rejects a ref that is not a full ref (e.g. an option-looking value)', () => {
    const error = thrown(() => parseGithubEvent('push', { ...branchPush, ref: '--upload-pack=touch /tmp/pwned' }));
    expect(error.message).toContain('ref: expected a full ref');
  });

  it('rejects an "after" that is not a commit id', () => {
    const error = thrown(() => parseGithubEvent('push', { ...branchPush, after: 'HEAD' }));
    expect(error.message).toContain('after: expected a 40- or 64-character hex commit id');
  });
});

describe('parseGithubEvent — ping and other events', () => {
  const pingExamples = githubExamples('ping');

  it.each(pingExamples.map((example, i) => [i, example] as const))('parses ping example #%i', (_i, example) => {
    expect(parseGithubEvent('ping', example)).toEqual({ kind: 'ping', zen: example.zen, hookId: example.hook_id });
  });

  it('accepts a minimal ping', () => {
    expect(parseGithubEvent('ping', {})).toEqual({ kind: 'ping' });
  });

  it.each(['issues', 'pull_request', 'workflow_run'])('ignores the "%s" event without validating the body', (name) => {
    expect(parseGithubEvent(name, undefined)).toEqual({ kind: 'ignored', reason: `event "${name}" is not handled` });
  });

  it('ignores a real non-push payload', () => {
    const [starred] = githubExamples('star');
    expect(parseGithubEvent('star', starred)).toEqual({ kind: 'ignored', reason: 'event "star" is not handled' });
  });

  it.each([undefined, '', '   '])('throws when the event header is %p', (header) => {
    const error = thrown(() => parseGithubEvent(header, branchPush));
    expect(error.message).toBe('missing X-GitHub-Event header');
  });
});

// ---------------------------------------------------------------------------------------------
// GitLab — fixtures written from the "Push events" / "Tag events" examples in GitLab's webhook
// events documentation (https://docs.gitlab.com/user/project/integrations/webhook_events/).
// ---------------------------------------------------------------------------------------------

function gitlabProject(): Json {
  return {
    id: 15,
    name: 'Diaspora',
    description: '',
    web_url: 'https://gitlab.example.com/mike/diaspora',
    avatar_url: null,
    git_ssh_url: 'git@gitlab.example.com:mike/diaspora.git',
    git_http_url: 'https://gitlab.example.com/mike/diaspora.git',
    namespace: 'Mike',
    visibility_level: 0,
    path_with_namespace: 'mike/diaspora',
    default_branch: 'main',
    ci_config_path: null,
    homepage: 'https://gitlab.example.com/mike/diaspora',
    url: 'git@gitlab.example.com:mike/diaspora.git',
    ssh_url: 'git@gitlab.example.com:mike/diaspora.git',
    http_url: 'https://gitlab.example.com/mike/diaspora.git',
  };
}

function gitlabRepository(): Json {
  return {
    name: 'Diaspora',
    url: 'git@gitlab.example.com:mike/diaspora.git',
    description: '',
    homepage: 'https://gitlab.example.com/mike/diaspora',
    git_http_url: 'https://gitlab.example.com/mike/diaspora.git',
    git_ssh_url: 'git@gitlab.example.com:mike/diaspora.git',
    visibility_level: 0,
  };
}

function gitlabPushHook(): Json {
  return {
    object_kind: 'push',
    event_name: 'push',
    before: '95790bf891e76fee5e1747ab589903a6a1f80f22',
    after: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
    ref: 'refs/heads/main',
    ref_protected: true,
    checkout_sha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
    message: null,
    user_id: 4,
    user_name: 'John Smith',
    user_username: 'jsmith',
    user_email: 'john@example.com',
    user_avatar: 'https://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=80',
    project_id: 15,
    project: gitlabProject(),
    commits: [
      {
        id: 'b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327',
        message: 'Update Catalan translation to e38cb41.\n\nSee https://gitlab.com/gitlab-org/gitlab for more information',
        title: 'Update Catalan translation to e38cb41.',
        timestamp: '2011-12-12T14:27:31+02:00',
        url: 'https://gitlab.example.com/mike/diaspora/commit/b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327',
        author: { name: 'Jordi Mallach', email: 'jordi@softcatala.org' },
        added: ['CHANGELOG'],
        modified: ['app/controller/application.rb'],
        removed: [],
      },
      {
        id: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
        message: 'fixed readme',
        title: 'fixed readme',
        timestamp: '2012-01-03T23:36:29+02:00',
        url: 'https://gitlab.example.com/mike/diaspora/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
        author: { name: 'GitLab dev user', email: 'gitlabdev@dv6700.(none)' },
        added: ['CHANGELOG'],
        modified: ['app/controller/application.rb'],
        removed: [],
      },
    ],
    total_commits_count: 4,
    push_options: {},
    repository: gitlabRepository(),
  };
}

function gitlabTagPushHook(): Json {
  return {
    object_kind: 'tag_push',
    event_name: 'tag_push',
    before: ZERO_SHA,
    after: '82b3d5ae55f7080f1e6022629cdb57bfae7cccc7',
    ref: 'refs/tags/v1.0.0',
    ref_protected: true,
    checkout_sha: '5937ac0a7beb003549fc5fd26fc247adbce4a52e',
    message: 'Release 1.0.0',
    user_id: 1,
    user_name: 'John Smith',
    user_username: 'jsmith',
    user_email: '[REDACTED]',
    user_avatar: 'https://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=8://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=80',
    project_id: 1,
    project: gitlabProject(),
    commits: [],
    total_commits_count: 0,
    push_options: {},
    repository: gitlabRepository(),
  };
}

describe('parseGitlabEvent', () => {
  it('normalizes a Push Hook fully', () => {
    expect(parseGitlabEvent('Push Hook', gitlabPushHook())).toEqual({
      kind: 'push',
      push: {
        provider: 'gitlab',
        repo: {
          fullName: 'mike/diaspora',
          cloneUrls: [
            'https://gitlab.example.com/mike/diaspora.git',
            'git@gitlab.example.com:mike/diaspora.git',
            'https://gitlab.example.com/mike/diaspora',
          ],
        },
        ref: 'refs/heads/main',
        branch: 'main',
        tag: null,
        sha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
        deleted: false,
        author: { name: 'GitLab dev user', email: 'gitlabdev@dv6700.(none)' },
        message: 'fixed readme',
      },
    });
  });

  it('takes message and author from the commit whose id is checkout_sha, not just the last one', () => {
    const body = gitlabPushHook();
    (body.commits as Json[]).reverse();
    const push = expectPush(parseGitlabEvent('Push Hook', body));
    expect(push.message).toBe('fixed readme');
    expect(push.author?.name).toBe('GitLab dev user');
  });

  it('falls back to the last commit when checkout_sha is not among the listed commits', () => {
    const body = { ...gitlabPushHook(), checkout_sha: 'ffffffffffffffffffffffffffffffffffffffff' };
    const push = expectPush(parseGitlabEvent('Push Hook', body));
    expect(push.sha).toBe('ffffffffffffffffffffffffffffffffffffffff');
    expect(push.message).toBe('fixed readme');
  });

  it('uses "after" when checkout_sha is absent', () => {
    const body = gitlabPushHook();
    delete body.checkout_sha;
    expect(expectPush(parseGitlabEvent('Push Hook', body)).sha).toBe('da1560886d4f094c3e6c9ef40349f7d38b5d27d7');
  });

  it('falls back to user_name / user_email / user_username without commits', () => {
    const body = { ...gitlabPushHook(), commits: [] };
    const push = expectPush(parseGitlabEvent('Push Hook', body));
    expect(push.author).toEqual({ name: 'John Smith', email: 'john@example.com', username: 'jsmith' });
    expect(push.message).toBeNull();
  });

  it('parses a Tag Push Hook: tag, checkout_sha, annotation message, redacted email dropped', () => {
    const push = expectPush(parseGitlabEvent('Tag Push Hook', gitlabTagPushHook()));
    expect(push).toMatchObject({
      provider: 'gitlab',
      ref: 'refs/tags/v1.0.0',
      branch: null,
      tag: 'v1.0.0',
      sha: '5937ac0a7beb003549fc5fd26fc247adbce4a52e',
      deleted: false,
      message: 'Release 1.0.0',
    });
    expect(push.author).toEqual({ name: 'John Smith', username: 'jsmith' });
  });

  it('marks a branch deletion as deleted with an all-zero sha', () => {
    const body = { ...gitlabPushHook(), after: ZERO_SHA, checkout_sha: null, commits: [], total_commits_count: 0 };
    const push = expectPush(parseGitlabEvent('Push Hook', body));
    expect(push.deleted).toBe(true);
    expect(push.sha).toBe(ZERO_SHA);
    expect(push.message).toBeNull();
    expect(push.author?.name).toBe('John Smith');
  });

  it.each(['System Hook', 'Merge Request Hook', 'Pipeline Hook'])('ignores "%s"', (name) => {
    expect(parseGitlabEvent(name, gitlabPushHook())).toEqual({
      kind: 'ignored',
      reason: `event "${name}" is not handled`,
    });
  });

  it.each([undefined, ''])('throws when the event header is %p', (header) => {
    expect(thrown(() => parseGitlabEvent(header, gitlabPushHook())).message).toBe('missing X-Gitlab-Event header');
  });

  it('throws naming project.git_http_url when it is missing', () => {
    const body = gitlabPushHook();
    delete (body.project as Json).git_http_url;
    const error = thrown(() => parseGitlabEvent('Push Hook', body));
    expect(error.message).toContain('project.git_http_url: expected string');
  });

  it('names array positions in the failing path', () => {
    const body = gitlabPushHook();
    ((body.commits as Json[])[1] as Json).id = 7;
    expect(thrown(() => parseGitlabEvent('Push Hook', body)).message).toContain('commits[1].id: expected string');
  });
});

describe('normalizeRepoUrl', () => {
  it.each([
    ['https://github.com/o/r.git', 'github.com/o/r'],
    ['https://github.com/o/r', 'github.com/o/r'],
    ['https://github.com/o/r/', 'github.com/o/r'],
    ['https://github.com/o/r.git/', 'github.com/o/r'],
    ['https://user:tok@github.com/o/r.git', 'github.com/o/r'],
    ['https://x-access-token:ghs_abc@GitHub.COM/Owner/Repo.git', 'github.com/Owner/Repo'],
    ['http://gitlab.example.com:8080/group/sub/proj.git', 'gitlab.example.com/group/sub/proj'],
    ['git@github.com:o/r.git', 'github.com/o/r'],
    ['git@GitHub.com:o/r', 'github.com/o/r'],
    ['github.com:o/r.git', 'github.com/o/r'],
    ['ssh://git@github.com/o/r.git', 'github.com/o/r'],
    ['ssh://git@gitlab.example.com:2222/group/proj.git', 'gitlab.example.com/group/proj'],
    ['git://github.com/o/r.git', 'github.com/o/r'],
    ['https://github.com/o/r.git?x=1#frag', 'github.com/o/r'],
    ['  https://github.com/o/r.git  ', 'github.com/o/r'],
    ['github.com/o/r', 'github.com/o/r'],
    ['/tmp/x/repo.git', '/tmp/x/repo'],
    ['/tmp/x/repo.git/', '/tmp/x/repo'],
    ['/tmp/x/repo', '/tmp/x/repo'],
    ['file:///tmp/x/repo.git', '/tmp/x/repo'],
    ['file:///tmp/my%20repo.git', '/tmp/my repo'],
    ['', ''],
  ])('%p → %p', (input, expected) => {
    expect(normalizeRepoUrl(input)).toBe(expected);
  });

  it('is idempotent', () => {
    for (const url of ['https://u:p@GitHub.com/o/r.git', 'git@host:o/r.git', 'file:///tmp/x/repo.git', '/srv/a.git']) {
      const once = normalizeRepoUrl(url);
      expect(normalizeRepoUrl(once)).toBe(once);
    }
  });

  it('never throws on junk', () => {
    for (const junk of ['https://', '::::', 'http://[bad', '@@@', 'file:', 'a b c']) {
      expect(() => normalizeRepoUrl(junk)).not.toThrow();
    }
  });

  it('makes the https, ssh and git URLs of one GitHub repository equal', () => {
    const push = expectPush(parseGithubEvent('push', branchPush));
    const keys = new Set(push.repo.cloneUrls.map(normalizeRepoUrl));
    expect([...keys]).toEqual(['github.com/Codertocat/Hello-World']);
  });
});

describe('repoMatches', () => {
  const github = expectPush(parseGithubEvent('push', branchPush));
  const gitlab = expectPush(parseGitlabEvent('Push Hook', gitlabPushHook()));

  it.each([
    'https://github.com/Codertocat/Hello-World.git',
    'https://github.com/Codertocat/Hello-World',
    'https://bot:ghp_token@github.com/Codertocat/Hello-World.git',
    'git@github.com:Codertocat/Hello-World.git',
    'ssh://git@github.com/Codertocat/Hello-World.git',
    'https://github.com/codertocat/hello-world.git',
    'Codertocat/Hello-World',
    'codertocat/hello-world',
    '/srv/mirrors/Codertocat/Hello-World.git',
  ])('matches the GitHub push for %p', (url) => {
    expect(repoMatches(url, github)).toBe(true);
  });

  it.each([
    'https://github.com/Codertocat/Hello-World-2.git',
    'https://github.com/Other/Hello-World.git',
    'https://github.com/Codertocat/Hello',
    'Hello-World',
    'github.com/xCodertocat/Hello-World',
    '',
  ])('does not match the GitHub push for %p', (url) => {
    expect(repoMatches(url, github)).toBe(false);
  });

  it('matches GitLab pushes by any of their URLs or the namespace path', () => {
    expect(repoMatches('git@gitlab.example.com:mike/diaspora.git', gitlab)).toBe(true);
    expect(repoMatches('https://gitlab.example.com/mike/diaspora', gitlab)).toBe(true);
    expect(repoMatches('ssh://git@gitlab.example.com:2222/mike/diaspora.git', gitlab)).toBe(true);
    expect(repoMatches('mike/diaspora', gitlab)).toBe(true);
    expect(repoMatches('https://gitlab.example.com/mike/other.git', gitlab)).toBe(false);
  });

  it('matches a local repository by path', () => {
    const local: PushEvent = {
      ...github,
      repo: { fullName: 'x/repo', cloneUrls: ['file:///tmp/x/repo.git'] },
    };
    expect(repoMatches('/tmp/x/repo.git', local)).toBe(true);
    expect(repoMatches('/tmp/x/repo', local)).toBe(true);
    expect(repoMatches('/tmp/y/other.git', local)).toBe(false);
  });
});
