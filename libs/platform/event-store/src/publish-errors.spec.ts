import { NatsError } from 'nats';
import { isUnavailable, isWrongLastSequence, publishWithRetry } from './event-store';

/** A JetStream API rejection as nats.js reports it. */
function apiError(description: string, errCode: number, code = '400'): NatsError {
  const e = new NatsError(description, code);
  (e as NatsError & { api_error: unknown }).api_error = { code: Number(code), err_code: errCode, description };
  return e;
}

describe('publish errors', () => {
  it('a conflict is not the broker being away, whatever number its message holds', () => {
    // the subject's last sequence is in the message: 503 once read as "service unavailable"
    for (const seq of [3, 503, 1503, 5030]) {
      const e = apiError(`wrong last sequence: ${seq}`, 10071);
      expect(isWrongLastSequence(e)).toBe(true);
      expect(isUnavailable(e)).toBe(false);
    }
  });

  it('no responders, time-outs and a lost connection are the broker being away', () => {
    expect(isUnavailable(new NatsError('503', '503'))).toBe(true);
    expect(isUnavailable(new NatsError('TIMEOUT', 'TIMEOUT'))).toBe(true);
    expect(isUnavailable(new NatsError('CONNECTION_CLOSED', 'CONNECTION_CLOSED'))).toBe(true);
    expect(isUnavailable(new Error('no responders available for request'))).toBe(true);
    expect(isUnavailable(new Error('JetStream not enabled'))).toBe(true);
    expect(isUnavailable(apiError('maximum payload exceeded', 10054))).toBe(false);
  });

  it('a conflict is thrown at once, not retried for the whole budget', async () => {
    let calls = 0;
    const started = Date.now();
    await expect(
      publishWithRetry(async () => {
        calls++;
        throw apiError('wrong last sequence: 503', 10071);
      }, 10_000),
    ).rejects.toThrow('wrong last sequence: 503');
    expect(calls).toBe(1);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('the broker being away is retried until it answers', async () => {
    let calls = 0;
    const r = await publishWithRetry(async () => {
      if (++calls < 3) throw new NatsError('503', '503');
      return 'acked';
    }, 10_000);
    expect(r).toBe('acked');
    expect(calls).toBe(3);
  });
});
