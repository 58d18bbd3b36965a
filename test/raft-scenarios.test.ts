// Scripted scenarios for the classic failures: each drives a small cluster through the
// Harness (hand-delivered messages, explicit ticks, seeded PRNG) and checks the outcome.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { decode, Harness } from './raft-harness.js';
import { createPrng } from '../lib/raft/prng.js';
import { MessageType } from '../lib/raft/types.js';
import type { Message, NodeId } from '../lib/raft/types.js';

const noPreVote = { preVote: false, checkQuorum: false } as const;

/** Tick every live node once per round and settle the network, until `done` or `maxTicks`. Returns ticks used. */
function runUntil(harness: Harness, nodes: readonly NodeId[], done: () => boolean, maxTicks: number): number {
  for (let ticks = 0; ticks < maxTicks; ticks++) {
    if (done()) return ticks;
    for (const id of nodes) harness.tick(id);
    harness.stabilize();
  }
  if (done()) return maxTicks;
  throw new Error(`condition not reached within ${maxTicks} ticks (seed ${harness.seed})`);
}

/** Deliver and process until the queue is empty, rewriting each message on the way. */
function settleRewritten(harness: Harness, rewrite: (message: Message) => Message): void {
  harness.processAllReadies();
  for (let rounds = 0; harness.queue.length > 0; rounds++) {
    if (rounds > 1000) throw new Error('network did not settle');
    harness.queue = harness.queue.map(rewrite);
    harness.deliverRound();
  }
}

function appliedTexts(harness: Harness, id: NodeId): string[] {
  return harness.applied.get(id)!.map(decode);
}

/** State Machine Safety over the harness: every pair of nodes applied the same entry at each index. */
function assertStateMachineSafety(t: ExecutionContext, harness: Harness): void {
  const byIndex = new Map<number, string>();
  for (const id of harness.ids) {
    harness.applied.get(id)!.forEach((entry, position) => {
      t.is(entry.index, position + 1, `node ${id} applies in order`);
      const key = `${entry.term}:${decode(entry)}`;
      const seen = byIndex.get(entry.index);
      if (seen === undefined) byIndex.set(entry.index, key);
      else t.is(key, seen, `node ${id} applied a different entry at ${entry.index} (seed ${harness.seed})`);
    });
  }
}

const termsOf = (harness: Harness, id: NodeId) => harness.termsOf(id);

/**
 * Figure 8 set-up, at the moment of (c): S1 was leader in term 2 and replicated index 2 to
 * S2; S5 was leader in term 3 and wrote index 2 locally; S1 now campaigns in term 4.
 * The network strips the term-4 no-op from S1's AppendEntries, so index 2 reaches S3
 * but the no-op reaches nobody.
 */
function figure8(bugs: { readonly commitPreviousTermByCounting?: boolean } = {}): Harness {
  const harness = new Harness(5, {
    config: noPreVote,
    configFor: (id) => (id === 1 ? { testOnlyBugs: bugs } : {}),
  });
  harness.load(1, [1, 2], 3, 0, 1);
  harness.load(2, [1, 2], 3, 0, 1);
  harness.load(3, [1], 3, 0, 1);
  harness.load(4, [1], 3, 0, 1);
  harness.load(5, [1, 3], 3, 0, 1);
  harness.isolate(5); // S5 is down during (c)
  harness.node(1).campaign();
  // (c): index 2 (term 2) reaches a majority (S1, S2, S3), the term-4 no-op reaches nobody.
  settleRewritten(harness, (message) =>
    message.type === MessageType.AppendEntries ? { ...message, entries: message.entries.filter((entry) => entry.term < 4) } : message,
  );
  return harness;
}

test('Figure 8: an entry of an earlier term on a majority is not committed, and may be overwritten', (t) => {
  const harness = figure8();
  t.deepEqual(harness.leaderIds(), [1]);
  t.is(harness.status(1).currentTerm, 4);
  t.deepEqual(termsOf(harness, 3), [1, 2], 'index 2 is stored on S1, S2, S3');
  t.is(harness.status(1).commitIndex, 1, '§5.4.2: not committed by counting replicas');
  // (d): S1 crashes; S5 (last term 3) can win with votes from S2, S3, S4 and overwrites index 2.
  harness.heal();
  harness.isolate(1);
  harness.crash(1);
  harness.node(5).campaign(); // term 4: S2, S3, S4 already voted for S1 in term 4
  harness.stabilize();
  if (harness.status(5).role !== 'leader') {
    harness.node(5).campaign(); // term 5
    harness.stabilize();
  }
  t.deepEqual(harness.leaderIds(), [5]);
  for (const id of [2, 3, 4, 5]) t.deepEqual(termsOf(harness, id).slice(0, 2), [1, 3], `node ${id} holds S5's index 2`);
  assertStateMachineSafety(t, harness);
});

