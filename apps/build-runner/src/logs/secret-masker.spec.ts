import { createMasker } from './secret-masker';

describe('createMasker', () => {
  it('replaces every occurrence of every secret', () => {
    const mask = createMasker(['hunter22', 'tok-ABCD']);
    expect(mask('password=hunter22 token=tok-ABCD again hunter22')).toBe('password=*** token=*** again ***');
  });

  it('ignores secrets shorter than 4 characters and empty secrets', () => {
    const mask = createMasker(['abc', '', 'a', 'abcd']);
    expect(mask('abc abcd a')).toBe('abc *** a');
  });

  it('masks the longest secret first', () => {
    const mask = createMasker(['secret', 'secret-extended']);
    expect(mask('x secret-extended y secret z')).toBe('x *** y *** z');
    // not "***-extended"
    expect(mask('secret-extended')).toBe('***');
  });

  it('treats regex metacharacters literally', () => {
    const mask = createMasker(['a.b*c(d)$1', '[x]+?']);
    expect(mask('a.b*c(d)$1 and aXbbc(d)$1 and [x]+?')).toBe('*** and aXbbc(d)$1 and ***');
  });

  it('returns text unchanged when there is nothing to mask', () => {
    expect(createMasker([])('plain text')).toBe('plain text');
    expect(createMasker(['abcd'])('nothing here')).toBe('nothing here');
  });

  it('masks each line of a multi-line secret, since logs are masked line by line', () => {
    const key = '-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END KEY-----';
    const mask = createMasker([key]);
    expect(mask('MIIEvQIBADANBgkqhkiG9w0B')).toBe('***');
    expect(mask(key)).toBe('***');
  });

  it('handles adjacent and overlapping occurrences', () => {
    const mask = createMasker(['abab']);
    expect(mask('abababab')).toBe('******');
  });
});
