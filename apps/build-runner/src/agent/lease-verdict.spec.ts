import { Build, buildDecider, BuildCommand } from '@kiln/domain';
import { leaseVerdict } from './lease-verdict';

/** The build's state after these commands, as the watch would fold their events. */
function after(...commands: BuildCommand[]): Build {
  let state = buildDecider.initialState();
  for (const c of commands) for (const e of buildDecider.decide(c, state)) state = buildDecider.evolve(state, e);
  return state;
}

const now = '2026-11-24T08:00:00.000Z';
const source = { repoUrl: 'https://example.com/r.git', ref: 'refs/heads/main', sha: 'a'.repeat(40), branch: 'main', author: null, message: null };
const requested: BuildCommand = { type: 'RequestBuild', data: { buildId: 'b1', projectId: 'p1', trigger: 'push', deliveryId: 'd1', source, requestedAt: now } };
const queued: BuildCommand = { type: 'QueueBuild', now };
const assignedTo = (workerId: string): BuildCommand => ({ type: 'AssignBuild', workerId, attempt: 1, now });

describe('leaseVerdict', () => {
  it('waits while the build is only requested', () => {
    expect(leaseVerdict(after(requested), 1, 'w1', 0)).toBeNull();
  });

  it('starts on a queued build when nothing follows it in the stream (the start records the assignment)', () => {
    expect(leaseVerdict(after(requested, queued), 1, 'w1', 0)).toEqual({ verdict: 'assigned', abort: false });
  });

  it('does not start on a queued state with events behind it: the next one is most often the assignment, and starting now would conflict', () => {
    expect(leaseVerdict(after(requested, queued), 1, 'w1', 1)).toBeNull();
    expect(leaseVerdict(after(requested, queued, assignedTo('w1')), 1, 'w1', 0)).toEqual({ verdict: 'assigned', abort: false });
  });

  it('starts when assigned to this worker, whatever follows', () => {
    expect(leaseVerdict(after(requested, queued, assignedTo('w1')), 1, 'w1', 3)).toEqual({ verdict: 'assigned', abort: false });
  });

  it('refuses a build assigned to another worker, without stopping anything', () => {
    expect(leaseVerdict(after(requested, queued, assignedTo('w2')), 1, 'w1', 0)).toEqual({ verdict: 'build is assigned to worker w2', abort: false });
  });

  it('voids the lease and aborts on a cancel request or a final state', () => {
    const assigned = [requested, queued, assignedTo('w1')];
    expect(leaseVerdict(after(...assigned, { type: 'CancelBuild', reason: 'user', now }), 1, 'w1', 0)).toEqual({ verdict: 'cancel requested', abort: true });
    expect(leaseVerdict(after(requested, queued, { type: 'CancelBuild', reason: 'user', now }), 1, 'w1', 0)).toEqual({ verdict: 'build is cancelled, attempt 1', abort: true });
    const requeued = after(...assigned, { type: 'RequeueBuild', attempt: 1, reason: 'worker lost', maxAttempts: 3, now });
    expect(leaseVerdict(requeued, 1, 'w1', 0)).toEqual({ verdict: 'build is queued, attempt 2', abort: true });
  });

  it('ignores history before the lease attempt', () => {
    expect(leaseVerdict(after(requested, queued), 2, 'w1', 0)).toBeNull();
  });
});