test('Figure 8 (e): once the leader replicates an entry of its own term, earlier entries commit and S5 cannot win', (t) => {
  const harness = figure8();
  // The network stops stripping: heartbeats reveal the missing no-op and S1 re-sends it.
  runUntil(harness, [1], () => harness.status(1).commitIndex === 3, 10);
  harness.heal();
  harness.crash(1);
  harness.node(5).campaign();
  harness.stabilize();
  harness.node(5).campaign();
  harness.stabilize();
  t.not(harness.status(5).role, 'leader', 'S2, S3 hold a more up-to-date log (§5.4.1)');
  for (const id of [2, 3]) t.deepEqual(termsOf(harness, id), [1, 2, 4]);
});

test('Figure 8 with the commitPreviousTermByCounting bug: a committed entry is lost', (t) => {
  const harness = figure8({ commitPreviousTermByCounting: true });
  t.is(harness.status(1).commitIndex, 2, 'the broken leader commits index 2 of term 2');
  const appliedBeforeCrash = harness.applied.get(1)!.map((entry) => entry.term);
  t.deepEqual(appliedBeforeCrash, [1, 2]);
  harness.heal();
  harness.crash(1);
  harness.node(5).campaign();
  harness.stabilize();
  harness.node(5).campaign();
  harness.stabilize();
  // Leader Completeness is violated: the new leader lacks an entry S1 committed and applied.
  t.deepEqual(harness.leaderIds(), [5]);
  t.deepEqual(termsOf(harness, 5).slice(0, 2), [1, 3]);
});

test('a partitioned leader: its uncommitted entries are overwritten when it rejoins', (t) => {
  const harness = new Harness(5, { seed: 21 });
  harness.elect(1);
  harness.propose(1, 'committed');
  harness.stabilize();
  harness.isolate(1);
  t.true(harness.propose(1, 'lost-1').ok);
  t.true(harness.propose(1, 'lost-2').ok);
  harness.stabilize();
  const majority = [2, 3, 4, 5];
  runUntil(harness, [1, ...majority], () => majority.some((id) => harness.status(id).role === 'leader') && harness.status(1).role !== 'leader', 100);
  const newLeader = majority.find((id) => harness.status(id).role === 'leader')!;
  t.true(harness.propose(newLeader, 'new').ok);
  harness.stabilize();
  t.not(harness.status(1).role, 'leader', 'CheckQuorum made the isolated leader step down');
  harness.heal();
  runUntil(harness, harness.ids, () => harness.logOf(1).join() === harness.logOf(newLeader).join() && harness.status(1).commitIndex === harness.status(newLeader).commitIndex, 20);
  t.false(harness.logOf(1).some((entry) => entry.includes('lost')), `seed ${harness.seed}: ${harness.logOf(1).join(' ')}`);
  t.deepEqual(appliedTexts(harness, 1), appliedTexts(harness, newLeader));
  t.true(appliedTexts(harness, 1).includes('new'));
  assertStateMachineSafety(t, harness);
});

test('a follower far behind on a log diverged over several terms catches up in a few round trips', (t) => {
  const common = Array.from({ length: 100 }, () => 1);
  const stale = [...common, ...[2, 3, 4, 5].flatMap((term) => Array.from({ length: 225 }, () => term))]; // 1000 entries
  const current = [...common, ...[6, 7, 8].flatMap((term) => Array.from({ length: 333 }, () => term))]; // 1099 entries
  const harness = new Harness(3, { seed: 4 });
  harness.load(1, current, 8, 0, 100);
  harness.load(2, current, 8, 0, 100);
  harness.load(3, stale, 8, 0, 100);
  harness.node(1).campaign();
  const rounds = harness.stabilize();
  const toFollower = harness.delivered.filter((message) => message.type === MessageType.AppendEntries && message.to === 3);
  const rejections = harness.delivered.filter((message) => message.type === MessageType.AppendEntriesResponse && message.from === 3 && !message.success);
  t.deepEqual(harness.termsOf(3), [...current, 9]);
  t.true(rejections.length <= 2, `conflict hints skip every divergent term: ${rejections.length} rejections`);
  t.true(toFollower.length <= 4, `${toFollower.length} AppendEntries to the lagging follower`);
  t.true(rounds <= 12, `${rounds} delivery rounds in total (election included)`);
});

