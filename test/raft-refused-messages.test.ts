// Answers no correct follower sends, refused by the leader instead of trusted (the
// malformed-input audit's D3, peer-fuzz P1, P2, P4): acknowledgements of indexes past the
// leader's log passed the transport's decoder, which cannot know the leader's log, moved
// matchIndex and nextIndex past it, and the next AppendEntries tripped the assertion that
// the leader holds a term for its prevLogIndex. A refused message changes nothing, sends
// nothing, does not count as hearing from the follower, and step() says why.

import test, { type ExecutionContext } from 'ava';
import { Harness } from './raft-harness.js';
import { MessageType, ProgressState } from '../lib/raft/types.js';
import type { AppendEntriesResponse, InstallSnapshotResponse, Message } from '../lib/raft/types.js';

const TERM_OF_FIRST_LEADER = 1;

/** Node 1 leading three nodes (seeded), `count` writes committed everywhere. */
function clusterWithEntries(count: number, seed = 7): Harness {
  const harness = new Harness(3, { seed });
  harness.elect(1);
  for (let i = 1; i <= count; i++) harness.propose(1, `v${i}`);
  harness.stabilize();
  return harness;
}

function appendResponse(fields: Partial<AppendEntriesResponse>): AppendEntriesResponse {
  return { type: MessageType.AppendEntriesResponse, term: TERM_OF_FIRST_LEADER, from: 2, to: 1, success: true, index: 0, conflictTerm: 0, conflictIndex: 0, ...fields };
}

function snapshotResponse(fields: Partial<InstallSnapshotResponse>): InstallSnapshotResponse {
  return { type: MessageType.InstallSnapshotResponse, term: TERM_OF_FIRST_LEADER, from: 2, to: 1, index: 0, snapshotIndex: 0, received: 0, ...fields };
}

/**
 * Steps `message` into the leader (node 1): it must be refused with a reason matching
 * `reason`, traced, and leave the leader exactly as it was, with nothing to send.
 */
function expectRefused(t: ExecutionContext, harness: Harness, message: Message, reason: RegExp): void {
  const leader = harness.node(1);
  const before = leader.status();
  const hadReady = leader.hasReady();
  const traced = harness.traceLines.length;
  const refusal = leader.step(message);
  t.regex(refusal ?? 'taken', reason, `the leader refuses ${JSON.stringify(message)}`);
  t.deepEqual(leader.status(), before, 'a refused message changes nothing, progress rows included');
  t.is(leader.hasReady(), hadReady, 'and gives the leader nothing to send');
  t.deepEqual(harness.traceLines.slice(traced), [`1 refused ${message.type} from ${message.from} at term ${message.term}: ${refusal}`], 'one trace line says so');
}

/** The cluster still replicates and every node holds the same log and commit point. */
function expectReplicating(t: ExecutionContext, harness: Harness, write: string): void {
  harness.tickAll(2);
  harness.stabilize();
  const result = harness.propose(1, write);
  t.true(result.ok, 'node 1 still leads');
  harness.stabilize();
  const leader = harness.status(1);
  t.is(leader.role, 'leader');
  for (const id of harness.ids) {
    t.is(harness.status(id).commitIndex, leader.lastLogIndex, `node ${id} committed the new write`);
    const leaderLog = harness.logOf(1); // after its snapshot, if it compacted
    t.deepEqual(harness.logOf(id).slice(-leaderLog.length), leaderLog, `node ${id} holds the leader's log`);
  }
  for (const row of leader.progress) t.is(row.matchIndex, leader.lastLogIndex, `follower ${row.id} matches the whole log`);
}

