import { JetStreamClient } from 'nats';
import { encodeLogChunk, KilnNames, LogChunk, logChunkMsgId } from '@kiln/contracts';

/**
 * Appends a build log's `end` record for a build that ended without an agent to write
 * it (cancelled while queued, failed after its last attempt), so live readers stop.
 * Idempotent through its Msg-Id.
 */
export async function endLogOf(js: JetStreamClient, names: KilnNames, buildId: string, attempt: number, status: string): Promise<void> {
  const c: LogChunk = { kind: 'end', buildId, attempt, status };
  await js.publish(names.subjects.log(buildId), encodeLogChunk(c), { msgID: logChunkMsgId(c) });
}
