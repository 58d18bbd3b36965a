// Snapshots and log compaction (Raft paper §7, Figure 13; thesis §5), in the style of
// raft-paper.test.ts: each test checks a few sentences of the paper on RawNodes driven
// by hand, and is titled with its section.

import test from 'ava';
import { allMessages, decode, drain, Harness, makeNode, text } from './raft-harness.js';
import { InvariantViolation } from '../lib/raft/assert.js';
import { MessageType, ProgressState, SNAPSHOT_BYTES_ALLOCATED_UP_FRONT } from '../lib/raft/types.js';
import { FOLLOWER_SILENT_ROUNDS_BEFORE_COMPACTING, STALLED_HEARTBEATS_BEFORE_PROBE, STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RESEND, STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RETRY } from '../lib/raft/raw-node.js';
import type { AppendEntries, InstallSnapshot, InstallSnapshotResponse, Message, Snapshot } from '../lib/raft/types.js';

const noPreVote = { preVote: false, checkQuorum: false } as const;

/** A whole snapshot in one chunk unless `fields` say otherwise (a chunk of a larger one must give its totalBytes). */
function installSnapshot(fields: Partial<InstallSnapshot> & Pick<InstallSnapshot, 'term' | 'from' | 'to' | 'lastIncludedIndex' | 'lastIncludedTerm'>): InstallSnapshot {
  const data = fields.data ?? text(`state@${fields.lastIncludedIndex}`);
  return {
    type: MessageType.InstallSnapshot,
    offset: 0,
    totalBytes: (fields.offset ?? 0) + data.byteLength,
    data,
    done: true,
    membership: { voters: [1, 2, 3], learners: [] },
    ...fields,
  };
}

function ofType<T extends Message['type']>(messages: readonly Message[], type: T): Extract<Message, { type: T }>[] {
  return messages.filter((message): message is Extract<Message, { type: T }> => message.type === type);
}

/**
 * Heartbeats from node 1 until it sends an InstallSnapshot (a follower in replicate state
 * whose appends were lost is re-probed after a few heartbeats; the probe finds the gap).
 */
function heartbeatUntilSnapshotSent(harness: Harness, maxHeartbeats = 8): void {
  for (let heartbeat = 0; heartbeat < maxHeartbeats; heartbeat++) {
    harness.tick(1, 1);
    for (let round = 0; round < 100 && harness.queue.length > 0; round++) {
      if (ofType(harness.queue, MessageType.InstallSnapshot).length > 0) return;
      harness.deliverRound();
    }
  }
  throw new Error(`no InstallSnapshot after ${maxHeartbeats} heartbeats`);
}

/** A 3-node harness with node 1 leading and `count` entries committed everywhere. */
function clusterWithEntries(count: number): Harness {
  const harness = new Harness(3, { config: noPreVote });
  harness.elect(1);
  for (let i = 1; i <= count; i++) harness.propose(1, `v${i}`);
  harness.stabilize();
  return harness;
}

test('§7 a follower that receives a snapshot ahead of its log discards the log and installs the snapshot', (t) => {
  const follower = makeNode(1, [1, 2, 3], { terms: [1, 1, 1, 1], currentTerm: 1, commitIndex: 1, config: noPreVote });
  follower.step(installSnapshot({ term: 2, from: 2, to: 1, lastIncludedIndex: 6, lastIncludedTerm: 2 }));
  const ready = follower.ready();
  t.not(ready.snapshot, null, 'the snapshot is handed to the host to persist and restore');
  t.is(ready.snapshot!.index, 6);
  t.is(ready.snapshot!.term, 2);
  t.is(new TextDecoder().decode(ready.snapshot!.data), 'state@6');
  t.deepEqual(ready.entries, [], 'nothing of the old log is rewritten');
  t.deepEqual(ready.committedEntries, [], 'the snapshot stands for every entry up to 6');
  t.is(ready.hardState?.commitIndex, 6, 'the snapshot is committed');
  // "Reply" only once the snapshot is stored: the answer that says so waits for the sync;
  // before it goes only the chunk's acknowledgement (all 7 bytes held, nothing stored).
  t.deepEqual(
    ofType(ready.messages, MessageType.InstallSnapshotResponse).map((answer) => [answer.index, answer.snapshotIndex, answer.received]),
    [[0, 6, 7]],
  );
  const [response] = ofType(ready.messagesAfterPersist, MessageType.InstallSnapshotResponse);
  t.is(response?.index, 6);
  t.is(response?.term, 2);
  follower.advance();
  const status = follower.status();
  t.is(status.snapshotIndex, 6);
  t.is(status.lastLogIndex, 6);
  t.is(status.lastLogTerm, 2);
  t.is(status.leaderId, 2);
  // The log continues right after the snapshot: AppendEntries with prev = the snapshot's last entry matches.
  const append: AppendEntries = {
    type: MessageType.AppendEntries,
    term: 2,
    from: 2,
    to: 1,
    prevLogIndex: 6,
    prevLogTerm: 2,
    entries: [{ index: 7, term: 2, data: text('x') }],
    leaderCommit: 7,
  };
  follower.step(append);
  const next = drain(follower);
  t.deepEqual(next.entries.map((entry) => entry.index), [7]);
  t.is(ofType(next.messagesAfterPersist, MessageType.AppendEntriesResponse)[0]?.success, true);
  t.deepEqual(drain(follower).committedEntries.map(decode), ['x'], 'applied once durable');
  t.is(follower.status().commitIndex, 7);
});

test('§7 a snapshot and the entries after it arrive in one Ready: snapshot first, then entries, then what to apply', (t) => {
  const follower = makeNode(1, [1, 2, 3], { currentTerm: 1, config: noPreVote });
  follower.step(installSnapshot({ term: 2, from: 2, to: 1, lastIncludedIndex: 4, lastIncludedTerm: 1 }));
  follower.step({
    type: MessageType.AppendEntries,
    term: 2,
    from: 2,
    to: 1,
    prevLogIndex: 4,
    prevLogTerm: 1,
    entries: [
      { index: 5, term: 2, data: null },
      { index: 6, term: 2, data: text('y') },
    ],
    leaderCommit: 6,
  });
  const ready = follower.ready();
  t.is(ready.snapshot?.index, 4);
  t.deepEqual(ready.entries.map((entry) => entry.index), [5, 6]);
  // Entries are applied only once durable, in the Ready after their write.
  follower.advance();
  const next = drain(follower);
  t.deepEqual(next.committedEntries.map((entry) => entry.index), [5, 6]);
});

