import { verifyGitlabToken } from './gitlab-token';

describe('verifyGitlabToken', () => {
  const token = 'glwt-9f8e7d6c5b4a';

  it('accepts the exact token', () => {
    expect(verifyGitlabToken(token, token)).toBe(true);
  });

  it('accepts tokens with non-ASCII characters', () => {
    expect(verifyGitlabToken('tökén-✓', 'tökén-✓')).toBe(true);
  });

  it.each([
    ['a different token of the same length', 'glwt-9f8e7d6c5b4b'],
    ['a prefix', token.slice(0, -1)],
    ['a longer token', token + 'x'],
    ['different case', token.toUpperCase()],
    ['surrounding whitespace', ` ${token}`],
    ['an empty header', ''],
  ])('rejects %s', (_label, header) => {
    expect(verifyGitlabToken(token, header)).toBe(false);
  });

  it('rejects a missing header', () => {
    expect(verifyGitlabToken(token, undefined)).toBe(false);
  });

  it('fails closed when no token is configured, even if the header is empty too', () => {
    expect(verifyGitlabToken('', '')).toBe(false);
    expect(verifyGitlabToken('', undefined)).toBe(false);
  });
});
