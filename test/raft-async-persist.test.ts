// Asynchronous persistence (thesis §10.2.1): the host writes a Ready's entries, calls
// advance({ durable: false }) and goes on while the fdatasync runs; persisted(token) later
// says which Readys became durable. Until then the node's own writes count for nothing:
// its entries neither toward the leader's commit quorum nor as applied here, and its vote
// for itself not toward its election.

import test from 'ava';
import { createConfig, RawNode } from '../lib/raft/raw-node.js';
import type { PersistToken } from '../lib/raft/raw-node.js';
import { createPrng } from '../lib/raft/prng.js';
import { MessageType } from '../lib/raft/types.js';
import type { AppendEntries, Entry, Message, NodeId } from '../lib/raft/types.js';
import { allMessages, makeNode, text } from './raft-harness.js';

const asyncQuiet = { preVote: false, checkQuorum: false, asyncPersistence: true } as const;

/** A Ready taken and advanced as written-not-durable; returns it and its token. */
function advanceWritten(node: RawNode): { ready: ReturnType<RawNode['ready']>; token: PersistToken } {
  const ready = node.ready();
  const token = node.advance({ durable: false });
  return { ready, token };
}

function singleLeader(): RawNode {
  const node = new RawNode(createConfig({ id: 1, peers: [1], random: createPrng(1), asyncPersistence: true }), null);
  node.campaign();
  const { token } = advanceWritten(node);
  node.persisted(token);
  t0(node);
  return node;
}

/** Drives a fresh single-node leader until its no-op is committed and applied. */
function t0(node: RawNode): void {
  const { token } = advanceWritten(node);
  node.persisted(token);
  const ready = node.ready();
  node.advance();
  if (ready.committedEntries.length !== 1) throw new Error('no-op not committed');
}

function grant(to: NodeId, from: NodeId, term: number): Message {
  return { type: MessageType.RequestVoteResponse, term, from, to, voteGranted: true, preVote: false };
}

test('a single-node candidate becomes leader only once its vote for itself is durable', (t) => {
  const node = new RawNode(createConfig({ id: 1, peers: [1], random: createPrng(1), asyncPersistence: true }), null);
  node.campaign();
  t.is(node.status().role, 'candidate');
  const { ready, token } = advanceWritten(node);
  t.is(ready.hardState?.votedFor, 1);
  t.is(node.status().role, 'candidate', 'its vote is written but not durable');
  node.persisted(token);
  t.is(node.status().role, 'leader');
});

test('a candidate does not count its own vote before it is durable, nor lead before its term is', (t) => {
  const first = makeNode(1, [1, 2, 3], { config: asyncQuiet });
  first.campaign();
  const written = advanceWritten(first);
  first.step(grant(1, 2, 1));
  t.is(first.status().role, 'candidate', 'one peer and an undurable own vote are not a majority of three');
  first.persisted(written.token);
  t.is(first.status().role, 'leader');

  // Two peers' votes are a majority of three by themselves, but a leader whose term is
  // not durable could crash back into the previous term, win this term again from the
  // same voters and append other entries at the same index and term (simulator seed 6518).
  const second = makeNode(1, [1, 2, 3], { config: asyncQuiet });
  second.campaign();
  const campaign = advanceWritten(second);
  second.step(grant(1, 2, 1));
  second.step(grant(1, 3, 1));
  t.is(second.status().role, 'candidate', 'won, but waits for its term and vote to be durable');
  t.false(second.hasReady(), 'nothing to send meanwhile: no AppendEntries in a term that is not durable');
  second.persisted(campaign.token);
  t.is(second.status().role, 'leader', 'then leads');
});