test('§7 "If existing log entry has same index and term as snapshot\'s last included entry, retain log entries following it"', (t) => {
  const follower = makeNode(1, [1, 2, 3], { terms: [1, 1, 2, 2, 2], currentTerm: 2, commitIndex: 1, config: noPreVote });
  follower.step(installSnapshot({ term: 2, from: 2, to: 1, lastIncludedIndex: 3, lastIncludedTerm: 2 }));
  const ready = follower.ready();
  t.is(ready.snapshot, null, 'no state machine reset: the entries are still here to apply');
  t.deepEqual(ready.committedEntries.map((entry) => entry.index), [1, 2, 3], 'entries up to the snapshot are committed and applied as usual');
  t.is(ofType(ready.messagesAfterPersist, MessageType.InstallSnapshotResponse)[0]?.index, 3);
  follower.advance();
  const status = follower.status();
  t.is(status.lastLogIndex, 5, 'the entries after the snapshot are kept');
  t.is(status.commitIndex, 3);
  t.is(status.snapshotIndex, 0);
});

test('§7 a log that holds the snapshot\'s index with another term is discarded whole', (t) => {
  const follower = makeNode(1, [1, 2, 3], { terms: [1, 1, 1, 1, 1], currentTerm: 2, commitIndex: 2, config: noPreVote });
  follower.step(installSnapshot({ term: 3, from: 2, to: 1, lastIncludedIndex: 3, lastIncludedTerm: 2 }));
  const ready = drain(follower);
  t.is(ready.snapshot?.index, 3);
  const status = follower.status();
  t.is(status.lastLogIndex, 3, 'entries 4 and 5 (term 1, after a conflicting entry 3) are gone');
  t.is(status.lastLogTerm, 2);
  t.is(status.snapshotIndex, 3);
});

test('§7 a stale snapshot (at or below the commit index) changes nothing and reports the commit index', (t) => {
  const follower = makeNode(1, [1, 2, 3], { terms: [1, 1, 1, 1, 1], currentTerm: 1, commitIndex: 4, config: noPreVote });
  drain(follower);
  follower.step(installSnapshot({ term: 1, from: 2, to: 1, lastIncludedIndex: 3, lastIncludedTerm: 1 }));
  const ready = drain(follower);
  t.is(ready.snapshot, null);
  t.is(ofType(ready.messagesAfterPersist, MessageType.InstallSnapshotResponse)[0]?.index, 4);
  t.is(follower.status().lastLogIndex, 5);
  t.is(follower.status().snapshotIndex, 0);
});

test('§7 Figure 13: "Reply immediately if term < currentTerm"', (t) => {
  const follower = makeNode(1, [1, 2, 3], { terms: [1, 1], currentTerm: 3, config: noPreVote });
  drain(follower);
  follower.step(installSnapshot({ term: 2, from: 2, to: 1, lastIncludedIndex: 9, lastIncludedTerm: 2 }));
  const ready = drain(follower);
  t.is(ready.snapshot, null);
  const responses = ofType(allMessages(ready), MessageType.InstallSnapshotResponse);
  t.is(responses.length, 1);
  t.is(responses[0]!.term, 3, 'the stale leader learns the current term');
  t.is(responses[0]!.index, 0);
  t.is(follower.status().lastLogIndex, 2);
});

test('§7 a candidate that receives a snapshot of its term recognizes the leader', (t) => {
  const candidate = makeNode(1, [1, 2, 3], { currentTerm: 1, config: noPreVote });
  candidate.campaign();
  drain(candidate);
  t.is(candidate.status().role, 'candidate');
  candidate.step(installSnapshot({ term: 2, from: 3, to: 1, lastIncludedIndex: 5, lastIncludedTerm: 1 }));
  t.is(candidate.status().role, 'follower');
  t.is(candidate.status().leaderId, 3);
  t.is(drain(candidate).snapshot?.index, 5);
});

test('§7 the leader sends InstallSnapshot to a follower whose next entries were compacted, then resumes AppendEntries', (t) => {
  const harness = clusterWithEntries(3);
  harness.isolate(3);
  for (let i = 4; i <= 12; i++) harness.propose(1, `v${i}`);
  harness.stabilize();
  const leaderStatus = harness.status(1);
  t.is(leaderStatus.commitIndex, 13, 'no-op + 12 writes committed by nodes 1 and 2');
  const snapshot = harness.compact(1, 10);
  t.is(snapshot?.index, 10);
  t.is(harness.status(1).snapshotIndex, 10);
  t.is(harness.termsOf(1).length, 3, 'the leader keeps only entries 11..13');

  harness.heal();
  heartbeatUntilSnapshotSent(harness);
  harness.stabilize();
  const sent = harness.delivered.filter((message) => message.type === MessageType.InstallSnapshot && message.to === 3);
  t.is(sent.length, 1, 'exactly one InstallSnapshot');
  t.is((sent[0] as InstallSnapshot).lastIncludedIndex, 10);
  t.deepEqual(
    harness.restoredSnapshots.get(3)!.map((installed) => installed.index),
    [10],
    'node 3 reset its state machine from the snapshot',
  );
  const follower = harness.status(3);
  t.is(follower.commitIndex, 13);
  t.is(follower.lastLogIndex, 13);
  t.is(follower.snapshotIndex, 10);
  t.deepEqual(harness.logOf(3), harness.logOf(1), 'the follower holds the leader\'s entries after the snapshot');
  t.deepEqual(
    harness.applied.get(3)!.map((entry) => entry.index),
    [1, 2, 3, 4, 11, 12, 13],
    'entries before the isolation were applied one by one, 5..10 through the snapshot, 11..13 after it',
  );
  const progress = harness.status(1).progress.find((row) => row.id === 3);
  t.is(progress?.state, ProgressState.Replicate);
  t.is(progress?.matchIndex, 13);

  // And replication carries on normally from there.
  harness.propose(1, 'after');
  harness.stabilize();
  t.is(harness.status(3).commitIndex, 14);
  t.is(decode(harness.applied.get(3)!.at(-1)!), 'after');
});

