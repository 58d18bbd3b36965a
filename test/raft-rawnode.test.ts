import test from 'ava';
import { Harness, decode } from './raft-harness.js';
import { createConfig, RawNode } from '../lib/raft/raw-node.js';
import { createPrng } from '../lib/raft/prng.js';

test('single node: propose -> ready(entries) -> advance -> next ready has them committed', (t) => {
  const node = new RawNode(createConfig({ id: 1, peers: [1], random: createPrng(1) }), null);
  node.campaign();
  t.is(node.status().role, 'leader');
  let ready = node.ready();
  t.deepEqual(ready.entries.map((entry) => entry.data), [null]);
  node.advance();
  ready = node.ready();
  t.deepEqual(ready.committedEntries.map((entry) => entry.index), [1]);
  node.advance();
  const result = node.propose(new Uint8Array([7]));
  t.deepEqual(result, { ok: true, index: 2, term: 1 });
  ready = node.ready();
  t.is(ready.entries.length, 1);
  t.is(ready.committedEntries.length, 0);
  node.advance();
  ready = node.ready();
  t.deepEqual(ready.committedEntries.map((entry) => entry.index), [2]);
  t.is(ready.hardState?.commitIndex, 2);
  node.advance();
  t.false(node.hasReady());
});

test('three nodes elect a leader and replicate', (t) => {
  const harness = new Harness(3, { seed: 3 });
  harness.elect(1);
  t.deepEqual(harness.leaderIds(), [1], `seed ${harness.seed}`);
  harness.propose(1, 'x');
  harness.stabilize();
  for (const id of harness.ids) t.deepEqual(harness.applied.get(id)!.map(decode), ['noop', 'x'], `node ${id}`);
});

import { allMessages, drain, makeNode } from './raft-harness.js';
import { describeMessage, describeReady } from '../lib/raft/describe.js';
import { MessageType } from '../lib/raft/types.js';
import type { Message } from '../lib/raft/types.js';

const quiet = { preVote: false, checkQuorum: false } as const;

test('nothing may be called between ready() and advance(); advance needs a ready', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: quiet });
  t.throws(() => node.advance(), { message: /advance\(\) called without a preceding ready\(\)/ });
  node.campaign();
  node.ready();
  t.throws(() => node.tick(), { message: /tick\(\) called between ready\(\) and advance\(\)/ });
  t.throws(() => node.step({ type: MessageType.TimeoutNow, term: 1, from: 2, to: 1 }), { message: /step\(\)/ });
  t.throws(() => node.propose(new Uint8Array()), { message: /propose\(\)/ });
  t.throws(() => node.readIndex(1), { message: /readIndex\(\)/ });
  t.throws(() => node.ready(), { message: /ready\(\) called twice/ });
  node.advance();
  t.notThrows(() => node.tick());
});

test('config is validated', (t) => {
  t.throws(() => createConfigAndNode(1, []), { message: /must not be empty/ });
  t.throws(() => createConfigAndNode(1, [1, 1, 2]), { message: /not sorted and distinct/ });
  t.throws(() => createConfigAndNode(1, [1, -2]), { message: /not a node id/ });
  // A node added to a running cluster gets the bootstrap voters, itself not among them.
  const joining = createConfigAndNode(4, [1, 2, 3]);
  t.deepEqual(joining.status().membership, { voters: [1, 2, 3], learners: [] });
});

function createConfigAndNode(id: number, peers: number[]): RawNode {
  return new RawNode(createConfig({ id, peers, random: createPrng(1) }), null);
}

test('propose on a follower is refused with the leader hint', (t) => {
  const harness = new Harness(3, { seed: 2 });
  t.deepEqual(harness.propose(2, 'x'), { ok: false, code: 'NOT_LEADER', leaderId: 0, reason: null });
  harness.elect(1);
  t.deepEqual(harness.propose(2, 'x'), { ok: false, code: 'NOT_LEADER', leaderId: 1, reason: null });
});

