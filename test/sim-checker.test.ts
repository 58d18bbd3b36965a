// Unit tests for the simulator's parts: the crash-losing disk, the event queue, and the
// Figure 3 checker fed with hand-made histories (so the checker is proven to fire
// independently of any core).

import test from 'ava';
import type { Entry, NodeId, Status } from '../lib/raft/types.js';
import { InvariantChecker, InvariantViolation, Property } from '../lib/sim/checker.js';
import { SimDisk } from '../lib/sim/disk.js';
import { EventQueue } from '../lib/sim/event-queue.js';
import { SimRandom } from '../lib/sim/random.js';
import { entry, status } from './helpers/sim-fixtures.js';


function cluster(size: number): { disks: Map<NodeId, SimDisk>; checker: InvariantChecker } {
  const disks = new Map<NodeId, SimDisk>();
  for (let id = 1; id <= size; id++) disks.set(id, new SimDisk());
  return { disks, checker: new InvariantChecker(disks) };
}

/** Writes through the checker the way the simulator's host does. */
function write(
  env: { disks: Map<NodeId, SimDisk>; checker: InvariantChecker },
  id: NodeId,
  entries: readonly Entry[],
  commitIndex: number | null,
  nodeStatus: Status,
): void {
  const disk = env.disks.get(id)!;
  env.checker.beforeWrite(id, entries, nodeStatus);
  const hardState = commitIndex === null ? null : { currentTerm: nodeStatus.currentTerm, votedFor: 0, commitIndex };
  disk.write(entries, hardState);
  env.checker.afterWrite(id, entries, hardState);
  env.checker.observe(id, nodeStatus);
}

function violationOf(t: { throws: (fn: () => void, expectations: object) => unknown }, fn: () => void, property: Property): void {
  const error = t.throws(fn, { instanceOf: InvariantViolation }) as InvariantViolation;
  if (error.property !== property) throw new Error(`expected ${property}, got ${error.property}: ${error.message}`);
}

test('SimDisk: a crash loses unsynced writes and keeps synced ones', (t) => {
  const disk = new SimDisk();
  t.is(disk.restore(), null, 'a disk never synced restores as a brand new node');
  disk.write([entry(1, 1, 'a'), entry(2, 1, 'b')], { currentTerm: 1, votedFor: 2, commitIndex: 1 });
  disk.sync();
  disk.write([entry(2, 2, 'c'), entry(3, 2, 'd')], { currentTerm: 2, votedFor: 3, commitIndex: 2 });
  t.is(disk.lastIndex, 3);
  t.true(disk.dirty);
  disk.crash(false);
  const restored = disk.restore();
  t.deepEqual(restored?.hardState, { currentTerm: 1, votedFor: 2, commitIndex: 1 });
  t.deepEqual(
    restored?.entries.map((e) => [e.index, e.term]),
    [
      [1, 1],
      [2, 1],
    ],
  );
});

test('SimDisk: writes that happened to reach the platter survive a crash', (t) => {
  const disk = new SimDisk();
  disk.write([entry(1, 1, 'a')], { currentTerm: 1, votedFor: 1, commitIndex: 0 });
  disk.crash(true);
  t.is(disk.restore()?.entries.length, 1);
});

test('SimDisk: refuses a write that leaves a gap, and a restart over unsynced writes', (t) => {
  const disk = new SimDisk();
  t.throws(() => disk.write([entry(2, 1, 'x')], null), { message: /must start within the log/ });
  disk.write([entry(1, 1, 'a')], null);
  t.throws(() => disk.restore(), { message: /unsynced writes present/ });
});

test('EventQueue: pops by time, ties in insertion order', (t) => {
  const queue = new EventQueue<string>();
  const random = new SimRandom(7);
  const expected: [number, string][] = [];
  for (let item = 0; item < 200; item++) {
    const time = random.int(0, 20);
    queue.push(time, `e${item}`);
    expected.push([time, `e${item}`]);
  }
  expected.sort((a, b) => a[0] - b[0]);
  const popped: [number, string][] = [];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) popped.push([next.time, next.event]);
  t.deepEqual(popped, expected, 'seed 7');
});

test('SimRandom: the same seed gives the same stream, in range', (t) => {
  const a = new SimRandom(42);
  const b = new SimRandom(42);
  const drawsA = Array.from({ length: 100 }, () => a.int(3, 7));
  const drawsB = Array.from({ length: 100 }, () => b.int(3, 7));
  t.deepEqual(drawsA, drawsB);
  t.true(drawsA.every((value) => value >= 3 && value <= 7));
  t.deepEqual([...new Set(drawsA)].sort(), [3, 4, 5, 6, 7], 'every value in range is reachable');
});

test('Election Safety: two leaders in one term are caught', (t) => {
  const env = cluster(3);
  env.checker.observe(1, status(1, 'leader', 4));
  env.checker.observe(2, status(2, 'follower', 4));
  violationOf(t, () => env.checker.observe(2, status(2, 'leader', 4)), Property.ElectionSafety);
});

test('Election Safety: it is remembered across the whole run, even after the first leader is gone', (t) => {
  const env = cluster(3);
  env.checker.observe(1, status(1, 'leader', 2));
  env.checker.onCrash(1);
  env.checker.observe(3, status(3, 'leader', 3));
  violationOf(t, () => env.checker.observe(2, status(2, 'leader', 2)), Property.ElectionSafety);
});

