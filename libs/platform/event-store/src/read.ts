import { JetStreamClient, JetStreamManager, JsMsg, MsgRequest, StoredMsg } from 'nats';
import { closeOrdered, orderedConsumer } from './ordered-consumer';

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
    await closeOrdered(messages, consumer);
  }
  return out;
}

/**
 * How many messages {@link readAggregateSubject} fetches one `STREAM.MSG.GET` at a time
 * before it hands the rest of the subject to {@link readSubject}'s ordered consumer.
 *
 * A get is one request, answered by the stream leader, which skips other subjects'
 * messages itself (`next_by_subj`). An ordered consumer costs a consumer create and a pull
 * before the first message, more code to run cold in a fresh process, and a delete
 * afterwards (see `closeOrdered`). So gets win
 * for a few messages and lose for many: each costs ~0.5 ms warm and ~1 ms on a process's
 * first read, a consumer ~2 ms and ~7 ms whatever the count. Median ms of a load
 * (`lastSubjectSeq`, then the read) on local NATS 2.9.10 and a 2-core machine, in a
 * stream of 2,068 messages with 20 to 90 other subjects' messages between two of one
 * subject's:
 *
 * | events in the subject                     |   1 |   3 |   5 |  10 |  20 |  50 |
 * |-------------------------------------------|-----|-----|-----|-----|-----|-----|
 * | first read in a process: consumer         | 7.6 | 8.3 | 8.3 | 9.0 | 9.4 |  12 |
 * | first read: 5 gets, then consumer         | 2.8 | 4.8 | 6.8 |  13 |  17 |  19 |
 * | later reads: consumer                     | 2.3 | 2.3 | 2.7 | 2.2 | 2.0 | 2.5 |
 * | later reads: 5 gets, then consumer        | 1.1 | 2.0 | 2.7 | 4.0 | 3.9 | 5.5 |
 *
 * 5 covers a build from request to start (3 to 5 events) and most projects, the loads
 * on the path from lease to build start; Kiln loads larger aggregates (finished builds,
 * long-lived workers) off that path, where the 2 to 7 ms more matter less.
 * `DIRECT.GET` (the streams allow it) was only 5 to 15% faster per get when warm and
 * slower on a first read, and a follower may answer it before it has the newest
 * messages of a replicated stream, so reads stay with the leader.
 */
export const GETS_BEFORE_CONSUMER = 5;

/** A message read by {@link readAggregateSubject}: the fields a stored message and a consumed one share. */
export type SubjectMessage = Pick<JsMsg, 'seq' | 'subject' | 'data'>;

/**
 * Reads every message of `subject` from `startSeq` up to and including `untilSeq`, in
 * order, the way that is fastest for an aggregate: the first
 * {@link GETS_BEFORE_CONSUMER} messages one get at a time, any later ones through an
 * ordered consumer that starts after the last message fetched.
 */
export async function readAggregateSubject(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  untilSeq: number,
  startSeq = 1,
): Promise<SubjectMessage[]> {
  const out: SubjectMessage[] = [];
  let seq = startSeq;
  while (seq <= untilSeq && out.length < GETS_BEFORE_CONSUMER) {
    let m: StoredMsg;
    try {
      // nats.js types this request without `next_by_subj`, which the server takes since 2.9
      m = await jsm.streams.getMessage(stream, { next_by_subj: subject, seq } as MsgRequest);
    } catch (e) {
      // the subject lost its messages from `seq` on (purged or aged out) since `untilSeq` was read
      if (isNoMessage(e)) return out;
      throw e;
    }
    out.push(m);
    seq = m.seq + 1;
  }
  return seq > untilSeq ? out : out.concat(await readSubject(js, stream, subject, untilSeq, seq));
}