test('propose is refused with PROPOSAL_QUEUE_FULL once maxUncommittedEntries are pending', (t) => {
  const harness = new Harness(3, { seed: 2, config: { maxUncommittedEntries: 4 } });
  harness.elect(1);
  const results = Array.from({ length: 6 }, (_, position) => harness.propose(1, `v${position}`));
  t.deepEqual(
    results.map((result) => result.ok),
    [true, true, true, true, false, false],
  );
  t.deepEqual(results[5], { ok: false, code: 'PROPOSAL_QUEUE_FULL', leaderId: 1, reason: null });
  harness.stabilize();
  t.true(harness.propose(1, 'after commit').ok);
});

test('committedEntries never include an entry that is not yet persisted locally', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: quiet });
  node.step({
    type: MessageType.AppendEntries,
    term: 1,
    from: 2,
    to: 1,
    prevLogIndex: 0,
    prevLogTerm: 0,
    entries: [
      { index: 1, term: 1, data: null },
      { index: 2, term: 1, data: null },
    ],
    leaderCommit: 2,
  });
  const first = drain(node);
  t.is(first.entries.length, 2);
  t.is(first.hardState?.commitIndex, 2, 'commitIndex is persisted with the entries');
  t.is(first.committedEntries.length, 0, 'but the entries are applied only once durable');
  const second = drain(node);
  t.deepEqual(second.committedEntries.map((entry) => entry.index), [1, 2]);
  t.false(node.hasReady());
});

test('restart: entries up to config.applied are not re-delivered', (t) => {
  const terms = [1, 1, 1, 1];
  const node = new RawNode(
    createConfig({ id: 1, peers: [1, 2, 3], random: createPrng(1), applied: 2 }),
    { hardState: { currentTerm: 1, votedFor: 0, commitIndex: 4 }, entries: terms.map((term, position) => ({ index: position + 1, term, data: null })) },
  );
  const ready = drain(node);
  t.deepEqual(ready.committedEntries.map((entry) => entry.index), [3, 4]);
  t.is(ready.hardState, null, 'nothing changed since what was restored');
  t.is(ready.entries.length, 0);
});

test('hardState appears only when term, vote or commit changed; softState only on role or leader change', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: quiet });
  node.tick();
  t.false(node.hasReady());
  node.campaign();
  const ready = drain(node);
  t.deepEqual(ready.hardState, { currentTerm: 1, votedFor: 1, commitIndex: 0 });
  t.deepEqual(ready.softState, { role: 'candidate', leaderId: 0 });
  node.tick();
  t.false(node.hasReady(), 'a tick that changes nothing produces no Ready');
});

test('the leader sends AppendEntries immediately, in parallel with its own write; acks wait for persistence', (t) => {
  const leader = makeNode(1, [1, 2], { config: quiet });
  leader.campaign();
  leader.step({ type: MessageType.RequestVoteResponse, term: 1, from: 2, to: 1, preVote: false, voteGranted: true });
  const ready = drain(leader);
  t.true(ready.messages.some((message) => message.type === MessageType.AppendEntries));
  t.is(ready.messagesAfterPersist.length, 0);
  const follower = makeNode(2, [1, 2], { config: quiet });
  for (const message of ready.messages) if (message.type === MessageType.AppendEntries) follower.step(message);
  const followerReady = drain(follower);
  t.deepEqual(followerReady.messagesAfterPersist.map((message) => message.type), [MessageType.AppendEntriesResponse]);
  follower.step({ type: MessageType.Heartbeat, term: 1, from: 1, to: 2, leaderCommit: 0, context: 0 });
  t.deepEqual(drain(follower).messages.map((message) => message.type), [MessageType.HeartbeatResponse]);
});

test('the leader counts its own entries toward commit only once persisted (at advance)', (t) => {
  const leader = makeNode(1, [1, 2, 3], { config: quiet });
  leader.campaign();
  leader.step({ type: MessageType.RequestVoteResponse, term: 1, from: 2, to: 1, preVote: false, voteGranted: true });
  // Follower 2 acknowledges the no-op before the leader has synced its own copy.
  leader.step({ type: MessageType.AppendEntriesResponse, term: 1, from: 2, to: 1, success: true, index: 1, conflictTerm: 0, conflictIndex: 0 });
  t.is(leader.status().commitIndex, 0, "one follower's ack without the leader's persisted copy is not a majority of 3");
  const ready = leader.ready();
  t.is(ready.entries.length, 1);
  leader.advance();
  t.is(leader.status().commitIndex, 1, 'committed once the host reports the no-op durable');
});