test('a leader does not count entries toward commit until persisted(), and hands each out once', (t) => {
  const node = singleLeader();
  t.true(node.propose(text('a')).ok);
  const first = advanceWritten(node);
  t.deepEqual(first.ready.entries.map((entry) => entry.index), [2]);
  t.is(node.status().commitIndex, 1, 'not committed while its only copy is not durable');
  // More proposals while the first fdatasync runs: only the new entry is handed out.
  t.true(node.propose(text('b')).ok);
  const second = advanceWritten(node);
  t.deepEqual(second.ready.entries.map((entry) => entry.index), [3]);
  t.is(second.ready.committedEntries.length, 0);
  t.false(node.hasReady());
  node.persisted(first.token);
  t.is(node.status().commitIndex, 2);
  let ready = node.ready();
  t.deepEqual(ready.committedEntries.map((entry) => entry.index), [2]);
  node.advance();
  // That durable advance() vouched for everything handed out before it, entry 3 included.
  t.is(node.status().commitIndex, 3);
  ready = node.ready();
  t.deepEqual(ready.committedEntries.map((entry) => entry.index), [3]);
  node.advance();
  node.persisted(second.token); // already covered: nothing changes
  t.false(node.hasReady());
});

test('a three-node leader commits on two followers while its own write is in flight, but applies only once durable', (t) => {
  const leader = makeNode(1, [1, 2, 3], { config: asyncQuiet });
  leader.campaign();
  const vote = advanceWritten(leader);
  leader.persisted(vote.token);
  for (const message of allMessages(vote.ready)) {
    if (message.type === MessageType.RequestVote) leader.step(grant(1, message.to, message.term));
  }
  t.is(leader.status().role, 'leader');
  const { ready, token } = advanceWritten(leader); // the no-op and its AppendEntries
  const noop = ready.entries[0]!;
  for (const peer of [2, 3]) {
    leader.step({ type: MessageType.AppendEntriesResponse, term: noop.term, from: peer, to: 1, success: true, index: noop.index, conflictTerm: 0, conflictIndex: 0 });
  }
  t.is(leader.status().commitIndex, noop.index, 'two followers are a majority of three');
  const next = advanceWritten(leader);
  t.is(next.ready.committedEntries.length, 0, 'not applied here before it is durable here');
  leader.persisted(token);
  const after = leader.ready();
  leader.advance();
  t.deepEqual(after.committedEntries.map((entry) => entry.index), [noop.index]);
});

test('persisted() does not mark entries that were replaced while being written', (t) => {
  const follower = makeNode(2, [1, 2, 3], { config: asyncQuiet });
  const entry = (index: number, term: number): Entry => ({ index, term, data: text(`${index}@${term}`) });
  const append = (term: number, prevLogIndex: number, prevLogTerm: number, entries: Entry[]): { token: PersistToken; acks: readonly Message[] } => {
    const message: AppendEntries = { type: MessageType.AppendEntries, term, from: term === 1 ? 1 : 3, to: 2, prevLogIndex, prevLogTerm, entries, leaderCommit: 0 };
    follower.step(message);
    const { ready, token } = advanceWritten(follower);
    return { token, acks: ready.messagesAfterPersist };
  };
  const old = append(1, 0, 0, [entry(1, 1), entry(2, 1), entry(3, 1)]);
  // A new leader of term 2 replaces 2..3 while the first write's fdatasync is running.
  const replacement = append(2, 1, 1, [entry(2, 2)]);
  t.true(replacement.acks.some((message) => message.type === MessageType.AppendEntriesResponse && message.success), 'acknowledged once durable');
  follower.persisted(old.token); // the first fdatasync completes: its last entry, 3 of term 1, is gone
  follower.step({ type: MessageType.Heartbeat, term: 2, from: 3, to: 2, leaderCommit: 2, context: 0 });
  let ready = follower.ready();
  follower.advance({ durable: false });
  t.deepEqual(ready.committedEntries.map((e) => e.index), [], 'nothing was marked durable: nothing applies');
  follower.persisted(replacement.token);
  ready = follower.ready();
  follower.advance();
  t.deepEqual(ready.committedEntries.map((e) => `${e.index}@${e.term}`), ['1@1', '2@2']);
});