test('a follower thousands of entries behind is caught up with batched, pipelined appends', (t) => {
  const harness = new Harness(3, { seed: 8, config: { maxEntriesPerAppend: 64, maxInflightAppends: 4 } });
  harness.elect(1);
  harness.crash(3);
  for (let count = 0; count < 5000; count++) harness.propose(1, `v${count}`);
  harness.stabilize();
  harness.restart(3);
  runUntil(harness, [1, 2, 3], () => harness.status(3).commitIndex === 5001, 50);
  const appendsTo3 = harness.delivered.filter((message) => message.type === MessageType.AppendEntries && message.to === 3 && message.entries.length > 0);
  t.true(appendsTo3.every((message) => message.type === MessageType.AppendEntries && message.entries.length <= 64));
  t.true(appendsTo3.length < 200, `${appendsTo3.length} appends carried entries to node 3`);
  assertStateMachineSafety(t, harness);
});

test('a 5-node cluster that loses 3 nodes commits nothing more', (t) => {
  const harness = new Harness(5, { seed: 9 });
  harness.elect(1);
  harness.propose(1, 'before');
  harness.stabilize();
  const committedBefore = harness.status(1).commitIndex;
  for (const id of [3, 4, 5]) harness.crash(id);
  harness.propose(1, 'after-1');
  harness.propose(1, 'after-2');
  for (let tick = 0; tick < 100; tick++) {
    harness.tick(1);
    harness.tick(2);
    harness.stabilize();
  }
  t.is(harness.status(1).commitIndex, committedBefore);
  t.is(harness.status(2).commitIndex, committedBefore);
  t.false(appliedTexts(harness, 1).includes('after-1'));
  t.deepEqual(harness.leaderIds(), [], 'the leader stepped down (CheckQuorum) and no one can win');
});

test('PreVote: a node rejoining after a partition does not disrupt the leader', (t) => {
  const harness = new Harness(3, { seed: 12 });
  harness.elect(1);
  const term = harness.status(1).currentTerm;
  harness.isolate(3);
  for (let tick = 0; tick < 200; tick++) {
    harness.tickAll();
    harness.stabilize();
  }
  t.is(harness.status(3).currentTerm, term, 'pre-votes never succeed, so the isolated node keeps its term');
  harness.heal();
  for (let tick = 0; tick < 50; tick++) {
    harness.tickAll();
    harness.stabilize();
  }
  t.deepEqual(harness.leaderIds(), [1]);
  t.is(harness.status(1).currentTerm, term);
  t.is(harness.status(3).leaderId, 1);
});

test('without PreVote, the same rejoining node disrupts the leader (what PreVote buys)', (t) => {
  const harness = new Harness(3, { seed: 12, config: noPreVote });
  harness.elect(1);
  const term = harness.status(1).currentTerm;
  harness.isolate(3);
  for (let tick = 0; tick < 200; tick++) {
    harness.tickAll();
    harness.stabilize();
  }
  t.true(harness.status(3).currentTerm > term);
  harness.heal();
  for (let tick = 0; tick < 50; tick++) {
    harness.tickAll();
    harness.stabilize();
  }
  t.true(harness.status(1).currentTerm > term + 1, 'the term moved on: the healthy leader was deposed');
});

test('CheckQuorum: a node that heard from the leader recently ignores a RequestVote with a higher term', (t) => {
  const harness = new Harness(3, { seed: 13, config: { preVote: false, checkQuorum: true } });
  harness.elect(1);
  harness.queue = [];
  harness.node(2).step({ type: MessageType.RequestVote, term: 9, from: 3, to: 2, preVote: false, lastLogIndex: 100, lastLogTerm: 9, transfer: false });
  t.is(harness.status(2).currentTerm, 1);
  t.is(harness.status(2).leaderId, 1);
  harness.processReady(2);
  t.is(harness.queue.length, 0, 'no answer at all');
});

test('CheckQuorum: a leader that has not heard from a majority for an election timeout steps down', (t) => {
  const harness = new Harness(3, { seed: 14 });
  harness.elect(1);
  harness.isolate(1);
  // Checked once per election timeout, over the activity of the whole previous one.
  for (let tick = 0; tick < 19; tick++) harness.tick(1);
  t.is(harness.status(1).role, 'leader');
  harness.tick(1);
  t.is(harness.status(1).role, 'follower');
});

test('ReadIndex: the leader confirms leadership with a quorum before answering', (t) => {
  const harness = new Harness(3, { seed: 15 });
  harness.elect(1);
  harness.propose(1, 'x');
  harness.stabilize();
  t.deepEqual(harness.node(1).readIndex(42), { ok: true });
  harness.processReady(1);
  t.deepEqual(harness.readStates.get(1), [], 'not before the heartbeat round');
  harness.stabilize();
  t.deepEqual(harness.readStates.get(1), [{ index: 2, context: 42 }]);
});