test('§7 a lost InstallSnapshot is sent again after the follower keeps answering heartbeats without it', (t) => {
  const harness = clusterWithEntries(5);
  harness.isolate(3);
  for (let i = 6; i <= 9; i++) harness.propose(1, `v${i}`);
  harness.stabilize();
  harness.compact(1, harness.status(1).commitIndex);
  harness.heal();
  heartbeatUntilSnapshotSent(harness);
  // Drop every InstallSnapshot, once.
  let dropped = 0;
  for (let round = 0; round < 5 && harness.queue.length > 0; round++) {
    harness.deliverRound((message) => {
      if (message.type !== MessageType.InstallSnapshot) return true;
      dropped++;
      return false;
    });
  }
  t.is(dropped, 1);
  t.is(harness.status(1).progress.find((row) => row.id === 3)?.state, ProgressState.Snapshot, 'waiting for an answer');
  for (let heartbeat = 0; heartbeat < 12 && harness.restoredSnapshots.get(3)!.length === 0; heartbeat++) {
    harness.tick(1, 1);
    harness.stabilize();
  }
  t.is(harness.restoredSnapshots.get(3)!.length, 1, 'the snapshot was sent again and installed');
  t.is(harness.status(3).commitIndex, harness.status(1).commitIndex);
});

test('§7 compaction above the applied index is refused with an invariant violation; at or below the snapshot it is a no-op', (t) => {
  const harness = clusterWithEntries(4);
  const applied = harness.applied.get(1)!.at(-1)!.index;
  const error = t.throws(() => harness.node(1).compact(applied + 1, text('too far')), { instanceOf: InvariantViolation });
  t.is(error?.code, 'RAFT_INVARIANT_VIOLATED');
  t.regex(error?.message ?? '', /applied index/);
  t.is(harness.status(1).snapshotIndex, 0, 'nothing changed');
  t.not(harness.compact(1, 3), null);
  t.is(harness.compact(1, 3), null, 'the same point again: nothing to do');
  t.is(harness.compact(1, 2), null, 'below the snapshot: nothing to do');
  t.is(harness.status(1).snapshotIndex, 3);
});

test('§7 compaction is refused between ready() and advance()', (t) => {
  const harness = clusterWithEntries(2);
  harness.propose(1, 'x');
  const node = harness.node(1);
  node.ready();
  t.throws(() => node.compact(1, text('s')), { instanceOf: InvariantViolation });
  node.advance();
});

test('§7 a node restarts from its snapshot plus the entries after it, and leads from there', (t) => {
  const harness = clusterWithEntries(6);
  harness.compact(1, 5);
  harness.compact(2, 6);
  harness.compact(3, 4);
  for (const id of harness.ids) {
    harness.crash(id);
    harness.restart(id);
  }
  const status = harness.status(2);
  t.is(status.snapshotIndex, 6);
  t.is(status.lastLogIndex, 7);
  t.true(status.commitIndex >= 6, 'at least the snapshot is committed');
  t.is(status.role, 'follower');
  // Node 2 leads; node 3 (snapshot at 4) catches up by AppendEntries, nothing is re-applied below the snapshots.
  harness.elect(2);
  t.is(harness.status(2).role, 'leader');
  harness.propose(2, 'new');
  harness.stabilize();
  for (const id of harness.ids) {
    t.is(harness.status(id).commitIndex, 9, `node ${id}`);
    t.is(decode(harness.applied.get(id)!.at(-1)!), 'new', `node ${id}`);
  }
  const appliedAfterRestart3 = harness.applied.get(3)!.map((entry) => entry.index);
  t.true(appliedAfterRestart3.includes(5), 'node 3 applies 5.. after its snapshot at 4');
});

test('§7 a restarted leader with a compacted log brings an empty follower up with a snapshot', (t) => {
  const harness = clusterWithEntries(4);
  harness.compact(1, 5);
  harness.crash(1);
  harness.restart(1);
  // Node 3 loses its disk entirely (a replaced machine).
  harness.load(3, [], 0);
  harness.elect(1);
  t.is(harness.status(1).role, 'leader');
  harness.stabilize();
  t.deepEqual(harness.restoredSnapshots.get(3)!.map((snapshot) => snapshot.index), [5]);
  t.is(harness.status(3).commitIndex, harness.status(1).commitIndex);
  t.is(harness.status(3).lastLogIndex, harness.status(1).lastLogIndex);
});

test('§7 an InstallSnapshotResponse is not taken as an acknowledgement of more than it reports', (t) => {
  const harness = clusterWithEntries(3);
  harness.isolate(3);
  for (let i = 4; i <= 8; i++) harness.propose(1, `v${i}`);
  harness.stabilize();
  harness.compact(1, 6);
  harness.heal();
  heartbeatUntilSnapshotSent(harness);
  // Deliver until the snapshot answer is in the queue, then inspect it.
  let answer: InstallSnapshotResponse | undefined;
  for (let round = 0; round < 6 && answer === undefined; round++) {
    answer = ofType(harness.queue, MessageType.InstallSnapshotResponse).find((response) => response.index !== 0);
    if (answer === undefined) harness.deliverRound();
  }
  t.is(answer?.index, 6);
  harness.stabilize();
  t.is(harness.status(1).progress.find((row) => row.id === 3)?.matchIndex, harness.status(1).lastLogIndex);
});