test('P1, P2: a successful AppendEntriesResponse past the leader\'s last index is refused, by any margin; at the last index it is taken', (t) => {
  const harness = clusterWithEntries(5);
  const last = harness.status(1).lastLogIndex;
  t.is(last, 6, 'the no-op and five writes');
  for (const index of [1e12, last + 5, last + 1, Number.MAX_SAFE_INTEGER]) {
    expectRefused(t, harness, appendResponse({ index }), new RegExp(`^index ${index} is past the leader's last index ${last}$`));
  }
  // The same from the other follower, and while a write is in flight to both.
  harness.propose(1, 'in flight');
  harness.processAllReadies();
  const inFlight = harness.queue;
  harness.queue = [];
  expectRefused(t, harness, appendResponse({ from: 3, index: last + 2 }), /past the leader's last index 7/);
  harness.queue = inFlight;
  harness.stabilize();
  // In range, even a duplicate of an old acknowledgement, is an answer like any other.
  t.is(harness.node(1).step(appendResponse({ index: last + 1 })), null);
  t.is(harness.node(1).step(appendResponse({ index: 1 })), null);
  expectReplicating(t, harness, 'after P1 and P2');
});

test('a rejecting AppendEntriesResponse past the leader\'s last index is refused, whatever its conflict hint (it used to reach nextIndex too)', (t) => {
  const harness = clusterWithEntries(3);
  const last = harness.status(1).lastLogIndex;
  t.is(harness.status(1).progress.find((row) => row.id === 2)?.state, ProgressState.Replicate);
  const hints: [number, number][] = [
    [0, 0], // a follower whose log is too short: the hint falls back to the rejected index itself
    [0, 1e13],
    [2 ** 40, 1e13], // peer-fuzz P4c
    [1, 1],
  ];
  for (const [conflictTerm, conflictIndex] of hints) {
    expectRefused(t, harness, appendResponse({ success: false, index: 1e12, conflictTerm, conflictIndex }), /^index 1000000000000 is past the leader's last index 4$/);
  }
  expectRefused(t, harness, appendResponse({ success: false, index: last + 1 }), /^index 5 is past/);
  // A rejection in range moves nextIndex back as before (the follower re-probed from there).
  t.is(harness.node(1).step(appendResponse({ success: false, index: last, conflictTerm: 0, conflictIndex: 0 })), null);
  t.is(harness.status(1).progress.find((row) => row.id === 2)?.state, ProgressState.Replicate, 'stale: at or below matchIndex, ignored');
  expectReplicating(t, harness, 'after the rejections');
});

test('P4: an InstallSnapshotResponse whose index is past the leader\'s last index is refused, in snapshot state and out of it', (t) => {
  const harness = clusterWithEntries(3);
  expectRefused(t, harness, snapshotResponse({ index: 1e12 }), /^index 1000000000000 is past the leader's last index 4$/);
  // P4b: a chunk's answer about a snapshot past the log (it used to be ignored, harmlessly, for not being the one sent).
  expectRefused(t, harness, snapshotResponse({ index: 0, snapshotIndex: 1e12, received: 1e12 }), /^snapshotIndex 1000000000000 is past the leader's last index 4$/);

  // Now with a snapshot really on its way to node 3.
  harness.isolate(3);
  for (let i = 4; i <= 12; i++) harness.propose(1, `v${i}`);
  harness.stabilize();
  const snapshot = harness.compact(1, 10)!;
  harness.heal();
  for (let heartbeat = 0; heartbeat < 8 && !harness.queue.some((message) => message.type === MessageType.InstallSnapshot); heartbeat++) {
    harness.tick(1, 1);
    for (let round = 0; round < 100 && harness.queue.length > 0 && !harness.queue.some((message) => message.type === MessageType.InstallSnapshot); round++) harness.deliverRound();
  }
  t.is(harness.status(1).progress.find((row) => row.id === 3)?.state, ProgressState.Snapshot);
  const chunks = harness.queue;
  harness.queue = [];
  const last = harness.status(1).lastLogIndex;
  expectRefused(t, harness, snapshotResponse({ from: 3, index: last + 1 }), new RegExp(`^index ${last + 1} is past the leader's last index ${last}$`));
  expectRefused(t, harness, snapshotResponse({ from: 3, index: 1e12, snapshotIndex: snapshot.index, received: 1 }), /^index 1000000000000 is past/);
  // Holding more of the snapshot than it has bytes.
  const size = snapshot.data.byteLength;
  expectRefused(t, harness, snapshotResponse({ from: 3, snapshotIndex: snapshot.index, received: size + 1 }), new RegExp(`^received ${size + 1} is past the ${size} bytes of snapshot 10$`));
  expectRefused(t, harness, snapshotResponse({ from: 3, snapshotIndex: snapshot.index, received: Number.MAX_SAFE_INTEGER }), /is past the \d+ bytes of snapshot 10/);
  // The real transfer goes on and completes.
  harness.queue = chunks;
  harness.stabilize();
  t.deepEqual(harness.restoredSnapshots.get(3)!.map((installed) => installed.index), [10]);
  expectReplicating(t, harness, 'after P4');
});

test('a refused answer does not count as hearing from the follower (CheckQuorum, compaction)', (t) => {
  const harness = clusterWithEntries(2);
  harness.isolate(1);
  // An election timeout with every follower heard from: the leader keeps its role and
  // starts the next round with none of them heard from yet.
  harness.tick(1, 10);
  harness.queue = [];
  const quiet = harness.status(1);
  t.is(quiet.role, 'leader');
  t.deepEqual(quiet.progress.map((row) => row.recentActive), [false, false]);
  expectRefused(t, harness, appendResponse({ index: 1e12 }), /past the leader's last index/);
  expectRefused(t, harness, snapshotResponse({ from: 3, index: 1e12 }), /past the leader's last index/);
  // Only refused answers arrive within the next timeout: the leader steps down (thesis §6.2).
  harness.tick(1, 9);
  harness.node(1).step(appendResponse({ index: 1e12 }));
  harness.tick(1, 1);
  t.is(harness.status(1).role, 'follower');
});

test('answers the audit found held stay taken: HeartbeatResponse for an unknown read (P3), a heartbeat\'s commit past the follower\'s log (P5)', (t) => {
  const harness = clusterWithEntries(2);
  const leader = harness.node(1);
  const before = leader.status();
  t.is(leader.step({ type: MessageType.HeartbeatResponse, term: TERM_OF_FIRST_LEADER, from: 2, to: 1, context: 2 ** 53 - 1 }), null);
  t.is(leader.status().commitIndex, before.commitIndex);
  // A follower clamps a commit index to its own log, whoever sends it.
  const follower = harness.node(2);
  const last = harness.status(2).lastLogIndex;
  t.is(follower.step({ type: MessageType.Heartbeat, term: TERM_OF_FIRST_LEADER, from: 3, to: 2, leaderCommit: 1e12, context: 1 }), null);
  t.is(harness.status(2).commitIndex, last);
  expectReplicating(t, harness, 'after P3 and P5');
});
