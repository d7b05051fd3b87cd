import { Injectable } from '@nestjs/common';
import { HostRequest } from './commit-status';
import { classifyResponse, HostOutcome, networkFailure } from './host-response';

/** Longest wait for a git host's answer: one slow host holds a delivery this long at most. */
export const HOST_TIMEOUT_MS = 10_000;

/** Sends one request to a git host and sorts the answer; never throws. */
@Injectable()
export class GitHostClient {
  async send(req: HostRequest): Promise<HostOutcome> {
    try {
      const res = await fetch(req.url, { method: req.method, headers: req.headers, body: JSON.stringify(req.body), signal: AbortSignal.timeout(HOST_TIMEOUT_MS) });
      const body = await res.text().catch(() => '');
      return classifyResponse(res.status, res.headers, body, Date.now());
    } catch (e) {
      return networkFailure(e);
    }
  }
}