test('§7 followersNeeding: a leader counts the followers heard from lately (or being sent its snapshot) that lack entries up to an index', (t) => {
  const harness = clusterWithEntries(3);
  const leader = harness.node(1);
  const commit = harness.status(1).commitIndex;
  t.is(leader.followersNeeding(commit), 0, 'both followers hold everything committed');
  t.is(harness.node(2).followersNeeding(commit), 0, 'a follower counts nothing');
  harness.isolate(3);
  for (let i = 4; i <= 8; i++) harness.propose(1, `v${i}`);
  harness.stabilize();
  const later = harness.status(1).commitIndex;
  t.is(leader.followersNeeding(later), 1, 'node 3, cut off but heard from lately, lacks the new entries');
  t.is(leader.followersNeeding(commit), 0, 'nobody lacks the older ones');
  harness.tick(1, FOLLOWER_SILENT_ROUNDS_BEFORE_COMPACTING + 1);
  harness.stabilize();
  t.is(leader.followersNeeding(later), 0, `silent for ${FOLLOWER_SILENT_ROUNDS_BEFORE_COMPACTING + 1} heartbeat intervals, node 3 no longer holds compaction back`);
  // Compacted past node 3: the leader sends it the snapshot, and counts it while it is sent, silent or not.
  harness.compact(1, later);
  harness.heal();
  heartbeatUntilSnapshotSent(harness);
  t.is(harness.status(1).progress.find((peer) => peer.id === 3)!.state, ProgressState.Snapshot);
  harness.isolate(3);
  harness.tick(1, FOLLOWER_SILENT_ROUNDS_BEFORE_COMPACTING + 1);
  t.is(leader.followersNeeding(later + 1), 1, 'being sent the snapshot, node 3 counts though silent');
});

// Figure 13's chunks: offset and done.

/** Node 1 leads, node 3 was cut off while 12 entries committed and node 1 compacted: node 1 starts sending its snapshot to 3 in `chunkBytes` chunks. */
function snapshotInChunksTo3(chunkBytes: number, chunksInFlight = 1): { harness: Harness; snapshot: Snapshot } {
  const harness = new Harness(3, { config: { ...noPreVote, maxSnapshotChunkBytes: chunkBytes, maxSnapshotChunksInFlight: chunksInFlight } });
  harness.elect(1);
  harness.isolate(3);
  for (let i = 1; i <= 12; i++) harness.propose(1, `v${i}`);
  harness.stabilize();
  const snapshot = harness.compact(1, harness.status(1).commitIndex)!;
  harness.heal();
  heartbeatUntilSnapshotSent(harness);
  return { harness, snapshot };
}

test('Figure 13 a snapshot larger than maxSnapshotChunkBytes goes in order, one chunk per acknowledgement, and installs whole', (t) => {
  const { harness, snapshot } = snapshotInChunksTo3(3);
  harness.stabilize();
  const chunks = harness.delivered.filter((message): message is InstallSnapshot => message.type === MessageType.InstallSnapshot && message.to === 3);
  t.is(chunks.length, Math.ceil(snapshot.data.byteLength / 3), `a ${snapshot.data.byteLength}-byte snapshot in 3-byte chunks`);
  t.deepEqual(
    chunks.map((chunk) => chunk.offset),
    chunks.map((_, i) => i * 3),
  );
  t.deepEqual(chunks.map((chunk) => chunk.done), chunks.map((_, i) => i === chunks.length - 1));
  t.true(chunks.every((chunk) => chunk.data.byteLength <= 3));
  const installed = harness.restoredSnapshots.get(3)!;
  t.is(installed.length, 1);
  t.is(new TextDecoder().decode(installed[0]!.data), new TextDecoder().decode(snapshot.data), 'the chunks reassembled');
  // Every chunk is acknowledged as it arrives, the last one too (all the bytes held); only
  // the answer after it waited for a sync: it is the one that promises the snapshot is stored.
  const answers = harness.delivered.filter((message): message is InstallSnapshotResponse => message.type === MessageType.InstallSnapshotResponse && message.from === 3);
  t.deepEqual(answers.map((answer) => answer.received), [...chunks.map((chunk) => chunk.offset + chunk.data.byteLength), 0]);
  t.deepEqual(answers.map((answer) => answer.index), [...chunks.map(() => 0), snapshot.index]);
  t.is(harness.status(3).commitIndex, harness.status(1).commitIndex);
});

test('Figure 13 a chunk that does not continue the bytes held is not taken; the answer says how many are held', (t) => {
  const follower = makeNode(1, [1, 2, 3], { currentTerm: 1, config: noPreVote });
  // The first leader's snapshot is 9 bytes, the second's 8.
  const chunk = (offset: number, data: string, done: boolean, term = 2, from = 2) =>
    installSnapshot({ term, from, to: 1, lastIncludedIndex: 6, lastIncludedTerm: 2, offset, totalBytes: term === 2 ? 9 : 8, data: text(data), done });
  const answer = (): InstallSnapshotResponse | undefined => ofType(allMessages(drain(follower)), MessageType.InstallSnapshotResponse)[0];
  follower.step(chunk(0, 'abc', false));
  t.like(answer(), { index: 0, snapshotIndex: 6, received: 3 });
  follower.step(chunk(6, 'ghi', true));
  t.like(answer(), { index: 0, received: 3 }, 'a gap: chunk at 6 while 3 bytes are held');
  follower.step(chunk(0, 'abc', false, 3, 3));
  t.like(answer(), { index: 0, received: 3 }, "another leader's snapshot starts over at offset 0");
  follower.step(chunk(3, 'def', false, 3, 3));
  t.like(answer(), { received: 6 });
  follower.step(chunk(3, 'XYZ', false, 3, 3));
  t.like(answer(), { received: 6 }, 'a duplicate of a chunk already held is not taken twice');
  follower.step(chunk(6, 'gh', true, 3, 3));
  const ready = follower.ready();
  t.is(new TextDecoder().decode(ready.snapshot!.data), 'abcdefgh');
  t.like(ofType(ready.messages, MessageType.InstallSnapshotResponse)[0], { index: 0, snapshotIndex: 6, received: 8 }, 'the last chunk acknowledged before the install is stored');
  t.like(ofType(ready.messagesAfterPersist, MessageType.InstallSnapshotResponse)[0], { index: 6 });
  follower.advance();
});

