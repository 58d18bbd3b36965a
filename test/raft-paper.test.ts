// Paper tests in the style of etcd raft's raft_paper_test.go: each test checks a few
// sentences of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable
// Consensus Algorithm", 2014) and is titled with its section. RawNodes are driven by
// hand: messages are built here or delivered through the in-test Harness; no timers.

import test from 'ava';
import { allMessages, decode, drain, Harness, makeNode } from './raft-harness.js';
import { MessageType } from '../lib/raft/types.js';
import type { AppendEntries, AppendEntriesResponse, Message, RequestVote, RequestVoteResponse } from '../lib/raft/types.js';

const noPreVote = { preVote: false, checkQuorum: false } as const;

function appendEntries(fields: Partial<AppendEntries> & Pick<AppendEntries, 'term' | 'from' | 'to'>): AppendEntries {
  return { type: MessageType.AppendEntries, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, ...fields };
}

function requestVote(fields: Partial<RequestVote> & Pick<RequestVote, 'term' | 'from' | 'to'>): RequestVote {
  return { type: MessageType.RequestVote, preVote: false, lastLogIndex: 0, lastLogTerm: 0, transfer: false, ...fields };
}

function voteResponse(fields: Partial<RequestVoteResponse> & Pick<RequestVoteResponse, 'term' | 'from' | 'to'>): RequestVoteResponse {
  return { type: MessageType.RequestVoteResponse, preVote: false, voteGranted: true, ...fields };
}

function ofType<T extends Message['type']>(messages: readonly Message[], type: T): Extract<Message, { type: T }>[] {
  return messages.filter((message): message is Extract<Message, { type: T }> => message.type === type);
}

/** Make node 1 of `peers` a leader at term `term` (campaign from term-1, granted by everyone). */
function makeLeader(peers: readonly number[], term = 1, terms: readonly number[] = []) {
  const node = makeNode(1, peers, { terms, currentTerm: term - 1, config: noPreVote });
  node.campaign();
  for (const peer of peers.slice(1)) node.step(voteResponse({ term, from: peer, to: 1 }));
  drain(node);
  return node;
}

test('§5.1 a node starts as a follower at term 0', (t) => {
  const status = makeNode(1, [1, 2, 3]).status();
  t.is(status.role, 'follower');
  t.is(status.currentTerm, 0);
  t.is(status.votedFor, 0);
});

test('§5.1 a follower that sees a higher term updates its term', (t) => {
  const node = makeNode(1, [1, 2, 3], { currentTerm: 1, config: noPreVote });
  node.step(appendEntries({ term: 5, from: 2, to: 1 }));
  t.is(node.status().currentTerm, 5);
  t.is(node.status().role, 'follower');
  t.is(node.status().leaderId, 2);
});

test('§5.1 a candidate that sees a higher term becomes a follower', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: noPreVote });
  node.campaign();
  t.is(node.status().role, 'candidate');
  drain(node);
  node.step(voteResponse({ term: 4, from: 2, to: 1, voteGranted: false }));
  t.is(node.status().role, 'follower');
  t.is(node.status().currentTerm, 4);
});

test('§5.1 a leader that sees a higher term in a response steps down', (t) => {
  const leader = makeLeader([1, 2, 3]);
  t.is(leader.status().role, 'leader');
  const response: AppendEntriesResponse = {
    type: MessageType.AppendEntriesResponse,
    term: 3,
    from: 2,
    to: 1,
    success: false,
    index: 0,
    conflictTerm: 0,
    conflictIndex: 0,
  };
  leader.step(response);
  t.is(leader.status().role, 'follower');
  t.is(leader.status().currentTerm, 3);
});

test('§5.1 a leader ignores a response from an older term: it may answer a log this leader no longer holds', (t) => {
  // Node 1 leads term 3 over [1@t1, 2@t1, 3@t3 (its no-op)]. An acknowledgement sent in term
  // 2 (held by the network since) proves nothing about this log: counted, it would make
  // node 2 store index 3 and commit it with the leader's own copy.
  const leader = makeLeader([1, 2, 3], 3, [1, 1]);
  t.is(leader.status().commitIndex, 0);
  const stale: AppendEntriesResponse = { type: MessageType.AppendEntriesResponse, term: 2, from: 2, to: 1, success: true, index: 3, conflictTerm: 0, conflictIndex: 0 };
  leader.step(stale);
  drain(leader);
  t.is(leader.status().role, 'leader');
  t.is(leader.status().commitIndex, 0, 'nothing commits on an older term\'s acknowledgement');
  t.is(leader.status().progress.find((peer) => peer.id === 2)?.matchIndex, 0);
});