test('Log Matching: the same index and term with different commands is caught', (t) => {
  const env = cluster(3);
  write(env, 1, [entry(1, 1, 'a')], null, status(1, 'leader', 1));
  violationOf(t, () => write(env, 2, [entry(1, 1, 'b')], null, status(2, 'follower', 1)), Property.LogMatching);
});

test('Log Matching: a common entry over different histories is caught', (t) => {
  const env = cluster(3);
  write(env, 1, [entry(1, 1, 'a'), entry(2, 2, 'b')], null, status(1, 'leader', 2));
  write(env, 2, [entry(1, 3, 'z')], null, status(2, 'follower', 3));
  // Node 2 accepting (2, term 2) after its (1, term 3): what skipping the prevLogTerm check does.
  violationOf(t, () => write(env, 2, [entry(2, 2, 'b')], null, status(2, 'follower', 3)), Property.LogMatching);
});

test('Leader Append-Only: a leader rewriting its own entry is caught', (t) => {
  const env = cluster(3);
  write(env, 1, [entry(1, 2, null), entry(2, 2, 'a')], null, status(1, 'leader', 2));
  violationOf(t, () => write(env, 1, [entry(2, 2, 'b')], null, status(1, 'leader', 2)), Property.LeaderAppendOnly);
});

test('Leader Append-Only: a follower may still truncate an uncommitted suffix', (t) => {
  const env = cluster(3);
  write(env, 1, [entry(1, 1, 'a'), entry(2, 1, 'b')], null, status(1, 'leader', 1));
  write(env, 2, [entry(1, 1, 'a'), entry(2, 1, 'b')], 1, status(2, 'follower', 1));
  write(env, 3, [entry(1, 1, 'a'), entry(2, 2, null)], null, status(3, 'leader', 2));
  t.notThrows(() => write(env, 2, [entry(2, 2, null)], null, status(2, 'follower', 2)));
  t.is(env.disks.get(2)?.entry(2)?.term, 2);
});

test('State Machine Safety: two different commands committed at one index are caught', (t) => {
  const env = cluster(3);
  write(env, 1, [entry(1, 1, 'a')], 1, status(1, 'leader', 1));
  write(env, 2, [entry(1, 2, 'b')], null, status(2, 'follower', 2));
  violationOf(t, () => env.checker.onApply(2, entry(1, 2, 'b'), 2), Property.StateMachineSafety);
});

test('State Machine Safety: applying out of order is caught', (t) => {
  const env = cluster(3);
  write(env, 1, [entry(1, 1, 'a'), entry(2, 1, 'b')], 2, status(1, 'leader', 1));
  violationOf(t, () => env.checker.onApply(1, entry(2, 1, 'b'), 1), Property.StateMachineSafety);
});

test('State Machine Safety: a node rewriting an entry below its commit index is caught', (t) => {
  const env = cluster(3);
  write(env, 2, [entry(1, 1, 'a'), entry(2, 1, 'b')], 2, status(2, 'follower', 1));
  violationOf(t, () => write(env, 2, [entry(2, 3, 'c')], null, status(2, 'follower', 3)), Property.StateMachineSafety);
});

test('Leader Completeness: a new leader lacking an entry committed in an earlier term is caught', (t) => {
  const env = cluster(3);
  write(env, 1, [entry(1, 1, 'a')], 1, status(1, 'leader', 1));
  violationOf(t, () => write(env, 3, [entry(1, 2, null)], null, status(3, 'leader', 2)), Property.LeaderCompleteness);
});

test('Leader Completeness: an entry committed later in a lower term is checked against leaders already in office', (t) => {
  const env = cluster(5);
  write(env, 3, [entry(1, 5, null)], null, status(3, 'leader', 5));
  // A stale leader of term 2 now reports a commit that leader 3 (term 5) must hold, and does not.
  violationOf(t, () => write(env, 1, [entry(1, 2, 'a')], 1, status(1, 'leader', 2)), Property.LeaderCompleteness);
});

test('checkConverged: committed entries lost everywhere are caught', (t) => {
  const env = cluster(3);
  write(env, 1, [entry(1, 1, 'a'), entry(2, 1, 'b')], 2, status(1, 'leader', 1));
  violationOf(t, () => env.checker.checkConverged(1, [1, 2, 3]), Property.StateMachineSafety);
});

test('two configuration entries at one index and term are told apart (Log Matching)', (t) => {
  const env = cluster(3);
  const config = (voters: number[]) => ({ ...entry(1, 1, null), membership: { voters, learners: [] } });
  write(env, 1, [config([1, 2, 3, 4])], null, status(1, 'leader', 1));
  violationOf(t, () => write(env, 2, [config([1, 2])], null, status(2, 'follower', 1)), Property.LogMatching);
});

test('Leader Append-Only: a leader whose in-memory log shrinks is caught', (t) => {
  const env = cluster(3);
  env.checker.observe(1, { ...status(1, 'leader', 3), lastLogIndex: 7 });
  env.checker.observe(1, { ...status(1, 'leader', 3), lastLogIndex: 9 });
  violationOf(t, () => env.checker.observe(1, { ...status(1, 'leader', 3), lastLogIndex: 8 }), Property.LeaderAppendOnly);
});