test('Figure 13 the first chunk of the transfer under way, again (late, duplicated, or the leader starting over), keeps the bytes held', (t) => {
  const follower = makeNode(1, [1, 2, 3], { currentTerm: 1, config: noPreVote });
  const chunk = (offset: number, data: string, done: boolean) =>
    installSnapshot({ term: 2, from: 2, to: 1, lastIncludedIndex: 6, lastIncludedTerm: 2, offset, totalBytes: 9, data: text(data), done });
  const answer = (): InstallSnapshotResponse | undefined => ofType(allMessages(drain(follower)), MessageType.InstallSnapshotResponse)[0];
  follower.step(chunk(0, 'abc', false));
  t.like(answer(), { received: 3 });
  follower.step(chunk(3, 'def', false));
  t.like(answer(), { received: 6 });
  follower.step(chunk(0, 'abc', false));
  t.like(answer(), { index: 0, received: 6 }, 'a leader told 6 bytes are held must not be answered fewer, which it takes for stale');
  follower.step(chunk(6, 'ghi', true));
  const ready = follower.ready();
  t.is(new TextDecoder().decode(ready.snapshot!.data), 'abcdefghi');
  follower.advance();
});

test('Config.snapshotCheck: a refused snapshot changes nothing and is not answered; its later chunks are dropped; a first chunk starts over and is checked again', (t) => {
  const checked: string[] = [];
  let refuse = true;
  const snapshotCheck = (snapshot: { index: number; term: number; data: Uint8Array }): string | null => {
    checked.push(`${snapshot.index}@t${snapshot.term}:${new TextDecoder().decode(snapshot.data)}`);
    return refuse ? 'not a state machine snapshot' : null;
  };
  const follower = makeNode(1, [1, 2, 3], { terms: [1, 1, 1, 1], currentTerm: 2, commitIndex: 1, config: { ...noPreVote, snapshotCheck } });
  drain(follower);
  const chunk = (offset: number, data: string, done: boolean) =>
    installSnapshot({ term: 2, from: 2, to: 1, lastIncludedIndex: 6, lastIncludedTerm: 2, offset, totalBytes: 6, data: text(data), done });
  t.is(follower.step(chunk(0, 'abc', false)), null, 'a chunk before the last is taken as usual');
  t.like(ofType(allMessages(drain(follower)), MessageType.InstallSnapshotResponse)[0], { received: 3 });
  const reason = follower.step(chunk(3, 'def', true));
  t.regex(reason ?? '', /snapshot at 6@t2 \(6 bytes\) was refused: not a state machine snapshot/);
  t.deepEqual(checked, ['6@t2:abcdef'], 'checked whole, once its last chunk arrived');
  const afterRefusal = follower.ready();
  t.is(afterRefusal.snapshot, null, 'nothing handed out to persist');
  t.deepEqual(allMessages(afterRefusal), [], 'no answer: the leader, hearing nothing, sends the snapshot again after a while');
  follower.advance();
  const status = follower.status();
  t.is(status.lastLogIndex, 4, 'the log is kept');
  t.is(status.commitIndex, 1);
  t.is(follower.step(chunk(3, 'def', true)), null, 'the last chunk again: dropped, not checked again');
  t.deepEqual(checked, ['6@t2:abcdef']);
  t.deepEqual(allMessages(drain(follower)), [], 'and not answered (an answer of 0 bytes held would start the transfer over at once)');

  refuse = false;
  t.is(follower.step(chunk(0, 'abc', false)), null, 'a first chunk starts the transfer over');
  drain(follower);
  t.is(follower.step(chunk(3, 'def', true)), null);
  t.deepEqual(checked, ['6@t2:abcdef', '6@t2:abcdef'], 'checked again');
  const ready = follower.ready();
  t.is(new TextDecoder().decode(ready.snapshot!.data), 'abcdef', 'taken: handed out to persist');
  follower.advance();
  t.is(follower.status().commitIndex, 6);
});

test('Figure 13 chunks fill one array of the snapshot\'s totalBytes; a chunk of another size, one running past it, or a last one leaving it short is not taken', (t) => {
  const follower = makeNode(1, [1, 2, 3], { currentTerm: 1, config: noPreVote });
  const chunk = (offset: number, data: string, done: boolean, totalBytes = 9) =>
    installSnapshot({ term: 2, from: 2, to: 1, lastIncludedIndex: 6, lastIncludedTerm: 2, offset, totalBytes, data: text(data), done });
  const answer = (): InstallSnapshotResponse | undefined => ofType(allMessages(drain(follower)), MessageType.InstallSnapshotResponse)[0];
  follower.step(chunk(0, 'abc', false));
  t.like(answer(), { index: 0, received: 3 });
  follower.step(chunk(3, 'def', false, 10));
  t.like(answer(), { index: 0, received: 0 }, 'a chunk claiming another size belongs to another transfer');
  follower.step(chunk(0, 'abc', false));
  t.like(answer(), { received: 3 }, 'its own transfer starts over at offset 0');
  follower.step(chunk(3, 'def', false));
  t.like(answer(), { received: 6 });
  follower.step(chunk(6, 'ghij', true));
  t.like(answer(), { index: 0, received: 6 }, 'a chunk running past the 9 bytes is not taken');
  follower.step(chunk(6, 'gh', true));
  t.like(answer(), { index: 0, received: 6 }, 'a last chunk leaving the snapshot a byte short is not taken');
  follower.step(chunk(6, 'gh', false));
  t.like(answer(), { received: 8 });
  follower.step(chunk(8, 'i', true));
  const ready = follower.ready();
  t.is(new TextDecoder().decode(ready.snapshot!.data), 'abcdefghi');
  t.is(ready.snapshot!.data.buffer.byteLength, 9, 'the array allocated at the first chunk, no copy made at the last');
  follower.advance();
});

