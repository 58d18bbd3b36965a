// Asynchronous persistence (thesis §10.2.1): the host writes a Ready's entries, calls
// advance({ durable: false }) and goes on while the fdatasync runs; persisted(index, term)
// later says what became durable. Until then the node's own entries count for nothing:
// not toward the leader's commit quorum, not applied locally.

import test from 'ava';
import { createConfig, RawNode } from '../lib/raft/raw-node.js';
import { createPrng } from '../lib/raft/prng.js';
import { MessageType } from '../lib/raft/types.js';
import type { AppendEntries, Entry, Message } from '../lib/raft/types.js';
import { allMessages, makeNode, text } from './raft-harness.js';

const quiet = { preVote: false, checkQuorum: false } as const;

function singleLeader(): RawNode {
  const node = new RawNode(createConfig({ id: 1, peers: [1], random: createPrng(1) }), null);
  node.campaign();
  const ready = node.ready(); // the leader's no-op
  node.advance();
  t0Apply(node, ready.entries);
  return node;
}

/** Makes the no-op of a fresh single-node leader durable and applies it. */
function t0Apply(node: RawNode, entries: readonly Entry[]): void {
  const last = entries[entries.length - 1]!;
  node.persisted(last.index, last.term);
  const ready = node.ready();
  node.advance();
  if (ready.committedEntries.length !== 1) throw new Error('no-op not committed');
}

test('a leader does not count entries toward commit until persisted(), and hands each out once', (t) => {
  const node = singleLeader();
  t.true(node.propose(text('a')).ok);
  let ready = node.ready();
  t.deepEqual(ready.entries.map((entry) => entry.index), [2]);
  node.advance({ durable: false });
  t.is(node.status().commitIndex, 1, 'not committed while its only copy is not durable');
  // More proposals while the first fdatasync runs: only the new entry is handed out.
  t.true(node.propose(text('b')).ok);
  ready = node.ready();
  t.deepEqual(ready.entries.map((entry) => entry.index), [3]);
  t.is(ready.committedEntries.length, 0);
  node.advance({ durable: false });
  t.false(node.hasReady());
  node.persisted(2, 1);
  t.is(node.status().commitIndex, 2);
  ready = node.ready();
  t.deepEqual(ready.committedEntries.map((entry) => entry.index), [2]);
  node.advance();
  node.persisted(3, 1);
  ready = node.ready();
  t.deepEqual(ready.committedEntries.map((entry) => entry.index), [3]);
  node.advance();
  t.false(node.hasReady());
});

test('a three-node leader commits on two followers while its own write is in flight, but applies only once durable', (t) => {
  const leader = makeNode(1, [1, 2, 3], { config: quiet });
  leader.campaign();
  let ready = leader.ready();
  leader.advance();
  for (const message of allMessages(ready)) {
    if (message.type === MessageType.RequestVote) leader.step({ type: MessageType.RequestVoteResponse, term: message.term, from: message.to, to: 1, voteGranted: true, preVote: false });
  }
  t.is(leader.status().role, 'leader');
  ready = leader.ready(); // the no-op and its AppendEntries
  const noop = ready.entries[0]!;
  leader.advance({ durable: false });
  for (const peer of [2, 3]) {
    leader.step({ type: MessageType.AppendEntriesResponse, term: noop.term, from: peer, to: 1, success: true, index: noop.index, conflictTerm: 0, conflictIndex: 0 });
  }
  t.is(leader.status().commitIndex, noop.index, 'two followers are a majority of three');
  ready = leader.ready();
  t.is(ready.committedEntries.length, 0, 'not applied here before it is durable here');
  leader.advance();
  leader.persisted(noop.index, noop.term);
  ready = leader.ready();
  t.deepEqual(ready.committedEntries.map((entry) => entry.index), [noop.index]);
  leader.advance();
});

test('persisted() for an entry replaced while it was being written is ignored', (t) => {
  const follower = makeNode(2, [1, 2, 3], { config: quiet });
  const append = (term: number, prevLogIndex: number, prevLogTerm: number, entries: Entry[]): Message[] => {
    const message: AppendEntries = { type: MessageType.AppendEntries, term, from: term === 1 ? 1 : 3, to: 2, prevLogIndex, prevLogTerm, entries, leaderCommit: 0 };
    follower.step(message);
    const ready = follower.ready();
    follower.advance({ durable: false });
    return [...ready.messagesAfterPersist];
  };
  const entry = (index: number, term: number): Entry => ({ index, term, data: text(`${index}@${term}`) });
  append(1, 0, 0, [entry(1, 1), entry(2, 1), entry(3, 1)]);
  // A new leader of term 2 replaces 2..3 while the first write's fdatasync is running.
  const acks = append(2, 1, 1, [entry(2, 2)]);
  t.true(acks.some((message) => message.type === MessageType.AppendEntriesResponse && message.success), 'acknowledged after its fdatasync');
  follower.persisted(3, 1); // the first fdatasync completes: entry 3 of term 1 is gone
  t.is(follower.status().lastLogIndex, 2);
  follower.persisted(2, 1); // and so is entry 2 of term 1
  follower.step({ type: MessageType.Heartbeat, term: 2, from: 3, to: 2, leaderCommit: 2, context: 0 });
  let ready = follower.ready();
  follower.advance({ durable: false });
  t.deepEqual(ready.committedEntries.map((e) => e.index), [], 'entry 1 was never marked durable either: nothing applies');
  follower.persisted(2, 2); // the second fdatasync covers everything written so far
  ready = follower.ready();
  follower.advance();
  t.deepEqual(ready.committedEntries.map((e) => `${e.index}@${e.term}`), ['1@1', '2@2']);
});

test('persisted() may not be called between ready() and advance()', (t) => {
  const node = singleLeader();
  node.propose(text('a'));
  node.ready();
  t.throws(() => node.persisted(2, 1), { message: /persisted\(\) called between ready\(\) and advance\(\)/ });
  node.advance({ durable: false });
  t.notThrows(() => node.persisted(2, 1));
  t.is(node.status().commitIndex, 2);
});