test('messages not addressed to this node, or from nobody, are ignored', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: quiet });
  node.step({ type: MessageType.AppendEntries, term: 5, from: 2, to: 3, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0 });
  node.step({ type: MessageType.AppendEntries, term: 5, from: 0, to: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0 });
  t.is(node.status().currentTerm, 0);
  t.false(node.hasReady());
});

test('a node follows a leader its configuration does not know yet (a node added later hears from one)', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: quiet });
  node.step({ type: MessageType.AppendEntries, term: 5, from: 9, to: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0 });
  t.is(node.status().currentTerm, 5);
  t.is(node.status().leaderId, 9);
});

test('trace reports role, vote and commit changes', (t) => {
  const lines: string[] = [];
  const node = new RawNode(createConfig({ id: 1, peers: [1], random: createPrng(1), trace: (line) => lines.push(line) }), null);
  node.campaign();
  drain(node);
  drain(node);
  t.true(lines.includes('1 became precandidate at term 0'), lines.join('\n'));
  t.true(lines.includes('1 became candidate at term 1'));
  t.true(lines.includes('1 became leader at term 1'));
  t.true(lines.includes('1 committed up to 1'));
});

test('describeMessage and describeReady give one line per message', (t) => {
  const messages: Message[] = [
    { type: MessageType.RequestVote, term: 2, from: 1, to: 2, preVote: true, lastLogIndex: 4, lastLogTerm: 1, transfer: false },
    { type: MessageType.RequestVoteResponse, term: 2, from: 2, to: 1, preVote: false, voteGranted: true },
    { type: MessageType.AppendEntries, term: 3, from: 1, to: 2, prevLogIndex: 4, prevLogTerm: 2, entries: [{ index: 5, term: 3, data: null }, { index: 6, term: 3, data: null }], leaderCommit: 4 },
    { type: MessageType.AppendEntriesResponse, term: 3, from: 2, to: 1, success: false, index: 4, conflictTerm: 1, conflictIndex: 2 },
    { type: MessageType.Heartbeat, term: 3, from: 1, to: 2, leaderCommit: 4, context: 7 },
    { type: MessageType.HeartbeatResponse, term: 3, from: 2, to: 1, context: 0 },
    { type: MessageType.TimeoutNow, term: 3, from: 1, to: 2 },
    { type: MessageType.InstallSnapshot, term: 3, from: 1, to: 2, lastIncludedIndex: 9, lastIncludedTerm: 2, offset: 4, totalBytes: 10, data: Uint8Array.from([1, 2, 3]), done: false, membership: { voters: [1, 2], learners: [] } },
    { type: MessageType.InstallSnapshotResponse, term: 3, from: 2, to: 1, index: 0, snapshotIndex: 9, received: 7 },
    { type: MessageType.InstallSnapshotResponse, term: 3, from: 2, to: 1, index: 9, snapshotIndex: 0, received: 0 },
  ];
  t.deepEqual(messages.map(describeMessage), [
    '1->2 RequestVote t2 pre-vote last=4@t1',
    '2->1 RequestVoteResponse t2 granted',
    '1->2 AppendEntries t3 prev=4@t2 entries=[5@t3..6@t3 (2)] commit=4',
    '2->1 AppendEntriesResponse t3 reject index=4 hint=2@t1',
    '1->2 Heartbeat t3 commit=4 read=7',
    '2->1 HeartbeatResponse t3',
    '1->2 TimeoutNow t3',
    '1->2 InstallSnapshot t3 snapshot=9@t2 bytes=4..7/10',
    '2->1 InstallSnapshotResponse t3 snapshot=9 holds=7',
    '2->1 InstallSnapshotResponse t3 installed index=9',
  ]);
  const node = makeNode(1, [1, 2, 3], { config: quiet });
  node.campaign();
  t.is(describeReady(node.ready()), 'soft=candidate/leader 0 hard=term 1 vote 1 commit 0 send=2');
  node.advance();
});

