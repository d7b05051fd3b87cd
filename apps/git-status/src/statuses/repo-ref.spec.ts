import { repoPathOf, repoRefOf } from './repo-ref';

describe('repoRefOf', () => {
  it('reads owner/repo from the GitHub URLs users paste', () => {
    for (const url of [
      'https://github.com/acme/web-frontend.git',
      'https://github.com/acme/web-frontend',
      'https://github.com/acme/web-frontend/',
      'git@github.com:acme/web-frontend.git',
      'ssh://git@github.com/acme/web-frontend.git',
      'ssh://git@github.example.com:2222/acme/web-frontend.git',
      '  https://x-access-token:t0k3n@github.com/acme/web-frontend.git ',
    ]) {
      expect(repoRefOf('github', url)).toEqual({ provider: 'github', owner: 'acme', repo: 'web-frontend' });
    }
  });

  it('keeps GitLab subgroups in the project path', () => {
    expect(repoRefOf('gitlab', 'https://gitlab.com/acme/platform/api.git')).toEqual({ provider: 'gitlab', path: 'acme/platform/api' });
    expect(repoRefOf('gitlab', 'git@gitlab.example.com:acme/platform/api.git')).toEqual({ provider: 'gitlab', path: 'acme/platform/api' });
    expect(repoRefOf('gitlab', 'https://gitlab.com/mike/diaspora')).toEqual({ provider: 'gitlab', path: 'mike/diaspora' });
  });

  it('names no repository for local paths, file URLs and too short paths', () => {
    for (const url of ['/tmp/kiln/repo.git', 'file:///tmp/kiln/repo.git', '../repo', 'https://github.com/acme', 'https://github.com/', 'not a url', '']) {
      expect(repoPathOf(url)).toBeNull();
    }
    expect(repoRefOf('github', 'https://github.com/acme/web/tree/main')).toBeNull();
    expect(repoRefOf('github', '/srv/git/acme/web.git')).toBeNull();
  });

  it('decodes escaped characters in the path', () => {
    expect(repoRefOf('gitlab', 'https://gitlab.com/acme/my%20project.git')).toEqual({ provider: 'gitlab', path: 'acme/my project' });
  });
});
