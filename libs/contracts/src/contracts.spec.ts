import { z } from 'zod';
import {
  BuildEvent,
  Envelope,
  EventCodec,
  InvalidError,
  KilnError,
  LogChunk,
  buildCodec,
  decodeLogChunk,
  encodeLogChunk,
  formatLogCursor,
  idFromSubject,
  isKilnError,
  kilnNames,
  logChunkMsgId,
  parseEnvelope,
  parseLogCursor,
  projectCodec,
  workerCodec,
} from './index';

const BUILD = 'b_01HZX3K9Q7M2V8RTN4WJ6YCD5E';
const SUBJECT = `kiln.build.${BUILD}`;

const meta = {
  eventId: '0b6f4c1e-3d2a-4b8f-9e7c-5a1d2f3e4b6c',
  correlationId: BUILD,
  causationId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  occurredAt: '2024-05-14T09:30:00.000Z',
};

const requestedData = {
  buildId: BUILD,
  projectId: 'proj-web-frontend',
  trigger: 'push',
  deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
  source: {
    repoUrl: 'https://github.com/acme/web-frontend.git',
    ref: 'refs/heads/main',
    sha: '3f2a9c8e1b7d4f6a0c5e9b2d8f1a7c3e6b4d0f9a',
    branch: 'main',
    author: 'Ada Lovelace',
    message: 'Fix flaky login test',
  },
  requestedAt: '2024-05-14T09:30:00.000Z',
};

const bytes = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value));
const envelope = (overrides: Record<string, unknown> = {}) => ({ type: 'BuildRequested', version: 1, data: requestedData, meta, ...overrides });

/** Runs `f`, expecting an InvalidError; returns its message. */
function invalid(f: () => unknown): string {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(InvalidError);
  expect((thrown as InvalidError).code).toBe('INVALID');
  return (thrown as Error).message;
}

describe('kilnNames', () => {
  it('builds the default namespace', () => {
    const n = kilnNames();
    expect(n.namespace).toBe('kiln');
    expect(n.streams).toEqual({ builds: 'KILN_BUILDS', workers: 'KILN_WORKERS', projects: 'KILN_PROJECTS', logs: 'KILN_LOGS', deploys: 'KILN_DEPLOYS' });
    expect(n.subjects.deploy('d-1')).toBe('kiln.deploy.d-1');
    expect(n.subjects.allDeploys).toBe('kiln.deploy.*');
    expect(n.subjects.build(BUILD)).toBe(`kiln.build.${BUILD}`);
    expect(n.subjects.allBuilds).toBe('kiln.build.*');
    expect(n.subjects.worker('wrk-docker-7f3a9c')).toBe('kiln.worker.wrk-docker-7f3a9c');
    expect(n.subjects.allWorkers).toBe('kiln.worker.*');
    expect(n.subjects.project('proj-web-frontend')).toBe('kiln.project.proj-web-frontend');
    expect(n.subjects.allProjects).toBe('kiln.project.*');
    expect(n.subjects.log(BUILD)).toBe(`kiln.log.${BUILD}`);
    expect(n.subjects.allLogs).toBe('kiln.log.*');
    expect(n.subjects.leaseRequest).toBe('kiln.pool.lease');
    expect(n.subjects.heartbeat('wrk-docker-7f3a9c')).toBe('kiln.heartbeat.wrk-docker-7f3a9c');
    expect(n.subjects.allHeartbeats).toBe('kiln.heartbeat.*');
    expect(n.durables).toEqual({ apiBuilds: 'kiln_api_builds', apiProjects: 'kiln_api_projects', apiWorkers: 'kiln_api_workers', logArchiver: 'kiln_log_archiver', deployerBuilds: 'kiln_deployer_builds', gitStatusBuilds: 'kiln_git_status_builds' });
    expect(n.buckets).toEqual({ logArchive: 'kiln_log_archive', cache: 'kiln_cache', cacheKeys: 'kiln_cache_keys', apiTokens: 'kiln_api_tokens', poolLeader: 'kiln_pool_leader' });
  });

  it('namespaces every name', () => {
    const n = kilnNames('t_lx2k9f3a');
    expect(n.namespace).toBe('t_lx2k9f3a');
    expect(n.streams.builds).toBe('T_LX2K9F3A_BUILDS');
    expect(n.streams.logs).toBe('T_LX2K9F3A_LOGS');
    expect(n.subjects.build(BUILD)).toBe(`t_lx2k9f3a.build.${BUILD}`);
    expect(n.subjects.allLogs).toBe('t_lx2k9f3a.log.*');
    expect(n.subjects.leaseRequest).toBe('t_lx2k9f3a.pool.lease');
    expect(n.durables.apiBuilds).toBe('t_lx2k9f3a_api_builds');
    expect(n.buckets.logArchive).toBe('t_lx2k9f3a_log_archive');
  });

  it('accepts a 31-character namespace', () => {
    expect(kilnNames('a' + '0'.repeat(30)).namespace).toHaveLength(31);
  });

  it.each(['', 'Kiln', '1kiln', '_kiln', 'kiln-test', 'kiln.test', 'kiln test', 'kiln*', 'a'.repeat(32)])(
    'rejects the namespace %p',
    (ns) => {
      expect(() => kilnNames(ns)).toThrow(/invalid namespace/);
    },
  );

  it.each(['b.1', 'b 1', 'b*', 'b>', '', 'bü', 'a/b'])('rejects the id %p in subjects', (id) => {
    const n = kilnNames();
    expect(() => n.subjects.build(id)).toThrow(/invalid id .* for a subject token/);
    expect(() => n.subjects.worker(id)).toThrow(/invalid id/);
    expect(() => n.subjects.project(id)).toThrow(/invalid id/);
    expect(() => n.subjects.log(id)).toThrow(/invalid id/);
    expect(() => n.subjects.heartbeat(id)).toThrow(/invalid id/);
  });

  it('reads the id back from a subject', () => {
    const n = kilnNames('ci');
    expect(idFromSubject(n.subjects.build(BUILD))).toBe(BUILD);
    expect(idFromSubject(n.subjects.worker('wrk_01'))).toBe('wrk_01');
  });
});