test('§5.1 a node rejects requests with a stale term and replies with its own term', (t) => {
  const node = makeNode(1, [1, 2, 3], { currentTerm: 5, config: noPreVote });
  node.step(appendEntries({ term: 3, from: 2, to: 1 }));
  node.step(requestVote({ term: 4, from: 3, to: 1, lastLogIndex: 10, lastLogTerm: 4 }));
  const messages = allMessages(drain(node));
  const appendResponse = ofType(messages, MessageType.AppendEntriesResponse)[0];
  const voteAnswer = ofType(messages, MessageType.RequestVoteResponse)[0];
  t.is(appendResponse?.success, false);
  t.is(appendResponse?.term, 5);
  t.is(voteAnswer?.voteGranted, false);
  t.is(voteAnswer?.term, 5);
  t.is(node.status().currentTerm, 5);
  t.is(node.status().leaderId, 0, 'a stale leader is not recognised');
});

test('§5.2 a leader sends a heartbeat to every follower each heartbeat interval', (t) => {
  const leader = makeLeader([1, 2, 3], 1);
  leader.tick();
  const heartbeats = ofType(drain(leader).messages, MessageType.Heartbeat);
  t.deepEqual(heartbeats.map((message) => message.to).sort(), [2, 3]);
  t.true(heartbeats.every((message) => message.term === 1));
});

test('§5.2 a follower that receives no communication becomes a candidate, votes for itself and requests votes', (t) => {
  const node = makeNode(1, [1, 2, 3], { terms: [1, 1], currentTerm: 1, config: noPreVote });
  for (let tick = 0; tick < 2 * 10; tick++) node.tick();
  const status = node.status();
  t.is(status.role, 'candidate');
  t.is(status.currentTerm, 2);
  t.is(status.votedFor, 1);
  const ready = drain(node);
  t.deepEqual(ready.hardState, { currentTerm: 2, votedFor: 1, commitIndex: 0 }, 'term and vote are persisted');
  const requests = ofType(ready.messages, MessageType.RequestVote);
  t.deepEqual(requests.map((request) => request.to).sort(), [2, 3]);
  t.true(requests.every((request) => request.term === 2 && request.lastLogIndex === 2 && request.lastLogTerm === 1 && !request.preVote));
});

test('§5.2 a follower stays a follower while it hears from the leader', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: noPreVote });
  for (let tick = 0; tick < 100; tick++) {
    node.tick();
    node.step({ type: MessageType.Heartbeat, term: 1, from: 2, to: 1, leaderCommit: 0, context: 0 });
    drain(node);
  }
  t.is(node.status().role, 'follower');
  t.is(node.status().leaderId, 2);
});

test('§5.2 election timeouts are randomized in [electionTicks, 2*electionTicks)', (t) => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 200; seed++) {
    const node = makeNode(1, [1, 2, 3], { seed, config: noPreVote });
    const timeout = node.status().electionTimeoutTicks;
    t.true(timeout >= 10 && timeout < 20, `seed ${seed}: timeout ${timeout}`);
    seen.add(timeout);
    let ticks = 0;
    while (node.status().role === 'follower') {
      node.tick();
      ticks++;
    }
    t.is(ticks, timeout, `seed ${seed}: campaigned after exactly the drawn timeout`);
  }
  t.true(seen.size >= 8, `timeouts spread over the range: ${[...seen].join(',')}`);
});

test('§5.2 a candidate wins the election with votes from a majority', (t) => {
  const cases: { readonly size: number; readonly grants: readonly number[]; readonly wins: boolean }[] = [
    { size: 3, grants: [2], wins: true },
    { size: 3, grants: [], wins: false },
    { size: 5, grants: [2, 3], wins: true },
    { size: 5, grants: [2], wins: false },
    { size: 5, grants: [2, 3, 4, 5], wins: true },
  ];
  for (const testCase of cases) {
    const peers = Array.from({ length: testCase.size }, (_, position) => position + 1);
    const node = makeNode(1, peers, { config: noPreVote });
    node.campaign();
    drain(node);
    for (const peer of testCase.grants) node.step(voteResponse({ term: 1, from: peer, to: 1 }));
    t.is(node.status().role, testCase.wins ? 'leader' : 'candidate', JSON.stringify(testCase));
  }
});