/** Delivers until nothing is queued, dropping the InstallSnapshot chunks to node 3 at `offset` the first `times` times. */
test('Config.maxSnapshotBytes: a snapshot announced above it is refused (SNAPSHOT_TOO_LARGE) at its first chunk, unanswered, nothing held; one at it installs', (t) => {
  const follower = makeNode(1, [1, 2, 3], { terms: [1, 1], currentTerm: 2, commitIndex: 1, config: { ...noPreVote, maxSnapshotBytes: 8 } });
  drain(follower);
  const chunk = (offset: number, data: string, done: boolean, totalBytes: number) =>
    installSnapshot({ term: 2, from: 2, to: 1, lastIncludedIndex: 6, lastIncludedTerm: 2, offset, totalBytes, data: text(data), done });
  t.regex(follower.step(chunk(0, 'abc', false, 9)) ?? '', /^SNAPSHOT_TOO_LARGE: its snapshot at 6@t2 is 9 bytes, above maxSnapshotBytes 8/);
  t.deepEqual(allMessages(drain(follower)), [], 'not answered');
  t.regex(follower.step(chunk(3, 'def', false, 9)) ?? '', /^SNAPSHOT_TOO_LARGE/, 'its later chunks too');
  t.deepEqual(allMessages(drain(follower)), []);
  t.like(follower.status(), { role: 'follower', leaderId: 2, lastLogIndex: 2, commitIndex: 1 }, 'the follower keeps its log and its leader');
  t.is(follower.step(chunk(0, 'abcd', false, 8)), null, 'a snapshot of maxSnapshotBytes is taken');
  t.like(ofType(allMessages(drain(follower)), MessageType.InstallSnapshotResponse)[0], { received: 4 });
  t.is(follower.step(chunk(4, 'efgh', true, 8)), null);
  const ready = follower.ready();
  t.is(new TextDecoder().decode(ready.snapshot!.data), 'abcdefgh');
  follower.advance();
});

test('a leader\'s announced snapshot size alone allocates at most SNAPSHOT_BYTES_ALLOCATED_UP_FRONT; past it the array grows with the bytes received, and they arrive whole', (t) => {
  const chunkBytes = 1 << 20;
  // Just over the up-front allocation: the array grows once, mid-chunk (the last chunk is short).
  const totalBytes = SNAPSHOT_BYTES_ALLOCATED_UP_FRONT + 2 * chunkBytes + 12_345;
  const follower = makeNode(1, [1, 2, 3], { currentTerm: 1, config: noPreVote });
  const chunk = (offset: number, data: Uint8Array, done: boolean, total = totalBytes) =>
    installSnapshot({ term: 2, from: 2, to: 1, lastIncludedIndex: 6, lastIncludedTerm: 2, offset, totalBytes: total, data, done });
  // A 1-byte first chunk of a snapshot announced at 1 GiB (the default maxSnapshotBytes):
  // before, the follower allocated the whole GiB at once.
  const before = process.memoryUsage().arrayBuffers;
  t.is(follower.step(chunk(0, new Uint8Array([7]), false, 1 << 30)), null);
  const grew = process.memoryUsage().arrayBuffers - before;
  t.true(grew <= SNAPSHOT_BYTES_ALLOCATED_UP_FRONT + (1 << 20), `a 1-byte chunk announcing 1 GiB made the follower allocate ${grew} bytes`);
  t.like(ofType(allMessages(drain(follower)), MessageType.InstallSnapshotResponse)[0], { received: 1 });
  // Then a real transfer past the up-front allocation, each byte its position's pattern.
  const pattern = (offset: number, length: number): Uint8Array => {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = ((offset + i) * 2_654_435_761) >>> 24;
    return bytes;
  };
  let offset = 0;
  while (offset + chunkBytes < totalBytes) {
    t.is(follower.step(chunk(offset, pattern(offset, chunkBytes), false)), null);
    offset += chunkBytes;
    t.like(ofType(allMessages(drain(follower)), MessageType.InstallSnapshotResponse)[0], { received: offset });
  }
  t.is(follower.step(chunk(offset, pattern(offset, totalBytes - offset), true)), null);
  const ready = follower.ready();
  t.is(ready.snapshot!.data.byteLength, totalBytes);
  t.is(Buffer.compare(ready.snapshot!.data, pattern(0, totalBytes)), 0, 'every byte where it belongs, across the growth');
  follower.advance();
  t.is(follower.status().commitIndex, 6, 'installed');
});

function deliverDroppingChunk(harness: Harness, offset: number, times: number): number {
  let dropped = 0;
  for (let round = 0; round < 100 && harness.queue.length > 0; round++) {
    harness.deliverRound((message) => {
      if (dropped >= times || message.type !== MessageType.InstallSnapshot || message.to !== 3 || message.offset !== offset) return true;
      dropped++;
      return false;
    });
  }
  return dropped;
}

/** Heartbeats from node 1 until node 3 installs a snapshot (at most `max`), dropping chunk `offset` `times` more times. */
function heartbeatUntilInstalled(harness: Harness, max: number, offset = -1, times = 0): number {
  let heartbeats = 0;
  let dropped = 0;
  for (; heartbeats < max && harness.restoredSnapshots.get(3)!.length === 0; heartbeats++) {
    harness.tick(1, 1);
    dropped += deliverDroppingChunk(harness, offset, times - dropped);
  }
  return heartbeats;
}

function chunksTo3(harness: Harness): InstallSnapshot[] {
  return harness.delivered.filter((message): message is InstallSnapshot => message.type === MessageType.InstallSnapshot && message.to === 3);
}

test('Figure 13 a lost chunk: heartbeats without progress make the leader send again from the bytes the follower holds, not from the start', (t) => {
  const { harness, snapshot } = snapshotInChunksTo3(2);
  t.is(deliverDroppingChunk(harness, 2, 1), 1, 'the second chunk lost on its way');
  t.is(harness.restoredSnapshots.get(3)!.length, 0, 'stuck without the lost chunk');
  const heartbeats = heartbeatUntilInstalled(harness, 12);
  const installed = harness.restoredSnapshots.get(3)!;
  t.is(installed.length, 1, `installed after ${heartbeats} heartbeats`);
  t.true(heartbeats <= STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RESEND + 1, `sent again after ${STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RESEND} stalled heartbeats, not ${STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RETRY}`);
  t.is(new TextDecoder().decode(installed[0]!.data), new TextDecoder().decode(snapshot.data));
  t.is(chunksTo3(harness).filter((chunk) => chunk.offset === 0).length, 1, 'not started over');
});

test('Figure 13 pipelined: a chunk lost, and lost again when sent for the gap, is sent a third time after heartbeats, without starting over', (t) => {
  const { harness, snapshot } = snapshotInChunksTo3(2, 4);
  t.is(deliverDroppingChunk(harness, 2, 2), 2, 'the chunk at 2 lost, then its resend for the gap lost too');
  t.is(harness.restoredSnapshots.get(3)!.length, 0);
  const heartbeats = heartbeatUntilInstalled(harness, 12);
  t.is(harness.restoredSnapshots.get(3)!.length, 1, `installed after ${heartbeats} heartbeats`);
  t.is(new TextDecoder().decode(harness.restoredSnapshots.get(3)![0]!.data), new TextDecoder().decode(snapshot.data));
  t.is(chunksTo3(harness).filter((chunk) => chunk.offset === 0).length, 1, 'not started over');
});