describe('EventCodec', () => {
  it('decodes a valid envelope', () => {
    const r = buildCodec.decode(bytes(envelope()), 42, SUBJECT);
    expect(r).toEqual({ type: 'BuildRequested', version: 1, data: requestedData, meta, seq: 42, subject: SUBJECT });
  });

  it('decodes an envelope with only the required metadata', () => {
    const minimal = { eventId: 'evt-1', correlationId: BUILD, occurredAt: '2024-05-14T09:30:00.000Z' };
    const r = buildCodec.decode(bytes(envelope({ meta: minimal })), 1, SUBJECT);
    expect(r.meta).toEqual(minimal);
  });

  it('knows its types', () => {
    expect(buildCodec.has('BuildRequested')).toBe(true);
    expect(buildCodec.has('WorkerLeased')).toBe(false);
    expect(workerCodec.has('WorkerLeased')).toBe(true);
    expect(projectCodec.has('ProjectCreated')).toBe(true);
  });

  it('rejects bytes that are not JSON', () => {
    expect(invalid(() => buildCodec.decode(Buffer.from('{"type": "BuildRequested"'), 1, SUBJECT))).toBe('message is not valid JSON');
    expect(invalid(() => parseEnvelope(Buffer.from([0xff, 0xfe, 0x00])))).toMatch(/not valid JSON/);
  });

  it('rejects an envelope without meta', () => {
    const { meta: _meta, ...noMeta } = envelope();
    expect(invalid(() => buildCodec.decode(bytes(noMeta), 1, SUBJECT))).toMatch(/^malformed envelope: meta: /);
  });

  it('names the metadata field that is missing', () => {
    const { eventId: _eventId, ...noEventId } = meta;
    expect(invalid(() => buildCodec.decode(bytes(envelope({ meta: noEventId })), 1, SUBJECT))).toMatch(/malformed envelope: meta\.eventId: /);
  });

  it('rejects JSON that is not an envelope', () => {
    expect(invalid(() => buildCodec.decode(bytes(null), 1, SUBJECT))).toMatch(/malformed envelope: \(root\): /);
    expect(invalid(() => buildCodec.decode(bytes(envelope({ version: 0 })), 1, SUBJECT))).toMatch(/malformed envelope: version: /);
  });

  it('rejects an unknown type', () => {
    const msg = invalid(() => buildCodec.decode(bytes(envelope({ type: 'BuildExploded' })), 7, SUBJECT));
    expect(msg).toBe(`unknown event type BuildExploded v1 on ${SUBJECT}`);
  });

  it('rejects an unknown version of a known type', () => {
    expect(invalid(() => buildCodec.decode(bytes(envelope({ version: 2 })), 7, SUBJECT))).toMatch(/unknown event type BuildRequested v2/);
  });

  it('rejects a type of another stream', () => {
    const leased = { type: 'WorkerLeased', version: 1, data: {}, meta };
    expect(invalid(() => buildCodec.decode(bytes(leased), 1, SUBJECT))).toMatch(/unknown event type WorkerLeased v1/);
  });

  it('names the path of a wrong field in a known type', () => {
    const data = { ...requestedData, source: { ...requestedData.source, sha: 'not-a-sha' } };
    const msg = invalid(() => buildCodec.decode(bytes(envelope({ data })), 1, SUBJECT));
    expect(msg).toMatch(/^invalid BuildRequested v1: source\.sha: /);
  });

  it('names every wrong field', () => {
    const queued = { type: 'BuildQueued', version: 1, data: { buildId: 'b 1', projectId: 'proj-web-frontend', attempt: 0, queuedAt: '2024-05-14T09:30:00.250Z' }, meta };
    const msg = invalid(() => buildCodec.decode(bytes(queued), 1, SUBJECT));
    expect(msg).toMatch(/^invalid BuildQueued v1: /);
    expect(msg).toMatch(/buildId: /);
    expect(msg).toMatch(/attempt: /);
    expect(msg).not.toMatch(/projectId/);
  });

  it('names a missing field', () => {
    const { requestedAt: _r, ...data } = requestedData;
    expect(invalid(() => buildCodec.decode(bytes(envelope({ data })), 1, SUBJECT))).toMatch(/requestedAt: /);
  });

  it('decodes an already parsed envelope', () => {
    const env: Envelope = { type: 'BuildQueued', version: 1, data: { buildId: BUILD, projectId: 'proj-web-frontend', attempt: 1, queuedAt: '2024-05-14T09:30:00.250Z' }, meta };
    expect(buildCodec.decodeEnvelope(env, 3, SUBJECT)).toMatchObject({ type: 'BuildQueued', seq: 3, data: env.data });
  });

  it('validates events before they are appended', () => {
    const ok: BuildEvent = { type: 'BuildSucceeded', data: { buildId: BUILD, attempt: 1, finishedAt: '2024-05-14T09:32:40.700Z' } };
    expect(buildCodec.validate(ok)).toMatchObject({ type: 'BuildSucceeded', version: 1 });
    const bad = { type: 'BuildSucceeded', data: { buildId: BUILD, attempt: 0, finishedAt: '2024-05-14T09:32:40.700Z' } } as BuildEvent;
    expect(invalid(() => buildCodec.validate(bad))).toMatch(/^invalid BuildSucceeded: attempt: /);
    const unknown = { type: 'BuildExploded', data: {} } as unknown as BuildEvent;
    expect(invalid(() => buildCodec.validate(unknown))).toBe('unknown event type BuildExploded');
  });

  it('validates against the newest version of a type', () => {
    const codec = new EventCodec<{ type: 'Ping'; data: unknown }>([
      { type: 'Ping', version: 1, schema: z.object({ n: z.number() }) },
      { type: 'Ping', version: 2, schema: z.object({ n: z.number(), at: z.string() }) },
    ]);
    expect(codec.validate({ type: 'Ping', data: { n: 1, at: 'now' } }).version).toBe(2);
    expect(invalid(() => codec.validate({ type: 'Ping', data: { n: 1 } }))).toMatch(/at: /);
    // Old versions still decode.
    expect(codec.decodeEnvelope({ type: 'Ping', version: 1, data: { n: 1 }, meta }, 1, 'x.ping.1').version).toBe(1);
  });

  it('throws KilnErrors', () => {
    let thrown: unknown;
    try {
      buildCodec.decode(Buffer.from('nope'), 1, SUBJECT);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(KilnError);
    expect(isKilnError(thrown)).toBe(true);
    expect((thrown as Error).name).toBe('InvalidError');
    expect(isKilnError(new Error('plain'))).toBe(false);
  });
});

describe('log chunks', () => {
  const lines: LogChunk = {
    kind: 'lines',
    buildId: BUILD,
    attempt: 2,
    chunk: 17,
    lines: [
      { n: 301, t: 1715679000123, stream: 'stdout', step: 1, text: 'PASS src/login.spec.ts (4.2 s)' },
      { n: 302, t: 1715679000131, stream: 'stderr', step: 1, text: 'warning: deprecated option --coverage' },
      { n: 303, t: 1715679000140, stream: 'system', step: null, text: '' },
    ],
  };
  const end: LogChunk = { kind: 'end', buildId: BUILD, attempt: 2, status: 'succeeded' };

  it('round-trips a lines chunk', () => {
    expect(decodeLogChunk(encodeLogChunk(lines))).toEqual(lines);
  });

  it('round-trips an end record', () => {
    expect(decodeLogChunk(encodeLogChunk(end))).toEqual(end);
  });

  it('round-trips unicode text', () => {
    const c: LogChunk = { ...lines, lines: [{ n: 1, t: 0, stream: 'stdout', step: 0, text: '✓ построено 🚀 \u0000 "quoted"\n' }] };
    expect(decodeLogChunk(encodeLogChunk(c))).toEqual(c);
  });

  it('names the message id of a chunk', () => {
    expect(logChunkMsgId(lines)).toBe(`${BUILD}:2:17`);
    expect(logChunkMsgId(end)).toBe(`${BUILD}:2:end`);
  });

  it('rejects a chunk that is not JSON', () => {
    expect(invalid(() => decodeLogChunk(Buffer.from('{"kind":"lines",')))).toBe('log chunk is not valid JSON');
  });

  it('rejects an unknown kind', () => {
    expect(invalid(() => decodeLogChunk(bytes({ kind: 'progress', buildId: BUILD })))).toMatch(/^malformed log chunk: kind: /);
  });

  it('rejects a chunk without lines', () => {
    expect(invalid(() => decodeLogChunk(bytes({ ...lines, lines: [] })))).toMatch(/^malformed log chunk: lines: /);
  });

  it('names the path of a bad line', () => {
    const bad = { ...lines, lines: [lines.lines[0], { ...lines.lines[1], stream: 'stdin' }] };
    expect(invalid(() => decodeLogChunk(bytes(bad)))).toMatch(/^malformed log chunk: lines\.1\.stream: /);
  });

  it('rejects a zero chunk number and a negative step', () => {
    expect(invalid(() => decodeLogChunk(bytes({ ...lines, chunk: 0 })))).toMatch(/chunk: /);
    const bad = { ...lines, lines: [{ ...lines.lines[0], step: -1 }] };
    expect(invalid(() => decodeLogChunk(bytes(bad)))).toMatch(/lines\.0\.step: /);
  });
});

describe('log cursors', () => {
  it.each([
    [{ seq: 1, index: 0 }, '1-0'],
    [{ seq: 4821, index: 37 }, '4821-37'],
    [{ seq: 9007199254740991, index: 999 }, '9007199254740991-999'],
  ])('round-trips %p as %p', (cursor, text) => {
    expect(formatLogCursor(cursor)).toBe(text);
    expect(parseLogCursor(text)).toEqual(cursor);
    expect(parseLogCursor(formatLogCursor(cursor))).toEqual(cursor);
  });

  it.each([undefined, null, ''])('reads %p as the start', (text) => {
    expect(parseLogCursor(text)).toBeNull();
  });

  it.each(['abc', '12', '12-', '-3', '12-3-4', '1.5-2', '12_3', ' 12-3', '12-3 ', '-1-2', '0x10-1'])('rejects %p', (text) => {
    expect(invalid(() => parseLogCursor(text))).toBe(`invalid log cursor "${text}": expected <sequence>-<index>`);
  });
});