test('§5.2 a candidate that a majority rejects returns to follower', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: noPreVote });
  node.campaign();
  drain(node);
  node.step(voteResponse({ term: 1, from: 2, to: 1, voteGranted: false }));
  node.step(voteResponse({ term: 1, from: 3, to: 1, voteGranted: false }));
  t.is(node.status().role, 'follower');
  t.is(node.status().currentTerm, 1);
});

test('§5.2 each server votes for at most one candidate per term, first come first served', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: noPreVote });
  node.step(requestVote({ term: 1, from: 2, to: 1 }));
  node.step(requestVote({ term: 1, from: 3, to: 1 }));
  node.step(requestVote({ term: 1, from: 2, to: 1 }));
  const answers = ofType(allMessages(drain(node)), MessageType.RequestVoteResponse);
  t.deepEqual(
    answers.map((answer) => [answer.to, answer.voteGranted]),
    [
      [2, true],
      [3, false],
      [2, true],
    ],
    'a repeated request from the same candidate is granted again',
  );
  t.is(node.status().votedFor, 2);
});

test('§5.2 a vote is granted only after it is durable (messagesAfterPersist)', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: noPreVote });
  node.step(requestVote({ term: 1, from: 2, to: 1 }));
  const ready = drain(node);
  t.is(ready.messages.length, 0);
  t.is(ready.messagesAfterPersist.length, 1);
  t.deepEqual(ready.hardState, { currentTerm: 1, votedFor: 2, commitIndex: 0 });
});

test('§5.2 a candidate that receives AppendEntries from a leader of its term becomes a follower', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: noPreVote });
  node.campaign();
  drain(node);
  node.step(appendEntries({ term: 1, from: 2, to: 1 }));
  t.is(node.status().role, 'follower');
  t.is(node.status().leaderId, 2);
  t.is(node.status().currentTerm, 1);
});

test('§5.2 a candidate that neither wins nor loses times out and starts a new election with a new term', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: noPreVote });
  node.campaign();
  drain(node);
  for (let tick = 0; tick < 20; tick++) node.tick();
  t.is(node.status().role, 'candidate');
  t.is(node.status().currentTerm, 2);
});

test('§5.2 a follower grants a vote and restarts its election timer', (t) => {
  const node = makeNode(1, [1, 2, 3], { config: noPreVote });
  for (let tick = 0; tick < 9; tick++) node.tick();
  node.step(requestVote({ term: 1, from: 2, to: 1 }));
  t.is(node.status().electionElapsedTicks, 0);
});

test('§5.3 a leader appends a proposal to its log and sends AppendEntries with prevLogIndex and prevLogTerm', (t) => {
  const leader = makeLeader([1, 2, 3], 1);
  // Let both followers acknowledge the no-op so they move to replicate state.
  for (const peer of [2, 3]) {
    leader.step({ type: MessageType.AppendEntriesResponse, term: 1, from: peer, to: 1, success: true, index: 1, conflictTerm: 0, conflictIndex: 0 });
  }
  drain(leader);
  const result = leader.propose(new TextEncoder().encode('x'));
  t.deepEqual(result, { ok: true, index: 2, term: 1 });
  const ready = drain(leader);
  t.deepEqual(ready.entries.map((entry) => entry.index), [2]);
  const appends = ofType(ready.messages, MessageType.AppendEntries);
  t.deepEqual(appends.map((message) => message.to).sort(), [2, 3]);
  for (const message of appends) {
    t.is(message.prevLogIndex, 1);
    t.is(message.prevLogTerm, 1);
    t.deepEqual(message.entries.map((entry) => entry.index), [2]);
  }
});

test('§5.3 a leader commits an entry once a majority stores it, and applies it', (t) => {
  const leader = makeLeader([1, 2, 3, 4, 5], 1);
  const ack = (from: number, index: number) =>
    leader.step({ type: MessageType.AppendEntriesResponse, term: 1, from, to: 1, success: true, index, conflictTerm: 0, conflictIndex: 0 });
  ack(2, 1);
  t.is(leader.status().commitIndex, 0, 'leader + 1 follower is not a majority of 5');
  ack(3, 1);
  t.is(leader.status().commitIndex, 1);
  const ready = drain(leader);
  t.deepEqual(ready.committedEntries.map((entry) => entry.index), [1]);
});

