import { decryptSecret, encryptSecret } from './secrets';
import { loadConfig, ConfigError } from './config';

describe('secrets at rest', () => {
  it('round-trips and never stores the plain text', () => {
    const enc = encryptSecret('k1', 'hunter2-webhook');
    expect(enc).toMatch(/^enc:v1:/);
    expect(enc).not.toContain('hunter2');
    expect(decryptSecret('k1', enc)).toBe('hunter2-webhook');
  });
  it('rejects a wrong key', () => {
    expect(() => decryptSecret('k2', encryptSecret('k1', 's'))).toThrow();
  });
});

describe('config', () => {
  it('has defaults', () => {
    const c = loadConfig({});
    expect(c.apiPort).toBe(8080);
    expect(c.namespace).toBe('kiln');
    expect(c.projectConcurrency).toBe(6);
  });
  it('names the key of a bad value', () => {
    expect(() => loadConfig({ KILN_API_PORT: 'abc' })).toThrow(ConfigError);
    expect(() => loadConfig({ KILN_API_PORT: 'abc' })).toThrow(/KILN_API_PORT/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ KILN_NAMESPACE: 'Bad-NS' })).toThrow(/KILN_NAMESPACE/);
  });
});
