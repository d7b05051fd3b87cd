import { classifyResponse, DEFAULT_RETRY_POLICY, networkFailure, retryAfterMs, retryDelay } from './host-response';

const headers = (h: Record<string, string> = {}) => ({ get: (n: string) => h[n.toLowerCase()] ?? null });
const now = Date.parse('2026-01-01T00:00:00.000Z');

describe('classifyResponse', () => {
  it('2xx is sent', () => {
    expect(classifyResponse(201, headers(), '{"id":1}', now)).toEqual({ kind: 'sent' });
  });

  it('retries 5xx, 408 and 429, with the wait the host asked for', () => {
    expect(classifyResponse(503, headers(), 'Service Unavailable', now)).toEqual({ kind: 'retry', reason: 'HTTP 503: Service Unavailable', retryAfterMs: null });
    expect(classifyResponse(502, headers(), '', now)).toMatchObject({ kind: 'retry', reason: 'HTTP 502' });
    expect(classifyResponse(408, headers(), '', now)).toMatchObject({ kind: 'retry' });
    expect(classifyResponse(429, headers({ 'retry-after': '7' }), '{"message":"slow down"}', now)).toEqual({ kind: 'retry', reason: 'HTTP 429: slow down', retryAfterMs: 7000 });
  });

  it("retries GitHub's rate-limit 403s and drops other 403s", () => {
    const reset = String(now / 1000 + 60);
    expect(classifyResponse(403, headers({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset }), '{"message":"API rate limit exceeded"}', now)).toEqual({ kind: 'retry', reason: 'HTTP 403: API rate limit exceeded', retryAfterMs: 60_000 });
    expect(classifyResponse(403, headers({ 'retry-after': '30' }), '{"message":"You have exceeded a secondary rate limit"}', now)).toMatchObject({ kind: 'retry', retryAfterMs: 30_000 });
    expect(classifyResponse(403, headers({ 'x-ratelimit-remaining': '4999' }), '{"message":"Resource not accessible by integration"}', now)).toEqual({ kind: 'drop', reason: 'HTTP 403: Resource not accessible by integration' });
  });

  it('drops other 4xx with the host message (bad token, unknown sha, a transition GitLab refuses)', () => {
    expect(classifyResponse(401, headers(), '{"message":"Bad credentials"}', now)).toEqual({ kind: 'drop', reason: 'HTTP 401: Bad credentials' });
    expect(classifyResponse(422, headers(), '{"message":"No commit found for SHA: abc"}', now)).toEqual({ kind: 'drop', reason: 'HTTP 422: No commit found for SHA: abc' });
    expect(classifyResponse(400, headers(), '{"message":"Cannot transition status via :run from :running"}', now)).toMatchObject({ kind: 'drop', reason: expect.stringContaining('Cannot transition') });
    expect(classifyResponse(404, headers(), '<html>Not Found</html>', now)).toEqual({ kind: 'drop', reason: 'HTTP 404: <html>Not Found</html>' });
  });
});

describe('retryAfterMs and network failures', () => {
  it('reads seconds, an HTTP date, or a reset time; never negative', () => {
    expect(retryAfterMs(headers({ 'retry-after': '120' }), now)).toBe(120_000);
    expect(retryAfterMs(headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }), now)).toBe(30_000);
    expect(retryAfterMs(headers({ 'x-ratelimit-reset': String(now / 1000 - 5) }), now)).toBe(0);
    expect(retryAfterMs(headers(), now)).toBeNull();
  });

  it('a refused connection or a timeout is retried', () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    expect(networkFailure(refused)).toEqual({ kind: 'retry', reason: 'network: ECONNREFUSED', retryAfterMs: null });
    expect(networkFailure(new DOMException('signal timed out', 'TimeoutError'))).toEqual({ kind: 'retry', reason: 'network: no answer in time', retryAfterMs: null });
  });
});

describe('retryDelay', () => {
  const noJitter = () => 0;
  it('doubles from the base and stops growing at the cap', () => {
    expect([1, 2, 3, 4].map((n) => retryDelay(n, null, DEFAULT_RETRY_POLICY, noJitter))).toEqual([1000, 2000, 4000, 8000]);
    expect(retryDelay(12, null, DEFAULT_RETRY_POLICY, noJitter)).toBe(300_000);
    expect(retryDelay(1000, null, DEFAULT_RETRY_POLICY, noJitter)).toBe(300_000);
  });

  it("follows the host's Retry-After, capped too, and adds at most 10 % jitter", () => {
    expect(retryDelay(1, 45_000, DEFAULT_RETRY_POLICY, noJitter)).toBe(45_000);
    expect(retryDelay(1, 3_600_000, DEFAULT_RETRY_POLICY, noJitter)).toBe(300_000);
    expect(retryDelay(1, null, DEFAULT_RETRY_POLICY, () => 0.999)).toBe(1100);
  });
});
