import { signGithubBody, verifyGithubSignature } from './github-signature';

// Test vector from GitHub's "Validating webhook deliveries" documentation.
const SECRET = "It's a Secret to Everybody";
const BODY = Buffer.from('Hello, World!');
const SIGNATURE = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';

describe('signGithubBody', () => {
  it("reproduces GitHub's documented signature", () => {
    expect(signGithubBody(SECRET, BODY)).toBe(SIGNATURE);
  });

  it('hashes a string body as UTF-8, same as its bytes', () => {
    expect(signGithubBody(SECRET, 'Hello, World!')).toBe(SIGNATURE);
  });
});

describe('verifyGithubSignature', () => {
  it("accepts GitHub's documented vector", () => {
    expect(verifyGithubSignature(SECRET, BODY, SIGNATURE)).toBe(true);
  });

  it('accepts an upper-case hex digest', () => {
    expect(verifyGithubSignature(SECRET, BODY, 'sha256=' + SIGNATURE.slice(7).toUpperCase())).toBe(true);
  });

  it('round-trips with signGithubBody for a JSON body', () => {
    const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', é: '✓' }));
    expect(verifyGithubSignature('s3cr3t', body, signGithubBody('s3cr3t', body))).toBe(true);
  });

  it('rejects a tampered body', () => {
    expect(verifyGithubSignature(SECRET, Buffer.from('Hello, World?'), SIGNATURE)).toBe(false);
    expect(verifyGithubSignature(SECRET, Buffer.from('Hello, World! '), SIGNATURE)).toBe(false);
  });

  it('rejects the wrong secret', () => {
    expect(verifyGithubSignature("It's a secret to everybody", BODY, SIGNATURE)).toBe(false);
  });

  it('rejects a missing or empty header', () => {
    expect(verifyGithubSignature(SECRET, BODY, undefined)).toBe(false);
    expect(verifyGithubSignature(SECRET, BODY, '')).toBe(false);
  });

  it('rejects the legacy sha1= header, even with a correct SHA-1 HMAC', () => {
    const { createHmac } = jest.requireActual<typeof import('node:crypto')>('node:crypto');
    const sha1 = 'sha1=' + createHmac('sha1', SECRET).update(BODY).digest('hex');
    expect(verifyGithubSignature(SECRET, BODY, sha1)).toBe(false);
  });

  it.each([
    ['no prefix', SIGNATURE.slice(7)],
    ['truncated digest', SIGNATURE.slice(0, -2)],
    ['over-long digest', SIGNATURE + '00'],
    ['odd length', SIGNATURE.slice(0, -1)],
    ['non-hex characters', SIGNATURE.slice(0, -2) + 'zz'],
    ['wrong algorithm', SIGNATURE.replace('sha256', 'sha512')],
    ['garbage', 'not a signature'],
  ])('rejects a malformed header (%s) without throwing', (_label, header) => {
    expect(() => verifyGithubSignature(SECRET, BODY, header)).not.toThrow();
    expect(verifyGithubSignature(SECRET, BODY, header)).toBe(false);
  });

  it('fails closed when no secret is configured', () => {
    expect(verifyGithubSignature('', BODY, signGithubBody('', BODY))).toBe(false);
  });

  it('rejects a body that is not a Buffer without throwing', () => {
    const notABuffer = 'Hello, World!' as unknown as Buffer;
    expect(verifyGithubSignature(SECRET, notABuffer, SIGNATURE)).toBe(false);
  });
});
