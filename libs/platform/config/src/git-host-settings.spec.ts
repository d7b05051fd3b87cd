import { ConfigError, loadConfig } from './config';

describe('git host settings (webhook secret grace, git-status)', () => {
  it('defaults: an hour of grace, public GitHub and GitLab, no tokens, port 8086', () => {
    const c = loadConfig({});
    expect(c.webhookSecretGraceMs).toBe(3_600_000);
    expect(c.githubApiUrl).toBe('https://api.github.com');
    expect(c.gitlabApiUrl).toBe('https://gitlab.com/api/v4');
    expect(c.githubToken).toBeNull();
    expect(c.gitlabToken).toBeNull();
    expect(c.gitStatusPort).toBe(8086);
  });

  it('reads durations, base URLs (trailing slash dropped) and tokens', () => {
    const c = loadConfig({
      KILN_WEBHOOK_SECRET_GRACE: '15m',
      KILN_GITHUB_API_URL: 'http://127.0.0.1:9999/api/v3/',
      KILN_GITLAB_API_URL: 'https://gitlab.example.com/api/v4',
      KILN_GITHUB_TOKEN: 'ghp_x',
      KILN_GITLAB_TOKEN: 'glpat-y',
    });
    expect(c.webhookSecretGraceMs).toBe(900_000);
    expect(c.githubApiUrl).toBe('http://127.0.0.1:9999/api/v3');
    expect(c.gitlabApiUrl).toBe('https://gitlab.example.com/api/v4');
    expect([c.githubToken, c.gitlabToken]).toEqual(['ghp_x', 'glpat-y']);
    expect(loadConfig({ KILN_WEBHOOK_SECRET_GRACE: '0' }).webhookSecretGraceMs).toBe(0);
  });

  it('stops on a malformed value, naming the variable', () => {
    expect(() => loadConfig({ KILN_WEBHOOK_SECRET_GRACE: 'an hour' })).toThrow(ConfigError);
    expect(() => loadConfig({ KILN_WEBHOOK_SECRET_GRACE: 'forever' })).toThrow(/KILN_WEBHOOK_SECRET_GRACE/);
    expect(() => loadConfig({ KILN_GITHUB_API_URL: 'api.github.com' })).toThrow(/KILN_GITHUB_API_URL/);
  });
});
