import { ConfigError, DEFAULT_LOG_MAX_BYTES, loadConfig, parseRetention } from './config';

describe('log settings', () => {
  it('defaults to a 50 MiB cap and keeping logs forever', () => {
    const cfg = loadConfig({});
    expect(cfg.logMaxBytes).toBe(DEFAULT_LOG_MAX_BYTES);
    expect(DEFAULT_LOG_MAX_BYTES).toBe(50 * 1024 * 1024);
    expect(cfg.logRetentionMs).toBe(0);
  });

  it('reads KILN_LOG_MAX_BYTES and KILN_LOG_RETENTION', () => {
    const cfg = loadConfig({ KILN_LOG_MAX_BYTES: '1048576', KILN_LOG_RETENTION: '7d' });
    expect(cfg.logMaxBytes).toBe(1_048_576);
    expect(cfg.logRetentionMs).toBe(7 * 86_400_000);
  });

  it('parses retentions', () => {
    expect(parseRetention('90m')).toBe(90 * 60_000);
    expect(parseRetention('12h')).toBe(12 * 3_600_000);
    expect(parseRetention('1d12h')).toBe(36 * 3_600_000);
    expect(parseRetention('2w')).toBe(14 * 86_400_000);
    expect(parseRetention('30s')).toBe(30_000);
    expect(parseRetention(' 7D ')).toBe(7 * 86_400_000);
    for (const forever of ['', '0', 'forever', 'never']) expect(parseRetention(forever)).toBe(0);
  });

  it('stops on a malformed value, naming the variable', () => {
    expect(() => loadConfig({ KILN_LOG_RETENTION: '7 days' })).toThrow(ConfigError);
    expect(() => loadConfig({ KILN_LOG_RETENTION: '7 days' })).toThrow(/KILN_LOG_RETENTION="7 days" is not a duration/);
    expect(() => loadConfig({ KILN_LOG_MAX_BYTES: '10' })).toThrow(/KILN_LOG_MAX_BYTES="10" must be an integer >= 1024/);
    expect(() => loadConfig({ KILN_LOG_MAX_BYTES: 'lots' })).toThrow(ConfigError);
  });
});

describe('CPU niceness', () => {
  it('is the service default when unset, or 0 to 19', () => {
    expect(loadConfig({}).cpuNice).toBeNull();
    expect(loadConfig({ KILN_CPU_NICE: '' }).cpuNice).toBeNull();
    expect(loadConfig({ KILN_CPU_NICE: '0' }).cpuNice).toBe(0);
    expect(loadConfig({ KILN_CPU_NICE: '19' }).cpuNice).toBe(19);
    expect(() => loadConfig({ KILN_CPU_NICE: '20' })).toThrow(new ConfigError('KILN_CPU_NICE="20" must be an integer from 0 to 19'));
    expect(() => loadConfig({ KILN_CPU_NICE: '-5' })).toThrow(ConfigError);
  });
});
