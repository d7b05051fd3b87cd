import { createMasker, SecretMasker } from './secret-masker';

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

describe('SecretMasker', () => {
  /** Feeds lines (text, partial) of one source and returns what it ships. */
  function run(m: SecretMasker, lines: [string, boolean?][], source = '0:stdout'): string[] {
    const out: string[] = [];
    for (const [text, partial] of lines) {
      const r = m.line(source, text, partial ?? false);
      if (r !== null) out.push(r);
    }
    const rest = m.flush(source);
    if (rest !== null) out.push(rest);
    return out;
  }

  it('masks like createMasker line by line', () => {
    const m = new SecretMasker(['hunter22', 'abc']);
    expect(run(m, [['pw=hunter22'], ['abc hunter2'], ['hunter22hunter22']])).toEqual(['pw=***', 'abc hunter2', '******']);
    expect(new SecretMasker([]).line('s', 'hunter22')).toBe('hunter22');
  });

  it('masks a secret that a long line was cut through, wherever the cut falls', () => {
    const secret = 'tok_9f8e7d6c5b4a';
    const line = `${'x'.repeat(40)}${secret}${'y'.repeat(30)}${secret}z`;
    for (let size = 3; size <= 50; size++) {
      const pieces: [string, boolean][] = [];
      for (let i = 0; i < line.length; i += size) pieces.push([line.slice(i, i + size), i + size < line.length]);
      const out = run(new SecretMasker([secret]), pieces);
      const joined = out.join('');
      expect(joined).toBe(`${'x'.repeat(40)}***${'y'.repeat(30)}***z`);
      for (const piece of out) expect(piece).not.toMatch(/tok_|9f8e|5b4a/);
    }
  });

  it('holds back at most what could start a secret and releases it with the next piece', () => {
    const m = new SecretMasker(['abcdef']);
    expect(m.line('s', '0123456789', true)).toBe('01234');
    expect(m.line('s', 'abcdef end', false)).toBe('56789*** end');
    expect(m.pendingSources()).toEqual([]);
  });

  it('keeps the pieces of interleaved sources apart', () => {
    const m = new SecretMasker(['SECRETVALUE']);
    const out = [m.line('0:stdout', 'aaaSECRET', true), m.line('0:stderr', 'VALUE bbb'), m.line('0:stdout', 'VALUEccc'), m.line('0:stderr', 'SECRETVALUE')];
    expect(out.join('|')).not.toContain('SECRETVALUE');
    expect(out.filter((o) => o !== null).join('')).toContain('aaa***ccc');
    expect(out[1]).toBe('VALUE bbb'); // only half a secret on stderr: nothing to mask
    expect(out[3]).toBe('***');
  });

  it('masks every line of a multi-line secret, short lines included, when printed in sequence', () => {
    const key = '-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nab\n-----END KEY-----\n';
    const m = new SecretMasker([key]);
    expect(run(m, [['key: -----BEGIN KEY-----'], ['MIIEvQIBADANBgkqhkiG9w0B'], ['ab'], ['-----END KEY----- done'], ['ab']])).toEqual([
      'key: ***',
      '***',
      '***',
      '*** done',
      'ab', // alone, a 2-character line of the key is not a secret
    ]);
  });

  it('masks the short first and last lines of a two-line secret that spans lines', () => {
    const m = new SecretMasker(['pa55\nw0rd']);
    expect(run(m, [['x=pa55'], ['w0rd!']])).toEqual(['x=***', '***!']);
    const short = new SecretMasker(['ab\ncdef-long-tail']);
    // the first line is too short to mask alone (it is already shipped); the rest is masked
    expect(run(short, [['ab'], ['cdef-long-tail and more']])).toEqual(['ab', '*** and more']);
    const shortLast = new SecretMasker(['long-first-line\nxy']);
    expect(run(shortLast, [['v=long-first-line'], ['xy tail'], ['xy']])).toEqual(['v=***', '*** tail', 'xy']);
    // not in sequence: only the long part is masked
    expect(run(short, [['ab'], ['other'], ['cdef-long-tail']])).toEqual(['ab', 'other', '***']);
  });

  it('tolerates CRLF in secrets and surrounding indentation in the middle lines', () => {
    const m = new SecretMasker(['line-one\r\nmid\r\nline-three']);
    expect(run(m, [['line-one'], ['  mid  '], ['line-three']])).toEqual(['***', '***', '***']);
  });

  it('does not split a surrogate pair when holding back', () => {
    const m = new SecretMasker(['abcd']);
    const first = m.line('s', 'xx😀', true);
    const second = m.line('s', 'yy', false);
    expect((first ?? '') + (second ?? '')).toBe('xx😀yy');
    expect(first === null || !/[\uD800-\uDBFF]$/.test(first)).toBe(true);
  });
});