test('createPrng is deterministic per seed, in [0, 1), and spreads its values', (t) => {
  const a = createPrng(42);
  const b = createPrng(42);
  const c = createPrng(43);
  const first = Array.from({ length: 1000 }, () => a());
  t.deepEqual(first, Array.from({ length: 1000 }, () => b()));
  t.notDeepEqual(first.slice(0, 10), Array.from({ length: 10 }, () => c()));
  t.true(first.every((value) => value >= 0 && value < 1));
  const buckets = new Array<number>(10).fill(0);
  for (const value of first) buckets[Math.floor(value * 10)]!++;
  t.true(buckets.every((count) => count > 60 && count < 140), `buckets ${buckets.join(',')} (seed 42)`);
  t.throws(() => createPrng(Number.NaN), { message: /finite/ });
});

test('test-only bugs each disable exactly their rule', (t) => {
  const outdatedVote = { type: MessageType.RequestVote, term: 3, from: 2, to: 1, preVote: false, lastLogIndex: 1, lastLogTerm: 1, transfer: false } as const;
  const granted = (bugs: object) => {
    const node = makeNode(1, [1, 2, 3], { terms: [1, 2], currentTerm: 2, config: { ...quiet, testOnlyBugs: bugs } });
    node.step(outdatedVote);
    const ready = drain(node);
    return { ready, grant: allMessages(ready).find((message) => message.type === MessageType.RequestVoteResponse) };
  };
  t.is(granted({}).grant?.type === MessageType.RequestVoteResponse && granted({}).grant?.voteGranted, false);
  const broken = granted({ voteWithoutUpToDateCheck: true });
  t.true(broken.grant?.type === MessageType.RequestVoteResponse && broken.grant.voteGranted);
  t.is(broken.ready.messagesAfterPersist.length, 1, 'still persisted before sending');

  const early = makeNode(1, [1, 2, 3], { config: { ...quiet, testOnlyBugs: { grantVoteBeforePersist: true } } });
  early.step({ ...outdatedVote, lastLogIndex: 0, lastLogTerm: 0 });
  const earlyReady = drain(early);
  t.is(earlyReady.messages.length, 1, 'grant sent before the vote is durable');
  t.is(earlyReady.messagesAfterPersist.length, 0);

  const mismatched = { type: MessageType.AppendEntries, term: 2, from: 2, to: 1, prevLogIndex: 2, prevLogTerm: 9, entries: [], leaderCommit: 0 } as const;
  const strict = makeNode(1, [1, 2, 3], { terms: [1, 2], currentTerm: 2, config: quiet });
  strict.step(mismatched);
  const lax = makeNode(1, [1, 2, 3], { terms: [1, 2], currentTerm: 2, config: { ...quiet, testOnlyBugs: { skipPrevLogTermCheck: true } } });
  lax.step(mismatched);
  const success = (node: RawNode) => allMessages(drain(node)).some((message) => message.type === MessageType.AppendEntriesResponse && message.success);
  t.false(success(strict));
  t.true(success(lax));
});

test('throughput: a single-node leader takes 200k proposals in batches (O(1) propose, O(batch) ready)', (t) => {
  const node = new RawNode(createConfig({ id: 1, peers: [1], random: createPrng(1) }), null);
  node.campaign();
  drain(node);
  drain(node);
  const payload = new Uint8Array(16);
  const proposals = 200_000;
  const batch = 1000;
  let applied = 0;
  const started = process.hrtime.bigint();
  for (let sent = 0; sent < proposals; sent += batch) {
    for (let count = 0; count < batch; count++) node.propose(payload);
    applied += drain(node).committedEntries.length;
    applied += drain(node).committedEntries.length;
  }
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  t.is(applied, proposals);
  t.log(`${Math.round(proposals / (elapsedMs / 1000))} proposals/s through propose/ready/advance`);
  t.true(elapsedMs < 5000, `took ${elapsedMs} ms`);
});
