import { ConfigError, loadConfig } from './config';

describe('build-cache backend setting', () => {
  it('defaults to NATS', () => {
    expect(loadConfig({}).cacheBackend).toEqual({ kind: 'nats' });
    expect(loadConfig({ KILN_CACHE_BACKEND: 'nats' }).cacheBackend).toEqual({ kind: 'nats' });
  });

  it('reads a local directory', () => {
    expect(loadConfig({ KILN_CACHE_BACKEND: 'dir:/var/lib/kiln/cache/' }).cacheBackend).toEqual({ kind: 'dir', path: '/var/lib/kiln/cache/' });
  });

  it('stops on anything else, naming the variable', () => {
    for (const bad of ['s3', 'dir:', 'dir:relative/path', 'NATS', 'directory:/x']) {
      expect(() => loadConfig({ KILN_CACHE_BACKEND: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ KILN_CACHE_BACKEND: bad })).toThrow(`KILN_CACHE_BACKEND="${bad}" must be nats or dir:<absolute path>`);
    }
  });
});