test('persisted() may not be called between ready() and advance(); durable: false needs asyncPersistence', (t) => {
  const node = singleLeader();
  node.propose(text('a'));
  node.ready();
  t.throws(() => node.persisted(1), { message: /persisted\(\) called between ready\(\) and advance\(\)/ });
  const token = node.advance({ durable: false });
  t.notThrows(() => node.persisted(token));
  t.is(node.status().commitIndex, 2);
  const synchronous = makeNode(1, [1, 2, 3], { config: { preVote: false, checkQuorum: false } });
  synchronous.campaign();
  synchronous.ready();
  t.throws(() => synchronous.advance({ durable: false }), { message: /asyncPersistence/ });
});

test('counting an undurable own vote (test-only bug) elects two leaders in one term after a crash; the rule prevents it', (t) => {
  const run = (bug: boolean): { firstLeader: boolean; secondLeader: boolean } => {
    const config = { ...asyncQuiet, testOnlyBugs: { countOwnVoteBeforeDurable: bug } };
    const a = makeNode(1, [1, 2, 3], { config });
    a.campaign(); // term 1, vote for itself: written, its fdatasync still running
    advanceWritten(a);
    a.step(grant(1, 2, 1));
    const firstLeader = a.status().role === 'leader';
    // a crashes before its fdatasync completes: it restarts with nothing durable.
    const restarted = makeNode(1, [1, 2, 3], { config });
    const c = makeNode(3, [1, 2, 3], { config });
    c.campaign(); // term 1 as well
    const written = advanceWritten(c);
    c.persisted(written.token);
    const request = allMessages(written.ready).find((message) => message.type === MessageType.RequestVote && message.to === 1)!;
    restarted.step(request);
    const answer = restarted.ready();
    restarted.advance();
    for (const message of allMessages(answer)) if (message.to === 3) c.step(message);
    return { firstLeader, secondLeader: c.status().role === 'leader' };
  };
  t.deepEqual(run(true), { firstLeader: true, secondLeader: true }, 'the bug: nodes 1 and 3 both lead term 1');
  t.deepEqual(run(false), { firstLeader: false, secondLeader: true }, 'the rule: node 1 never led term 1');
});

/**
 * Node 1 led term 1 and committed E (index 2) with node 2; node 3 received E too, but its
 * write of E was still syncing when node 1 failed and node 3's election timeout fired.
 * Node 3 crashes before that sync, restarts in term 1 without E, campaigns for term 2
 * again, and a grant node 2 gave its first incarnation arrives late.
 */
function lateGrantAfterCrash(bug: boolean): { grants: number; leads: boolean; term: number } {
  const config = { ...asyncQuiet, testOnlyBugs: { voteRequestBeforeDurable: bug } };
  const e = { index: 2, term: 1, data: text('E') };
  const voter = makeNode(2, [1, 2, 3], { config, terms: [1, 1], currentTerm: 1, commitIndex: 2 });
  const durableOf3 = { config, terms: [1], currentTerm: 1, commitIndex: 1 } as const;
  const first = makeNode(3, [1, 2, 3], durableOf3);
  first.step({ type: MessageType.AppendEntries, term: 1, from: 1, to: 3, prevLogIndex: 1, prevLogTerm: 1, entries: [e], leaderCommit: 1 });
  advanceWritten(first); // E written, its fdatasync running
  first.campaign(); // term 2; its log (E included) is what it advertises
  const campaign = advanceWritten(first);
  // The host sends a Ready's messages at once; messagesAfterPersist wait for the sync. Node 3
  // crashes before that sync: only `messages` ever left it.
  const sentBeforeCrash = campaign.ready.messages.filter((message) => message.type === MessageType.RequestVote && message.to === 2);
  const grants: Message[] = [];
  for (const request of sentBeforeCrash) {
    voter.step(request);
    const answer = voter.ready();
    voter.advance();
    grants.push(...allMessages(answer).filter((message) => message.type === MessageType.RequestVoteResponse && message.voteGranted));
  }
  // Node 3 restarts from its disk: term 1, no E. It campaigns in term 2 again; its vote for itself becomes durable.
  const second = makeNode(3, [1, 2, 3], durableOf3);
  second.campaign();
  const again = advanceWritten(second);
  second.persisted(again.token);
  for (const grant of grants) second.step(grant);
  return { grants: grants.length, leads: second.status().role === 'leader', term: second.status().currentTerm };
}