test('ReadIndex: a new leader waits for its first commit of the term', (t) => {
  const harness = new Harness(3, { seed: 16 });
  harness.node(1).campaign();
  harness.processAllReadies();
  while (harness.status(1).role !== 'leader') harness.deliverRound();
  t.is(harness.status(1).commitIndex, 0);
  t.deepEqual(harness.node(1).readIndex(5), { ok: true });
  harness.stabilize();
  t.deepEqual(harness.readStates.get(1), [{ index: 1, context: 5 }]);
});

test('ReadIndex: a leader in a minority gets no ReadState', (t) => {
  const harness = new Harness(5, { seed: 17 });
  harness.elect(1);
  harness.cut([1, 2], [3, 4, 5]);
  t.deepEqual(harness.node(1).readIndex(1), { ok: true });
  for (let tick = 0; tick < 15; tick++) {
    harness.tick(1);
    harness.stabilize();
  }
  t.deepEqual(harness.readStates.get(1), []);
});

test('ReadIndex: a lost heartbeat round is retried by the next heartbeat; a later ack also confirms earlier reads', (t) => {
  const harness = new Harness(3, { seed: 18 });
  harness.elect(1);
  harness.node(1).readIndex(1);
  harness.processReady(1);
  harness.queue = []; // the whole round is lost
  harness.node(1).readIndex(2);
  harness.stabilize();
  t.deepEqual(harness.readStates.get(1)!.map((read) => read.context), [1, 2]);
  harness.node(1).readIndex(3);
  harness.processReady(1);
  harness.queue = [];
  harness.tick(1);
  harness.stabilize();
  t.deepEqual(harness.readStates.get(1)!.map((read) => read.context), [1, 2, 3]);
});

test('ReadIndex on a follower is refused with the leader hint', (t) => {
  const harness = new Harness(3, { seed: 19 });
  harness.elect(1);
  t.deepEqual(harness.node(2).readIndex(1), { ok: false, code: 'NOT_LEADER', leaderId: 1, reason: null });
});

test('leadership transfer to an up-to-date follower', (t) => {
  const harness = new Harness(3, { seed: 20 });
  harness.elect(1);
  harness.propose(1, 'a');
  harness.stabilize();
  harness.node(1).transferLeadership(2);
  harness.stabilize();
  t.deepEqual(harness.leaderIds(), [2]);
  t.is(harness.status(2).currentTerm, 2);
  t.true(harness.propose(2, 'b').ok);
  harness.stabilize();
  t.deepEqual(appliedTexts(harness, 1), ['noop', 'a', 'noop', 'b']);
});

test('leadership transfer to a lagging follower: it is caught up first; proposals are refused meanwhile', (t) => {
  const harness = new Harness(3, { seed: 22 });
  harness.elect(1);
  harness.isolate(3);
  for (let count = 0; count < 10; count++) harness.propose(1, `v${count}`);
  harness.stabilize();
  harness.heal();
  harness.node(1).transferLeadership(3);
  t.deepEqual(harness.propose(1, 'refused'), { ok: false, code: 'LEADERSHIP_TRANSFER_IN_PROGRESS', leaderId: 1, reason: null });
  runUntil(harness, [1], () => harness.status(3).role === 'leader', 10);
  t.deepEqual(harness.leaderIds(), [3]);
  t.deepEqual(harness.logOf(3).slice(0, 11), harness.logOf(1).slice(0, 11));
});

test('leadership transfer is aborted after an election timeout if the target does not answer', (t) => {
  const harness = new Harness(3, { seed: 23 });
  harness.elect(1);
  harness.isolate(2);
  harness.node(1).transferLeadership(2);
  t.is(harness.status(1).leadTransferee, 2);
  for (let tick = 0; tick < 10; tick++) {
    harness.tick(1);
    harness.stabilize();
  }
  t.is(harness.status(1).leadTransferee, 0);
  t.is(harness.status(1).role, 'leader');
  t.true(harness.propose(1, 'accepted again').ok);
});