test('§5.3 a leader commits entries of earlier terms indirectly, with the first entry of its term', (t) => {
  const harness = new Harness(3, { config: noPreVote });
  harness.load(1, [1, 1, 2], 2);
  harness.load(2, [1, 1], 2);
  harness.load(3, [1], 2);
  harness.elect(1);
  t.deepEqual(harness.leaderIds(), [1]);
  for (const id of harness.ids) {
    t.deepEqual(harness.termsOf(id), [1, 1, 2, 3], `node ${id}`);
    t.is(harness.status(id).commitIndex, 4, `node ${id}`);
    t.is(harness.applied.get(id)!.length, 4, `node ${id} applied everything`);
  }
});

test('§5.3 a follower rejects AppendEntries whose prevLogIndex/prevLogTerm does not match', (t) => {
  const cases: { readonly prevLogIndex: number; readonly prevLogTerm: number; readonly success: boolean }[] = [
    { prevLogIndex: 2, prevLogTerm: 3, success: false }, // term mismatch
    { prevLogIndex: 3, prevLogTerm: 3, success: false }, // index beyond the log
    { prevLogIndex: 2, prevLogTerm: 2, success: true },
    { prevLogIndex: 0, prevLogTerm: 0, success: true },
  ];
  for (const testCase of cases) {
    const node = makeNode(1, [1, 2, 3], { terms: [1, 2], currentTerm: 2, config: noPreVote });
    node.step(appendEntries({ term: 2, from: 2, to: 1, prevLogIndex: testCase.prevLogIndex, prevLogTerm: testCase.prevLogTerm }));
    const response = ofType(allMessages(drain(node)), MessageType.AppendEntriesResponse)[0];
    t.is(response?.success, testCase.success, JSON.stringify(testCase));
  }
});

test('§5.3 a follower deletes a conflicting entry and all that follow it, then appends the new ones', (t) => {
  const node = makeNode(1, [1, 2, 3], { terms: [1, 2, 2, 2], currentTerm: 3, config: noPreVote });
  node.step(
    appendEntries({
      term: 3,
      from: 2,
      to: 1,
      prevLogIndex: 1,
      prevLogTerm: 1,
      entries: [
        { index: 2, term: 2, data: null },
        { index: 3, term: 3, data: null },
      ],
    }),
  );
  const ready = drain(node);
  t.deepEqual(
    ready.entries.map((entry) => [entry.index, entry.term]),
    [[3, 3]],
    'only the replaced suffix is handed out; entries[0].index tells the host where to truncate',
  );
  t.is(node.status().lastLogIndex, 3);
  const response = ofType(ready.messagesAfterPersist, MessageType.AppendEntriesResponse)[0];
  t.is(response?.success, true);
  t.is(response?.index, 3);
  t.is(ready.messages.length, 0, 'the acknowledgement waits for persistence');
});

test('§5.3 a stale or duplicated AppendEntries never truncates a longer matching log', (t) => {
  const node = makeNode(1, [1, 2, 3], { terms: [1, 1, 1, 1], currentTerm: 1, config: noPreVote });
  node.step(appendEntries({ term: 1, from: 2, to: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [{ index: 2, term: 1, data: null }] }));
  t.is(node.status().lastLogIndex, 4);
  const response = ofType(allMessages(drain(node)), MessageType.AppendEntriesResponse)[0];
  t.is(response?.index, 2, 'acknowledges only what this request proved');
});

test('Figure 2 a follower sets commitIndex = min(leaderCommit, index of last new entry)', (t) => {
  const node = makeNode(1, [1, 2, 3], { terms: [1, 1, 1, 1, 1], currentTerm: 1, config: noPreVote });
  // The follower holds 5 entries but this request only proves 1..2 match the leader.
  node.step(appendEntries({ term: 1, from: 2, to: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [{ index: 2, term: 1, data: null }], leaderCommit: 5 }));
  t.is(node.status().commitIndex, 2);
  node.step(appendEntries({ term: 1, from: 2, to: 1, prevLogIndex: 4, prevLogTerm: 1, entries: [], leaderCommit: 3 }));
  t.is(node.status().commitIndex, 3);
});