test('Figure 13 the last chunk lost: the follower acknowledges a last chunk as it arrives, so the leader sends it again after a few heartbeats, without starting over', (t) => {
  const { harness, snapshot } = snapshotInChunksTo3(2);
  const lastAt = Math.floor((snapshot.data.byteLength - 1) / 2) * 2;
  t.is(deliverDroppingChunk(harness, lastAt, 1), 1, 'the last chunk lost');
  t.is(harness.restoredSnapshots.get(3)!.length, 0, 'stuck without the last chunk');
  const heartbeats = heartbeatUntilInstalled(harness, 20);
  t.is(harness.restoredSnapshots.get(3)!.length, 1, `installed after ${heartbeats} heartbeats`);
  t.true(heartbeats <= STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RESEND + 1, `sent again after ${STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RESEND} stalled heartbeats, not ${STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RETRY} (it took ${heartbeats})`);
  t.is(new TextDecoder().decode(harness.restoredSnapshots.get(3)![0]!.data), new TextDecoder().decode(snapshot.data));
  t.is(chunksTo3(harness).filter((chunk) => chunk.offset === 0).length, 1, 'not started over');
  t.is(chunksTo3(harness).filter((chunk) => chunk.offset === lastAt).length, 1, 'the last chunk delivered once, when sent again');
});

test('Figure 13 all chunks acknowledged: a follower still installing is not sent anything again until the start over', (t) => {
  const { harness, snapshot } = snapshotInChunksTo3(2);
  // Deliver everything but the answer that promises the install is stored (the install is slow).
  for (let round = 0; round < 100 && harness.queue.length > 0; round++) {
    harness.deliverRound((message) => !(message.type === MessageType.InstallSnapshotResponse && message.index !== 0));
  }
  t.is(harness.restoredSnapshots.get(3)!.length, 1, 'the follower has all the chunks');
  const sentBefore = chunksTo3(harness).length;
  t.deepEqual(harness.status(1).progress.find((peer) => peer.id === 3)!.snapshotBytes, { total: snapshot.data.byteLength, sent: snapshot.data.byteLength, acknowledged: snapshot.data.byteLength });
  for (let heartbeat = 1; heartbeat < STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RETRY; heartbeat++) {
    harness.tick(1, 1);
    harness.deliverRound((message) => !(message.type === MessageType.InstallSnapshotResponse && message.index !== 0));
  }
  t.is(chunksTo3(harness).length, sentBefore, `no chunk sent again in ${STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RETRY - 1} heartbeats`);
});

/**
 * Node 3 stalls (a long install, a busy thread) while node 1 heartbeats `heartbeats`
 * times: everything sent to it waits, then it takes it all at once and answers in one
 * burst, which node 1 takes in one round. Returns what node 1 sent to node 3 in answer.
 */
function stallThenBurst(harness: Harness, heartbeats: number): Message[] {
  const held: Message[] = [];
  for (let beat = 0; beat < heartbeats; beat++) {
    harness.tick(1, 1);
    held.push(...harness.queue.filter((message) => message.to === 3));
    harness.queue = harness.queue.filter((message) => message.to !== 3);
    harness.deliverRound();
  }
  held.push(...harness.queue.filter((message) => message.to === 3));
  harness.queue = harness.queue.filter((message) => message.to !== 3);
  for (const message of held) harness.node(3).step(message);
  harness.processReady(3);
  const answers = harness.queue.filter((message) => message.from === 3);
  harness.queue = harness.queue.filter((message) => message.from !== 3);
  for (const answer of answers) harness.node(1).step(answer);
  harness.processReady(1);
  return harness.queue.filter((message) => message.to === 3);
}

test('Figure 13 a follower that stalled answers every missed heartbeat at once: the burst counts as one interval, not as many stalled ones', (t) => {
  const { harness } = snapshotInChunksTo3(2, 4);
  const heartbeats = 3 * STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RETRY;
  const sent = stallThenBurst(harness, heartbeats);
  const chunks = ofType(sent, MessageType.InstallSnapshot);
  // The four chunk answers slide the window by four chunks; the heartbeat answers add nothing.
  t.true(chunks.length <= 4, `${chunks.length} chunks sent in answer to a burst of ${heartbeats} heartbeat answers`);
  t.is(chunks.filter((chunk) => chunk.offset === 0).length, 0, 'not started over');
  const installed = heartbeatUntilInstalled(harness, 20);
  t.is(harness.restoredSnapshots.get(3)!.length, 1, `installed ${installed} heartbeats later`);
});

test('a lagging follower in probe state that answers a burst of missed heartbeats gets one probe, not one per answer', (t) => {
  const harness = new Harness(3, { config: { ...noPreVote, maxEntriesPerAppend: 2 } });
  harness.elect(1);
  harness.isolate(3);
  for (let i = 1; i <= 20; i++) harness.propose(1, `v${i}`);
  harness.stabilize();
  // Node 1 leads again in a new term: it probes every follower, and node 3's probe is lost.
  harness.elect(2);
  harness.elect(1);
  harness.heal();
  t.is(harness.status(1).progress.find((peer) => peer.id === 3)!.state, ProgressState.Probe, 'a new leader probes node 3');
  const sent = stallThenBurst(harness, 12);
  const appends = ofType(sent, MessageType.AppendEntries).filter((append) => append.entries.length > 0);
  t.true(appends.length <= 2, `${appends.length} appends with entries in answer to one burst`);
  harness.stabilize();
  t.is(harness.status(3).commitIndex, harness.status(1).commitIndex, 'caught up afterwards');
});

