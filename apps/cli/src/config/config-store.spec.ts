import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError, UsageError } from '../errors';
import { configPath, DEFAULT_URL, normalizeUrl, readConfig, resolveSettings, writeConfig } from './config-store';

describe('config store', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'kiln-cfg-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('path: KILN_CONFIG, else XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configPath({ KILN_CONFIG: '/x/c.json', XDG_CONFIG_HOME: '/xdg' }, '/home/u')).toBe('/x/c.json');
    expect(configPath({ XDG_CONFIG_HOME: '/xdg' }, '/home/u')).toBe('/xdg/kiln/config.json');
    expect(configPath({}, '/home/u')).toBe('/home/u/.config/kiln/config.json');
  });

  it('writes the login with mode 0600 in a 0700 directory and reads it back', () => {
    const path = join(dir, 'nested', 'kiln', 'config.json');
    writeConfig(path, { url: 'http://k:8080', token: 't0ken' });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'nested', 'kiln')).mode & 0o777).toBe(0o700);
    expect(readConfig(path)).toEqual({ url: 'http://k:8080', token: 't0ken' });
    writeFileSync(path, 'x', { mode: 0o644 });
    writeConfig(path, { url: 'http://k:8080', token: 'again' });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8')).token).toBe('again');
  });

  it('a missing file is no login; a malformed one an error naming it', () => {
    expect(readConfig(join(dir, 'none.json'))).toBeNull();
    writeFileSync(join(dir, 'bad.json'), '{nope');
    expect(() => readConfig(join(dir, 'bad.json'))).toThrow(CliError);
    expect(() => readConfig(join(dir, 'bad.json'))).toThrow(/bad\.json is not a valid config file/);
  });

  it('flag beats env beats saved login', () => {
    const saved = { url: 'http://saved', token: 'saved' };
    const env = { KILN_URL: 'http://env', KILN_TOKEN: 'env' };
    expect(resolveSettings({}, {}, saved)).toMatchObject({ url: 'http://saved', token: 'saved', source: { url: 'config', token: 'config' } });
    expect(resolveSettings({}, env, saved)).toMatchObject({ url: 'http://env', token: 'env', source: { url: 'env', token: 'env' } });
    expect(resolveSettings({ url: 'http://flag', token: 'flag' }, env, saved)).toMatchObject({ url: 'http://flag', token: 'flag', source: { url: 'flag', token: 'flag' } });
    expect(resolveSettings({}, { KILN_TOKEN: 't' }, null)).toMatchObject({ url: DEFAULT_URL, source: { url: 'default' } });
  });

  it('no token anywhere is a usage error', () => {
    expect(() => resolveSettings({ url: 'http://x' }, {}, { url: 'http://y' })).toThrow(UsageError);
  });

  it('normalizes URLs and rejects what is not http(s)', () => {
    expect(normalizeUrl('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
    expect(normalizeUrl(' https://kiln.example/api/ ')).toBe('https://kiln.example');
    expect(normalizeUrl('https://example.com/kiln?x=1')).toBe('https://example.com/kiln');
    expect(() => normalizeUrl('127.0.0.1:8080')).toThrow(UsageError);
    expect(() => normalizeUrl('ftp://x')).toThrow(/only http and https/);
  });
});