test('random elections: many seeds, at most one leader per term and logs agree', (t) => {
  for (let seed = 1; seed <= 30; seed++) {
    const harness = new Harness(5, { seed });
    const leadersByTerm = new Map<number, NodeId>();
    for (let tick = 0; tick < 150; tick++) {
      harness.tickAll();
      harness.stabilize();
      for (const id of harness.leaderIds()) {
        const term = harness.status(id).currentTerm;
        const previous = leadersByTerm.get(term);
        t.true(previous === undefined || previous === id, `seed ${seed}: two leaders in term ${term}`);
        leadersByTerm.set(term, id);
        if (tick % 7 === 0) harness.propose(id, `s${seed}t${tick}`);
      }
      if (tick === 60) harness.isolate(((seed % 5) + 1) as NodeId);
      if (tick === 100) harness.heal();
    }
    t.true(leadersByTerm.size >= 1, `seed ${seed}: a leader was elected`);
    assertStateMachineSafety(t, harness);
  }
});

test('fault fuzz: drops, duplicates, reordering and crashes never break safety, and the cluster converges after healing', (t) => {
  const seeds = 12;
  for (let seed = 1; seed <= seeds; seed++) {
    const random = createPrng(seed);
    const harness = new Harness(5, { seed });
    const leadersByTerm = new Map<number, NodeId>();
    const down = new Set<NodeId>();
    let proposals = 0;
    const faultyRound = () => {
      const shuffled = harness.queue.filter(() => random() > 0.15);
      for (const message of [...shuffled]) if (random() < 0.05) shuffled.push(message);
      for (let position = shuffled.length - 1; position > 0; position--) {
        const other = Math.floor(random() * (position + 1));
        [shuffled[position], shuffled[other]] = [shuffled[other]!, shuffled[position]!];
      }
      harness.queue = shuffled;
      harness.deliverRound();
    };
    for (let step = 0; step < 300; step++) {
      for (const id of harness.ids) if (!down.has(id)) harness.tick(id);
      faultyRound();
      for (const id of harness.leaderIds()) {
        const term = harness.status(id).currentTerm;
        const previous = leadersByTerm.get(term);
        t.true(previous === undefined || previous === id, `seed ${seed}: leaders ${previous} and ${id} in term ${term}`);
        leadersByTerm.set(term, id);
        if (random() < 0.5) {
          harness.propose(id, `s${seed}-${proposals}`);
          proposals++;
        }
      }
      if (random() < 0.02 && down.size < 2) {
        const victim = (1 + Math.floor(random() * 5)) as NodeId;
        if (!down.has(victim)) {
          harness.crash(victim);
          down.add(victim);
        }
      } else if (random() < 0.05 && down.size > 0) {
        const back = [...down][0]!;
        down.delete(back);
        harness.restart(back);
      }
    }
    for (const id of down) harness.restart(id);
    // Liveness: without faults, a leader emerges and every node applies the same log.
    const converged = () => {
      const leaders = harness.leaderIds();
      if (leaders.length !== 1) return false;
      const leaderCommit = harness.status(leaders[0]!).commitIndex;
      return harness.ids.every((id) => harness.applied.get(id)!.length === leaderCommit && harness.status(id).lastLogIndex === harness.status(leaders[0]!).lastLogIndex);
    };
    let ticks = 0;
    for (; ticks < 200 && !converged(); ticks++) {
      harness.tickAll();
      harness.stabilize();
    }
    t.true(converged(), `seed ${seed}: no convergence after ${ticks} ticks`);
    assertStateMachineSafety(t, harness);
  }
});

test('leadership transfer survives a lost TimeoutNow: it is repeated on the next heartbeat response', (t) => {
  const harness = new Harness(3, { seed: 24 });
  harness.elect(1);
  harness.node(1).transferLeadership(2);
  harness.processReady(1);
  t.true(harness.queue.some((message) => message.type === MessageType.TimeoutNow));
  harness.queue = harness.queue.filter((message) => message.type !== MessageType.TimeoutNow);
  harness.stabilize();
  t.deepEqual(harness.leaderIds(), [1]);
  harness.tick(1);
  harness.stabilize();
  t.deepEqual(harness.leaderIds(), [2]);
});

test('CheckQuorum is not put off by leadership transfers: an isolated leader asked to transfer again and again still steps down within two election timeouts', (t) => {
  const harness = new Harness(3, { seed: 25 });
  harness.elect(1);
  harness.isolate(1);
  let ticks = 0;
  while (harness.status(1).role === 'leader' && ticks < 60) {
    // Each request names another target, so each starts a new transfer (and its own timeout).
    if (ticks % 5 === 0) harness.node(1).transferLeadership(ticks % 10 === 0 ? 2 : 3);
    harness.tick(1);
    ticks++;
  }
  t.is(harness.status(1).role, 'follower', `still leader after ${ticks} ticks without hearing from anyone (seed ${harness.seed})`);
  t.true(ticks <= 20, `stepped down after ${ticks} ticks, not within two election timeouts`);
});