test('a candidate whose log is not all durable asks for votes only after its sync: a crash cannot leave grants for a longer log behind', (t) => {
  const { grants, leads, term } = lateGrantAfterCrash(false);
  t.is(term, 2);
  t.false(leads, 'elected on a grant for a log it no longer holds, it would lack the committed E');
  t.is(grants, 0, 'the vote request waited for the sync of the log it advertised, so the crash took it along');
});

test('asking for votes before the log is durable (test-only bug voteRequestBeforeDurable): the late grant elects a leader without the committed entry', (t) => {
  const { grants, leads, term } = lateGrantAfterCrash(true);
  t.is(grants, 1, 'the request left before the crash and was granted for the log holding E');
  t.is(term, 2);
  t.true(leads, 'the broken core leads term 2 with a log lacking E, which nodes 1 and 2 committed');
});

test('vote requests go at once when the log they advertise is durable, and after the sync when it is not', (t) => {
  const requests = (messages: readonly Message[]) => messages.filter((message) => message.type === MessageType.RequestVote).map((message) => message.to);
  const quiet = { preVote: false, checkQuorum: false } as const;
  // Synchronous persistence, a durable log: the requests need not wait (a crash loses at
  // most the new term, and the grants were given to the log the node comes back with).
  const durable = makeNode(3, [1, 2, 3], { config: quiet, terms: [1], currentTerm: 1, commitIndex: 1 });
  durable.campaign();
  const ready = durable.ready();
  durable.advance();
  t.deepEqual(requests(ready.messages), [1, 2]);
  // An entry appended in the same turn is advertised too: the requests wait for its write.
  const fresh = makeNode(3, [1, 2, 3], { config: quiet, terms: [1], currentTerm: 1, commitIndex: 1 });
  fresh.step({ type: MessageType.AppendEntries, term: 1, from: 1, to: 3, prevLogIndex: 1, prevLogTerm: 1, entries: [{ index: 2, term: 1, data: text('E') }], leaderCommit: 1 });
  fresh.campaign();
  const held = fresh.ready();
  fresh.advance();
  t.deepEqual(held.entries.map((entry) => entry.index), [2]);
  t.deepEqual(requests(held.messages), []);
  t.deepEqual(requests(held.messagesAfterPersist), [1, 2]);
  // So does a snapshot taken in the same turn: its index is the log's last one.
  const restored = makeNode(3, [1, 2, 3], { config: quiet, terms: [1], currentTerm: 1, commitIndex: 1 });
  const membership = { voters: [1, 2, 3], learners: [] };
  restored.step({ type: MessageType.InstallSnapshot, term: 1, from: 1, to: 3, lastIncludedIndex: 5, lastIncludedTerm: 1, offset: 0, totalBytes: 1, data: text('s'), done: true, membership });
  restored.campaign();
  const afterSnapshot = restored.ready();
  restored.advance();
  t.is(afterSnapshot.snapshot?.index, 5);
  t.deepEqual(requests(afterSnapshot.messages), []);
  t.deepEqual(requests(afterSnapshot.messagesAfterPersist), [1, 2]);
  // Asynchronous persistence: a snapshot written but not yet durable holds them too, until persisted().
  const writing = makeNode(3, [1, 2, 3], { config: asyncQuiet, terms: [1], currentTerm: 1, commitIndex: 1 });
  writing.step({ type: MessageType.InstallSnapshot, term: 1, from: 1, to: 3, lastIncludedIndex: 5, lastIncludedTerm: 1, offset: 0, totalBytes: 1, data: text('s'), done: true, membership });
  const install = advanceWritten(writing);
  writing.campaign();
  t.deepEqual(requests(advanceWritten(writing).ready.messagesAfterPersist), [1, 2]);
  writing.persisted(install.token);
  writing.campaign(); // the next term, with the snapshot durable: the requests go at once
  t.deepEqual(requests(advanceWritten(writing).ready.messages), [1, 2]);
});