/** A 3-node harness, node 1 leading, node 3 in replicate state with an append of `count` entries sent to it and held back (still on its way). */
function appendsOnTheirWayTo3(count: number): { harness: Harness; held: Message[] } {
  const harness = clusterWithEntries(2);
  t3IsReplicating(harness);
  for (let i = 1; i <= count; i++) harness.propose(1, `w${i}`);
  harness.processAllReadies();
  const held = harness.queue.filter((message) => message.to === 3);
  harness.queue = harness.queue.filter((message) => message.to !== 3);
  harness.stabilize();
  return { harness, held };
}

function t3IsReplicating(harness: Harness): void {
  const state = harness.status(1).progress.find((peer) => peer.id === 3)!.state;
  if (state !== ProgressState.Replicate) throw new Error(`node 3 is in ${state} state, not replicate`);
}

test('a follower in replicate state answering one heartbeat several times (duplicates, or a burst) stalls one interval: its appends on their way are not sent again', (t) => {
  const { harness, held } = appendsOnTheirWayTo3(3);
  t.true(ofType(held, MessageType.AppendEntries).some((append) => append.entries.length === 3), 'the append is on its way');
  // One heartbeat; node 3 answers it, and the answer arrives several times over.
  harness.tick(1, 1);
  const heartbeat = ofType(harness.queue, MessageType.Heartbeat).find((message) => message.to === 3)!;
  harness.queue = harness.queue.filter((message) => message.to !== 3);
  harness.stabilize();
  harness.node(3).step(heartbeat);
  harness.processReady(3);
  const answer = ofType(harness.queue, MessageType.HeartbeatResponse).find((message) => message.from === 3)!;
  harness.queue = harness.queue.filter((message) => message.from !== 3);
  for (let copy = 0; copy < 3 * STALLED_HEARTBEATS_BEFORE_PROBE; copy++) harness.node(1).step(answer);
  harness.processReady(1);
  const progress = harness.status(1).progress.find((peer) => peer.id === 3)!;
  t.is(progress.state, ProgressState.Replicate, 'still replicating: one stalled interval, not a probe');
  const resent = ofType(harness.queue, MessageType.AppendEntries).filter((append) => append.to === 3 && append.entries.length > 0);
  t.is(resent.length, 0, `${resent.length} appends sent again while the first is on its way`);
  // The held append arrives; node 3 catches up.
  harness.queue.push(...held);
  harness.stabilize();
  t.is(harness.status(3).commitIndex, harness.status(1).commitIndex, 'caught up');
  t.is(harness.status(3).lastLogIndex, harness.status(1).lastLogIndex);
});

test('a follower in replicate state whose appends were lost is probed again after STALLED_HEARTBEATS_BEFORE_PROBE heartbeat intervals, and catches up', (t) => {
  const { harness } = appendsOnTheirWayTo3(3); // the append to node 3 is lost
  const last = harness.status(1).lastLogIndex;
  let intervals = 0;
  while (harness.status(1).progress.find((peer) => peer.id === 3)!.matchIndex < last) {
    if (++intervals > 2 * STALLED_HEARTBEATS_BEFORE_PROBE) return t.fail(`not caught up after ${intervals - 1} heartbeat intervals`);
    harness.tick(1, 1);
    harness.stabilize();
  }
  t.is(intervals, STALLED_HEARTBEATS_BEFORE_PROBE, 'probed again at the third interval without progress');
  t.true(harness.traceLines.some((line) => line.includes('re-probes 3')), 'the leader says why');
  harness.tick(1, 1);
  harness.stabilize();
  t.is(harness.status(3).lastLogIndex, last, 'caught up');
  t.is(harness.status(3).commitIndex, harness.status(1).commitIndex);
});

test('Figure 13 pipelined: maxSnapshotChunksInFlight chunks go out before the first answer, then one per answer', (t) => {
  const { harness, snapshot } = snapshotInChunksTo3(2, 3);
  const first = ofType(harness.queue, MessageType.InstallSnapshot).filter((chunk) => chunk.to === 3);
  t.true(snapshot.data.byteLength > 6, `a ${snapshot.data.byteLength}-byte snapshot is more than three 2-byte chunks`);
  t.deepEqual(first.map((chunk) => chunk.offset), [0, 2, 4], 'three chunks in flight at once');
  t.deepEqual(harness.status(1).progress.find((peer) => peer.id === 3)!.snapshotBytes, { total: snapshot.data.byteLength, sent: 6, acknowledged: 0 }, 'the leader reports the transfer');
  harness.stabilize();
  const chunks = harness.delivered.filter((message): message is InstallSnapshot => message.type === MessageType.InstallSnapshot && message.to === 3);
  t.deepEqual(chunks.map((chunk) => chunk.offset), chunks.map((_, i) => i * 2), 'each chunk sent once, in order');
  const installed = harness.restoredSnapshots.get(3)!;
  t.is(installed.length, 1);
  t.is(new TextDecoder().decode(installed[0]!.data), new TextDecoder().decode(snapshot.data));
  t.is(harness.status(3).commitIndex, harness.status(1).commitIndex);
});

test('Figure 13 pipelined: a lost chunk is sent again from the gap the follower reports, once, without starting over', (t) => {
  const { harness, snapshot } = snapshotInChunksTo3(2, 4);
  let dropped = false;
  for (let round = 0; round < 100 && harness.queue.length > 0; round++) {
    harness.deliverRound((message) => {
      if (dropped || message.type !== MessageType.InstallSnapshot || message.offset !== 2) return true;
      dropped = true;
      return false;
    });
  }
  t.true(dropped);
  const installed = harness.restoredSnapshots.get(3)!;
  t.is(installed.length, 1, 'installed with no heartbeat in between');
  t.is(new TextDecoder().decode(installed[0]!.data), new TextDecoder().decode(snapshot.data));
  const chunks = harness.delivered.filter((message): message is InstallSnapshot => message.type === MessageType.InstallSnapshot && message.to === 3);
  t.is(chunks.filter((chunk) => chunk.offset === 0).length, 1, 'not started over');
  t.is(chunks.filter((chunk) => chunk.offset === 2).length, 1, 'the lost chunk delivered once, when sent again');
  // Each chunk after the gap went at most twice: before the gap was reported, and after.
  for (let offset = 4; offset < snapshot.data.byteLength; offset += 2) {
    t.true(chunks.filter((chunk) => chunk.offset === offset).length <= 2, `chunk at ${offset}`);
  }
});
