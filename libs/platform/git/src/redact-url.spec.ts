import { redactUrl, redactUrlIn } from './redact-url';

describe('redactUrl', () => {
  it('hides userinfo in URLs', () => {
    expect(redactUrl('https://x-access-token:ghs_abcdef@github.com/o/r.git')).toBe('https://***@github.com/o/r.git');
    expect(redactUrl('ssh://git@host:22/r.git')).toBe('ssh://***@host:22/r.git');
  });

  it('leaves URLs without credentials and local paths alone', () => {
    expect(redactUrl('https://github.com/o/r.git')).toBe('https://github.com/o/r.git');
    expect(redactUrl('/srv/git/r.git')).toBe('/srv/git/r.git');
    expect(redactUrl('git@github.com:o/r.git')).toBe('git@github.com:o/r.git');
  });

  it('redacts the URL and its credentials inside other text', () => {
    const url = 'https://bot:s3cr3t-token@example.com/r.git';
    expect(redactUrlIn(`fatal: unable to access '${url}' (s3cr3t-token)`, url)).toBe(
      "fatal: unable to access 'https://***@example.com/r.git' (***)",
    );
  });
});