test('§5.3 followers learn the commit index from the leader and apply committed entries in order', (t) => {
  const harness = new Harness(3, { seed: 7 });
  harness.elect(1);
  for (const value of ['a', 'b', 'c']) t.true(harness.propose(1, value).ok);
  harness.stabilize();
  for (const id of harness.ids) {
    t.deepEqual(harness.applied.get(id)!.map(decode), ['noop', 'a', 'b', 'c'], `node ${id}`);
  }
});

// Figure 7: the leader at the top (term 8) must bring each follower's log to its own.
const figure7Leader = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
const figure7Followers: Record<string, readonly number[]> = {
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 1, 4],
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 1, 4, 4, 4, 4],
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
};

for (const [name, followerTerms] of Object.entries(figure7Followers)) {
  test(`§5.3 Figure 7 (${name}): the leader finds the match point and brings the follower's log in line with its own`, (t) => {
    const harness = new Harness(3, { seed: 11 });
    harness.load(1, figure7Leader, 7);
    harness.load(2, followerTerms, 7);
    harness.load(3, figure7Leader, 7);
    harness.elect(1);
    t.deepEqual(harness.leaderIds(), [1]);
    const expected = [...figure7Leader, 8];
    t.deepEqual(harness.termsOf(2), expected);
    t.deepEqual(harness.logOf(2), harness.logOf(1));
  });
}

test('§5.4.1 a voter denies its vote to a candidate whose log is less up to date', (t) => {
  // The voter's log ends with term 2 at index 3.
  const cases: { readonly lastLogTerm: number; readonly lastLogIndex: number; readonly granted: boolean }[] = [
    { lastLogTerm: 1, lastLogIndex: 10, granted: false },
    { lastLogTerm: 2, lastLogIndex: 2, granted: false },
    { lastLogTerm: 2, lastLogIndex: 3, granted: true },
    { lastLogTerm: 2, lastLogIndex: 4, granted: true },
    { lastLogTerm: 3, lastLogIndex: 1, granted: true },
  ];
  for (const testCase of cases) {
    const node = makeNode(1, [1, 2, 3], { terms: [1, 1, 2], currentTerm: 2, config: noPreVote });
    node.step(requestVote({ term: 3, from: 2, to: 1, lastLogTerm: testCase.lastLogTerm, lastLogIndex: testCase.lastLogIndex }));
    const answer = ofType(allMessages(drain(node)), MessageType.RequestVoteResponse)[0];
    t.is(answer?.voteGranted, testCase.granted, JSON.stringify(testCase));
  }
});

test('§5.4.2 a leader never commits an entry from a previous term by counting replicas', (t) => {
  // Leader at term 4 with an entry of term 2 at index 2 that a majority stores.
  const leader = makeLeader([1, 2, 3], 4, [1, 2]);
  const ack = (index: number) =>
    leader.step({ type: MessageType.AppendEntriesResponse, term: 4, from: 2, to: 1, success: true, index, conflictTerm: 0, conflictIndex: 0 });
  ack(2);
  t.is(leader.status().commitIndex, 0, 'index 2 (term 2) is on a majority but not committed');
  ack(3);
  t.is(leader.status().commitIndex, 3, 'once the term-4 no-op is on a majority, everything before it commits');
});

test('Figure 2 a new leader appends a no-op entry of its term', (t) => {
  const leader = makeLeader([1, 2, 3], 3, [1, 2]);
  const status = leader.status();
  t.is(status.lastLogIndex, 3);
  t.is(status.lastLogTerm, 3);
});

test('Figure 2 currentTerm and votedFor survive a restart: no second vote in the same term', (t) => {
  const harness = new Harness(3, { config: noPreVote });
  harness.node(1).step(requestVote({ term: 1, from: 2, to: 1 }));
  harness.processReady(1);
  harness.crash(1);
  harness.restart(1);
  harness.queue = [];
  harness.node(1).step(requestVote({ term: 1, from: 3, to: 1 }));
  harness.processReady(1);
  const answer = ofType(harness.queue, MessageType.RequestVoteResponse)[0];
  t.is(answer?.voteGranted, false);
  t.is(harness.status(1).votedFor, 2);
});

