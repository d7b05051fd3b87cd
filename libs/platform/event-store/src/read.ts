import { JetStreamClient, JetStreamManager, JsMsg } from 'nats';
import { orderedConsumer } from './ordered-consumer';

/** The last sequence of a subject in a stream, or 0 when the subject has no message. */
export async function lastSubjectSeq(jsm: JetStreamManager, stream: string, subject: string): Promise<number> {
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return m.seq;
  } catch (e) {
    if (isNoMessage(e)) return 0;
    throw e;
  }
}

function isNoMessage(e: unknown): boolean {
  const err = e as { code?: string; api_error?: { err_code?: number }; message?: string };
  return err?.api_error?.err_code === 10037 || err?.code === '404' || /no message found/i.test(err?.message ?? '');
}

/**
 * Reads every message of `subject` from `startSeq` up to and including `untilSeq`
 * through an ordered (ephemeral) consumer, in order.
 */
export async function readSubject(
  js: JetStreamClient,
  stream: string,
  subject: string,
  untilSeq: number,
  startSeq = 1,
): Promise<JsMsg[]> {
  if (untilSeq < startSeq) return [];
  const consumer = await orderedConsumer(js, stream, { filterSubjects: subject, opt_start_seq: startSeq });
  const out: JsMsg[] = [];
  const messages = await consumer.consume({ max_messages: 1000 });
  try {
    for await (const m of messages) {
      out.push(m);
      if (m.seq >= untilSeq || m.info.pending === 0) break;
    }
  } finally {
    await messages.close().catch(() => undefined);
  }
  return out;
}