test('Figure 2 a leader sends AppendEntries to a follower whose log is behind (nextIndex)', (t) => {
  const harness = new Harness(3, { seed: 5 });
  harness.elect(1);
  harness.crash(3);
  for (let count = 0; count < 5; count++) harness.propose(1, `v${count}`);
  harness.stabilize();
  harness.restart(3);
  // The appends sent while 3 was down were lost; heartbeat responses reveal that it is
  // alive but not progressing, and the leader probes it again from matchIndex.
  let heartbeats = 0;
  while (harness.logOf(3).length < harness.logOf(1).length && heartbeats < 10) {
    harness.tick(1);
    harness.stabilize();
    heartbeats++;
  }
  t.true(heartbeats <= 4, `caught up after ${heartbeats} heartbeats`);
  t.deepEqual(harness.logOf(3), harness.logOf(1));
  t.is(harness.applied.get(3)!.length, 6);
});

test('§5.4.1 a candidate whose log lacks committed entries cannot become leader', (t) => {
  const harness = new Harness(3, { seed: 31, config: noPreVote });
  harness.elect(1);
  harness.isolate(3);
  harness.propose(1, 'committed');
  harness.stabilize();
  t.is(harness.status(1).commitIndex, 2);
  harness.heal();
  harness.crash(1);
  harness.node(3).campaign();
  harness.stabilize();
  t.not(harness.status(3).role, 'leader', 'node 2 denies its vote: its log is more up to date');
  harness.node(2).campaign();
  harness.stabilize();
  t.is(harness.status(2).role, 'leader');
  t.true(harness.logOf(3).includes('1:committed'), 'the committed entry survives on the new leader and reaches node 3');
});

test('§5.5 RPCs are idempotent: a duplicated AppendEntries changes nothing and gets the same answer', (t) => {
  const node = makeNode(1, [1, 2, 3], { terms: [1], currentTerm: 1, config: noPreVote });
  const request = appendEntries({ term: 1, from: 2, to: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [{ index: 2, term: 1, data: null }], leaderCommit: 1 });
  node.step(request);
  const first = drain(node);
  node.step(request);
  const second = drain(node);
  t.is(node.status().lastLogIndex, 2);
  t.is(second.entries.length, 0, 'nothing new to persist');
  t.deepEqual(second.messagesAfterPersist, first.messagesAfterPersist);
});

test('thesis §9.6 a precandidate asks with term + 1 without changing its own term, then campaigns for real', (t) => {
  const node = makeNode(1, [1, 2, 3], { currentTerm: 4 });
  node.campaign();
  const status = node.status();
  t.is(status.role, 'precandidate');
  t.is(status.currentTerm, 4);
  const ready = drain(node);
  t.is(ready.hardState, null, 'no durable state changes for a pre-vote');
  const requests = ofType(ready.messages, MessageType.RequestVote);
  t.true(requests.every((request) => request.preVote && request.term === 5));
  node.step(voteResponse({ term: 5, from: 2, to: 1, preVote: true, voteGranted: true }));
  t.is(node.status().role, 'candidate');
  t.is(node.status().currentTerm, 5);
  t.true(ofType(drain(node).messages, MessageType.RequestVote).every((request) => !request.preVote && request.term === 5));
});

test('thesis §9.6 a node that heard from a leader within the election timeout does not grant a pre-vote', (t) => {
  const node = makeNode(1, [1, 2, 3], { currentTerm: 1 });
  node.step({ type: MessageType.Heartbeat, term: 1, from: 2, to: 1, leaderCommit: 0, context: 0 });
  drain(node);
  node.step(requestVote({ term: 2, from: 3, to: 1, preVote: true }));
  t.deepEqual(allMessages(drain(node)), [], 'ignored while the leader is fresh');
  for (let tick = 0; tick < 10; tick++) node.tick();
  node.step(requestVote({ term: 2, from: 3, to: 1, preVote: true }));
  const answer = ofType(allMessages(drain(node)), MessageType.RequestVoteResponse)[0];
  t.is(answer?.voteGranted, true, 'granted once the leader has been silent for an election timeout');
  t.is(answer?.term, 2);
  t.is(node.status().currentTerm, 1, 'a pre-vote changes no term');
  t.is(node.status().votedFor, 0, 'and no vote');
});
