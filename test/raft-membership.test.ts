// Membership change (thesis §4) and learners, on RawNodes driven by hand: each test
// checks a few sentences of the thesis, and is titled with its section.

import test from 'ava';
import { Harness } from './raft-harness.js';
import { MembershipChangeType, MessageType } from '../lib/raft/types.js';
import type { Membership, MembershipChange, NodeId } from '../lib/raft/types.js';

const quiet = { preVote: false, checkQuorum: false } as const;
const addVoter = (node: NodeId): MembershipChange => ({ type: MembershipChangeType.AddVoter, node });
const addLearner = (node: NodeId): MembershipChange => ({ type: MembershipChangeType.AddLearner, node });
const remove = (node: NodeId): MembershipChange => ({ type: MembershipChangeType.Remove, node });
const members = (voters: NodeId[], learners: NodeId[] = []): Membership => ({ voters, learners });

/** Nodes 1-3 bootstrap the cluster, node 4 (and 5) start outside it; node 1 leads with its no-op committed. */
function clusterWithSpare(size = 4): Harness {
  const harness = new Harness(size, { bootstrap: [1, 2, 3], config: quiet });
  harness.elect(1);
  return harness;
}

/** Proposes `change` on `leader` and runs the network until it settles; returns the entry's index. */
function change(harness: Harness, leader: NodeId, membershipChange: MembershipChange): number {
  const result = harness.node(leader).proposeMembership(membershipChange);
  if (!result.ok) throw new Error(`membership change refused: ${result.code}`);
  harness.stabilize();
  return result.index;
}

test('§4.2.1 a learner receives the log but does not count toward commitment', (t) => {
  const harness = clusterWithSpare();
  const index = change(harness, 1, addLearner(4));
  t.deepEqual(harness.status(4).membership, members([1, 2, 3], [4]), 'the learner holds the configuration entry that names it');
  t.true(harness.status(4).commitIndex >= index, 'and learns it committed');
  t.true(harness.status(1).progress.find((progress) => progress.id === 4)!.learner);
  // With both voting followers cut off, the learner's acknowledgement makes no majority.
  harness.cut([1], [2, 3]);
  const proposed = harness.propose(1, 'x');
  t.true(proposed.ok);
  harness.stabilize();
  t.is(harness.status(4).lastLogIndex, proposed.ok ? proposed.index : -1, 'the learner stores the entry');
  t.true(harness.status(1).commitIndex < (proposed.ok ? proposed.index : 0), 'leader plus learner is no majority of three voters');
});

test('§4.2.1 a learner never campaigns, however long it hears nothing', (t) => {
  const harness = clusterWithSpare();
  change(harness, 1, addLearner(4));
  harness.isolate(4);
  harness.tick(4, 200);
  t.is(harness.status(4).role, 'follower');
  t.false(harness.delivered.some((message) => message.type === MessageType.RequestVote && message.from === 4));
  t.true(harness.queue.every((message) => message.from !== 4 || message.type !== MessageType.RequestVote));
});

test('§4.1 a promoted learner counts: four voters need three', (t) => {
  const harness = clusterWithSpare();
  change(harness, 1, addLearner(4));
  change(harness, 1, addVoter(4));
  t.deepEqual(harness.status(1).membership, members([1, 2, 3, 4]));
  harness.cut([1], [3]);
  const withThree = harness.propose(1, 'a');
  harness.stabilize();
  t.true(withThree.ok && harness.status(1).commitIndex === withThree.index, 'leader, 2 and 4 are a majority of 1-4');
  harness.cut([1], [2]);
  const withTwo = harness.propose(1, 'b');
  harness.stabilize();
  t.true(withTwo.ok && harness.status(1).commitIndex < withTwo.index, 'leader and 4 are not');
});

test('§4.1 a server uses the newest configuration in its log at once, committed or not', (t) => {
  const harness = clusterWithSpare();
  harness.cut([1], [2, 3]);
  const result = harness.node(1).proposeMembership(addVoter(4));
  t.true(result.ok);
  harness.stabilize();
  // Not committed (2 and 3 are cut off), yet leader and node 4 already use it.
  t.true(harness.status(1).commitIndex < (result.ok ? result.index : 0));
  t.deepEqual(harness.status(1).membership, members([1, 2, 3, 4]));
  t.deepEqual(harness.status(4).membership, members([1, 2, 3, 4]));
});

test('§4.1 one change at a time: a second waits until the first commits; nonsense is refused', (t) => {
  const harness = clusterWithSpare(5);
  harness.cut([1], [2, 3]);
  t.true(harness.node(1).proposeMembership(addLearner(4)).ok);
  t.like(harness.node(1).proposeMembership(addLearner(5)), { ok: false, code: 'MEMBERSHIP_CHANGE_IN_PROGRESS' });
  harness.heal();
  harness.tickAll(3);
  harness.stabilize();
  t.true(harness.node(1).proposeMembership(addLearner(5)).ok, 'accepted once the first change committed');
  harness.stabilize();
  t.like(harness.node(1).proposeMembership(addLearner(5)), { ok: false, code: 'INVALID_MEMBERSHIP_CHANGE' }, 'already a learner');
  t.like(harness.node(1).proposeMembership(addVoter(2)), { ok: false, code: 'INVALID_MEMBERSHIP_CHANGE' }, 'already a voter');
  t.like(harness.node(1).proposeMembership(remove(9)), { ok: false, code: 'INVALID_MEMBERSHIP_CHANGE' }, 'not a member');
  t.like(harness.node(1).proposeMembership(remove(-1)), { ok: false, code: 'INVALID_MEMBERSHIP_CHANGE' }, 'not a node id');
  t.like(harness.node(2).proposeMembership(addVoter(4)), { ok: false, code: 'NOT_LEADER', leaderId: 1 });
});

test('the only voter cannot be removed or demoted', (t) => {
  const harness = new Harness(2, { bootstrap: [1], config: quiet });
  harness.elect(1);
  t.like(harness.node(1).proposeMembership(remove(1)), { ok: false, code: 'INVALID_MEMBERSHIP_CHANGE' });
  t.like(harness.node(1).proposeMembership(addLearner(1)), { ok: false, code: 'INVALID_MEMBERSHIP_CHANGE' });
  // One voter plus a learner: the learner grows into the second voter.
  change(harness, 1, addLearner(2));
  change(harness, 1, addVoter(2));
  t.deepEqual(harness.status(2).membership, members([1, 2]));
});

test('§4.1 a new leader changes membership only after committing an entry of its own term', (t) => {
  const harness = clusterWithSpare();
  // Node 2 wins term 2; its no-op is sent but not yet acknowledged.
  harness.node(2).campaign();
  harness.processReady(2);
  harness.deliverRound((message) => message.type === MessageType.RequestVote);
  harness.deliverRound((message) => message.type === MessageType.RequestVoteResponse);
  t.is(harness.status(2).role, 'leader');
  t.like(harness.node(2).proposeMembership(addVoter(4)), { ok: false, code: 'MEMBERSHIP_CHANGE_IN_PROGRESS' });
  harness.stabilize();
  t.true(harness.node(2).proposeMembership(addVoter(4)).ok, 'accepted once its no-op committed');
});

test('§4.1 the test-only switch membershipChangeBeforeFirstCommit makes a new leader accept a change before its first commit (what the simulator must catch)', (t) => {
  const harness = new Harness(4, { bootstrap: [1, 2, 3], config: { ...quiet, testOnlyBugs: { membershipChangeBeforeFirstCommit: true } } });
  harness.elect(1);
  harness.node(2).campaign();
  harness.processReady(2);
  harness.deliverRound((message) => message.type === MessageType.RequestVote);
  harness.deliverRound((message) => message.type === MessageType.RequestVoteResponse);
  t.is(harness.status(2).role, 'leader');
  t.like(harness.node(2).proposeMembership(addVoter(4)), { ok: true });
  // The one-at-a-time rule still holds: a second change waits for the first.
  t.like(harness.node(2).proposeMembership(remove(3)), { ok: false, code: 'MEMBERSHIP_CHANGE_IN_PROGRESS' });
});

test('§4.1 removing a follower: the leader stops replicating to it and counts without it', (t) => {
  const harness = clusterWithSpare();
  change(harness, 1, remove(3));
  t.deepEqual(harness.status(1).membership, members([1, 2]));
  t.false(harness.status(1).progress.some((progress) => progress.id === 3));
  const sentBefore = harness.delivered.length;
  const proposed = harness.propose(1, 'y');
  harness.stabilize();
  t.true(proposed.ok && harness.status(1).commitIndex === proposed.index);
  t.false(harness.delivered.slice(sentBefore).some((message) => message.to === 3), 'nothing more goes to the removed node');
  // A majority of {1, 2} is both of them.
  harness.cut([1], [2]);
  const alone = harness.propose(1, 'z');
  harness.stabilize();
  t.true(alone.ok && harness.status(1).commitIndex < alone.index);
});

test('§4.2.2 a leader that removes itself steps down once the change commits, and the rest elect a leader', (t) => {
  const harness = clusterWithSpare();
  const index = change(harness, 1, remove(1));
  t.true(harness.status(1).commitIndex >= index);
  t.is(harness.status(1).role, 'follower', 'stepped down');
  t.deepEqual(harness.status(2).membership, members([2, 3]));
  t.deepEqual(harness.leaderIds(), [2], 'it handed leadership to a caught-up voter (TimeoutNow) instead of leaving the cluster to time out');
  t.true(harness.delivered.some((message) => message.type === MessageType.TimeoutNow && message.from === 1 && message.to === 2));
  harness.tick(1, 100);
  t.is(harness.status(1).role, 'follower', 'a node outside the configuration never campaigns');
  const proposed = harness.propose(2, 'after');
  harness.stabilize();
  t.true(proposed.ok && harness.status(3).commitIndex === proposed.index, 'two voters commit without node 1');
});

test('§4.1 a follower falls back to the previous configuration when a new leader truncates the entry', (t) => {
  // Five voters and a spare (6). Leader 1's "add voter 6" reaches only node 2.
  const harness = new Harness(6, { bootstrap: [1, 2, 3, 4, 5], config: quiet });
  harness.elect(1);
  harness.cut([1], [3, 4, 5, 6]);
  t.true(harness.node(1).proposeMembership(addVoter(6)).ok);
  harness.stabilize();
  t.deepEqual(harness.status(2).membership, members([1, 2, 3, 4, 5, 6]), 'in use as soon as appended');
  // Node 3 leads term 2 with 4 and 5; its entry at that index replaces the configuration entry.
  harness.heal();
  harness.isolate(1);
  harness.cut([2], [3, 4, 5]);
  harness.elect(3);
  harness.heal();
  harness.isolate(1);
  const proposed = harness.propose(3, 'overwrite');
  harness.tick(3); // a heartbeat: node 2 missed the leader's first append
  harness.stabilize();
  t.true(proposed.ok && harness.status(2).commitIndex === proposed.index, 'node 2 took the new leader\'s log');
  t.deepEqual(harness.status(2).membership, members([1, 2, 3, 4, 5]), 'and dropped the configuration with its entry');
});

test('§4.1 a restarted node reads its configuration back from its log', (t) => {
  const harness = clusterWithSpare();
  change(harness, 1, addLearner(4));
  change(harness, 1, addVoter(4));
  harness.crash(2);
  harness.restart(2);
  t.deepEqual(harness.status(2).membership, members([1, 2, 3, 4]));
  harness.crash(4);
  harness.restart(4);
  t.deepEqual(harness.status(4).membership, members([1, 2, 3, 4]), 'the added node too, though its bootstrap list lacks it');
});

test('§4.1 Ready.membership reports each new configuration once', (t) => {
  const harness = new Harness(2, { bootstrap: [1], config: quiet });
  harness.elect(1);
  const node = harness.node(1);
  t.true(node.proposeMembership(addLearner(2)).ok);
  const ready = node.ready();
  t.deepEqual(ready.membership, members([1], [2]));
  node.advance();
  harness.stabilize();
  t.false(node.hasReady() && node.ready().membership !== null, 'not reported again');
});

test('§5.4.1 a snapshot carries the configuration; a node added after compaction installs it', (t) => {
  const harness = clusterWithSpare();
  change(harness, 1, remove(3));
  for (let i = 0; i < 5; i++) harness.propose(1, `v${i}`);
  harness.stabilize();
  const snapshot = harness.compact(1, harness.status(1).commitIndex);
  t.deepEqual(snapshot?.membership, members([1, 2]));
  change(harness, 1, addLearner(4));
  // Node 4 holds nothing: the leader's log starts after the snapshot, so it gets the snapshot.
  const installs = harness.delivered.filter((message) => message.type === MessageType.InstallSnapshot && message.to === 4);
  t.is(installs.length, 1);
  t.deepEqual(installs[0]!.type === MessageType.InstallSnapshot ? installs[0]!.membership : null, members([1, 2]));
  t.deepEqual(harness.status(4).membership, members([1, 2], [4]), "the snapshot's configuration, then the entry after it");
  // Restarted from its snapshot and log, the leader keeps the configuration.
  harness.crash(1);
  harness.restart(1);
  t.deepEqual(harness.status(1).membership, members([1, 2], [4]));
});

test('removed and learner nodes’ answers are ignored by the leader, not fatal', (t) => {
  const harness = clusterWithSpare();
  change(harness, 1, remove(3));
  // A late acknowledgement from the removed node.
  harness.node(1).step({ type: MessageType.AppendEntriesResponse, term: 1, from: 3, to: 1, success: true, index: 99, conflictTerm: 0, conflictIndex: 0 });
  harness.node(1).step({ type: MessageType.HeartbeatResponse, term: 1, from: 3, to: 1, context: 0 });
  harness.node(1).step({ type: MessageType.InstallSnapshotResponse, term: 1, from: 3, to: 1, index: 99, snapshotIndex: 0, received: 0 });
  harness.stabilize();
  t.is(harness.status(1).role, 'leader');
  t.true(harness.status(1).commitIndex <= harness.status(1).lastLogIndex);
});

test('a leadership transfer to a learner is ignored; one to a removed voter is dropped', (t) => {
  const harness = clusterWithSpare();
  change(harness, 1, addLearner(4));
  harness.node(1).transferLeadership(4);
  t.is(harness.status(1).leadTransferee, 0);
  harness.cut([1], [2, 3]);
  harness.node(1).transferLeadership(3);
  t.is(harness.status(1).leadTransferee, 3);
  harness.heal();
  harness.tickAll(1);
  harness.stabilize();
  t.deepEqual(harness.leaderIds().length, 1);
});

// Joint consensus (thesis §4.3; the Raft paper's §6 and Figure 11): any change of the
// voters in two steps, C_old,new then C_new, with every decision in between needing a
// majority of the old voters and a majority of the new ones.

const joint = (voters: NodeId[], learners: NodeId[], outgoing: NodeId[]): Membership => ({ voters, learners, outgoing });

/** Proposes a joint change to `target` on `leader` and runs the network until it settles; returns C_old,new's index. */
function changeJointly(harness: Harness, leader: NodeId, target: Membership): number {
  const result = harness.node(leader).proposeJointMembership(target);
  if (!result.ok) throw new Error(`joint change refused: ${result.code}`);
  harness.stabilize();
  return result.index;
}

test('§4.3 a joint change replaces two voters at once: C_old,new, then C_new appended by the leader once C_old,new commits', (t) => {
  const harness = clusterWithSpare(5);
  const result = harness.node(1).proposeJointMembership(members([1, 4, 5]));
  t.true(result.ok);
  t.deepEqual(harness.status(1).membership, joint([1, 4, 5], [], [1, 2, 3]), 'C_old,new in use as soon as appended');
  harness.stabilize();
  for (const id of [1, 4, 5]) t.deepEqual(harness.status(id).membership, members([1, 4, 5]), `node ${id} ends in C_new`);
  // The old voters were sent nothing after C_new was appended (thesis §4.2.3: a removed
  // server does not learn of its removal; PreVote and CheckQuorum keep it harmless).
  for (const id of [2, 3]) t.deepEqual(harness.status(id).membership, joint([1, 4, 5], [], [1, 2, 3]), `node ${id} holds C_old,new`);
  const index = result.ok ? result.index : 0;
  t.is(harness.status(1).lastLogIndex, index + 1, 'C_new right after C_old,new');
  t.is(harness.status(1).commitIndex, index + 1);
  // Nodes 2 and 3 are out: 1, 4 and 5 commit without them; 1 and 2 alone do not.
  harness.cut([1], [2, 3]);
  const proposed = harness.propose(1, 'after');
  harness.stabilize();
  t.true(proposed.ok && harness.status(4).commitIndex === proposed.index);
  t.false(harness.status(1).progress.some((progress) => progress.id === 2 || progress.id === 3), 'no more replication to the old voters');
});

test('§4.3 while joint, an entry commits only with a majority of the old voters and a majority of the new', (t) => {
  const harness = clusterWithSpare(5);
  // The new voters 4 and 5 cannot hear the leader: the old majority alone is not enough.
  harness.cut([1, 2, 3], [4, 5]);
  const result = harness.node(1).proposeJointMembership(members([1, 4, 5]));
  t.true(result.ok);
  harness.stabilize();
  const index = result.ok ? result.index : 0;
  t.is(harness.status(2).lastLogIndex, index, 'the old voters store C_old,new');
  t.true(harness.status(1).commitIndex < index, '1, 2 and 3 are no majority of {1, 4, 5}');
  t.deepEqual(harness.status(1).membership, joint([1, 4, 5], [], [1, 2, 3]), 'still joint');
  t.like(harness.node(1).proposeJointMembership(members([1, 2])), { ok: false, code: 'MEMBERSHIP_CHANGE_IN_PROGRESS' });
  t.like(harness.node(1).proposeMembership(addVoter(4)), { ok: false, code: 'MEMBERSHIP_CHANGE_IN_PROGRESS' });
  harness.heal();
  harness.tickAll(2);
  harness.stabilize();
  t.deepEqual(harness.status(5).membership, members([1, 4, 5]), 'with 4 and 5 back, both majorities hold it and the change completes');
});

test('§4.3 while joint, neither a commit nor an election goes by the new voters alone', (t) => {
  for (const ignoreOutgoingVoters of [false, true]) {
    const harness = new Harness(5, { bootstrap: [1, 2, 3], config: { ...quiet, testOnlyBugs: { ignoreOutgoingVoters } } });
    harness.elect(1);
    // C_old,new reaches the new voters 4 and 5 but not the old voters 2 and 3: not committed.
    harness.cut([1], [2, 3]);
    t.true(harness.node(1).proposeJointMembership(members([1, 4, 5])).ok);
    harness.stabilize();
    if (ignoreOutgoingVoters) {
      t.deepEqual(harness.status(4).membership, members([1, 4, 5]), 'the broken variant commits C_old,new without a majority of the old voters, and moves on');
      continue;
    }
    t.deepEqual(harness.status(4).membership, joint([1, 4, 5], [], [1, 2, 3]));
    // Leader 1 is gone, and 4 cannot reach the old voters: 4 and 5 are a majority of
    // {1, 4, 5} but none of {1, 2, 3}.
    harness.crash(1);
    harness.cut([4, 5], [2, 3]);
    harness.node(4).campaign();
    harness.stabilize();
    t.not(harness.status(4).role, 'leader', 'no majority of the old voters: not elected');
    t.is(harness.status(4).role, 'candidate');
  }
});

test('§4.3 while joint, a ReadIndex round needs a majority of the old voters as well as of the new', (t) => {
  const harness = new Harness(5, { bootstrap: [1, 2, 3], config: quiet });
  harness.elect(1);
  // C_old,new reaches the new voters 4 and 5 only: 1, 4 and 5 are a majority of C_new but
  // not of {1, 2, 3}, a majority of which may elect another leader that has not seen it.
  harness.cut([1], [2, 3]);
  t.true(harness.node(1).proposeJointMembership(members([1, 4, 5])).ok);
  harness.stabilize();
  t.deepEqual(harness.status(1).membership, joint([1, 4, 5], [], [1, 2, 3]));
  t.deepEqual(harness.node(1).readIndex(9), { ok: true });
  harness.tick(1, 3);
  harness.stabilize();
  t.deepEqual(harness.readStates.get(1), [], 'acknowledged by 4 and 5 only: not a quorum while joint');
  harness.heal();
  harness.tick(1, 3);
  harness.stabilize();
  t.is(harness.readStates.get(1)?.length, 1, 'answered once the old voters acknowledge too');
});

test('§4.2.2 with joint consensus, a leader outside C_new manages the change, then steps down and hands over', (t) => {
  const harness = clusterWithSpare(5);
  changeJointly(harness, 1, members([3, 4, 5]));
  t.is(harness.status(1).role, 'follower', 'stepped down once C_new committed');
  t.deepEqual(harness.status(3).membership, members([3, 4, 5]));
  const leaders = harness.leaderIds();
  t.is(leaders.length, 1);
  t.true([3, 4, 5].includes(leaders[0]!), 'TimeoutNow to a caught-up voter of C_new');
  const proposed = harness.propose(leaders[0]!, 'new cluster');
  harness.stabilize();
  t.true(proposed.ok && harness.status(5).commitIndex === proposed.index);
});

test('joint changes: one at a time, and nonsense refused; a change of learners alone needs no joint step', (t) => {
  const harness = clusterWithSpare(5);
  t.like(harness.node(2).proposeJointMembership(members([1, 2])), { ok: false, code: 'NOT_LEADER', leaderId: 1 });
  t.like(harness.node(1).proposeJointMembership(members([])), { ok: false, code: 'INVALID_MEMBERSHIP_CHANGE' }, 'no voter');
  t.like(harness.node(1).proposeJointMembership(members([1, 2, 3])), { ok: false, code: 'INVALID_MEMBERSHIP_CHANGE' }, 'the current configuration');
  t.like(harness.node(1).proposeJointMembership(members([1, 4], [4])), { ok: false, code: 'INVALID_MEMBERSHIP_CHANGE' }, 'a node both voter and learner');
  t.like(harness.node(1).proposeJointMembership(members([4, 1])), { ok: false, code: 'INVALID_MEMBERSHIP_CHANGE' }, 'voters not sorted');
  t.like(harness.node(1).proposeJointMembership(joint([1, 4], [], [1, 2, 3])), { ok: false, code: 'INVALID_MEMBERSHIP_CHANGE' }, 'a joint target');
  const result = harness.node(1).proposeJointMembership(members([1, 2, 3], [4, 5]));
  t.true(result.ok);
  t.deepEqual(harness.status(1).membership, members([1, 2, 3], [4, 5]), 'learners added at once, no outgoing voters');
  harness.stabilize();
  t.is(harness.status(1).lastLogIndex, result.ok ? result.index : -1, 'and no second entry');
});

test('§4.3 a joint change demotes voters to learners: they vote in the old majority until C_new, then are replicated to as learners', (t) => {
  const harness = clusterWithSpare(5);
  // 2 and 3 become learners, 4 and 5 voters. While joint, 2 and 3 are outgoing voters and learners.
  harness.cut([1], [4, 5]);
  const result = harness.node(1).proposeJointMembership(members([1, 4, 5], [2, 3]));
  t.true(result.ok);
  harness.stabilize();
  t.deepEqual(harness.status(1).membership, joint([1, 4, 5], [2, 3], [1, 2, 3]), 'C_old,new: 2 and 3 both outgoing voters and learners');
  t.false(harness.status(1).progress.find((progress) => progress.id === 2)!.learner, 'a voter until C_new: its acknowledgements count');
  t.true(harness.status(1).commitIndex < (result.ok ? result.index : 0), 'no majority of the new voters without 4 and 5');
  harness.heal();
  harness.tickAll(2);
  harness.stabilize();
  for (const id of [1, 2, 3, 4, 5]) t.deepEqual(harness.status(id).membership, members([1, 4, 5], [2, 3]), `node ${id} ends in C_new`);
  t.true(harness.status(1).progress.find((progress) => progress.id === 2)!.learner, 'a learner once C_new is in use');
  // 2 and 3 still receive the log but no longer count: leader 1 with them alone commits nothing.
  harness.cut([1, 2, 3], [4, 5]);
  const proposed = harness.propose(1, 'learners only');
  harness.stabilize();
  t.is(harness.status(2).lastLogIndex, proposed.ok ? proposed.index : -1, 'the demoted node stores the entry');
  t.true(harness.status(1).commitIndex < (proposed.ok ? proposed.index : 0), '1, 2 and 3 are no majority of {1, 4, 5}');
  // And a demoted node never campaigns.
  harness.isolate(2);
  for (let tick = 0; tick < 100; tick++) harness.tickAll(1);
  harness.stabilize();
  t.is(harness.status(2).role, 'follower');
});

test('§4.3 while joint, the voters being demoted still make the old majority: without them nothing commits', (t) => {
  const harness = clusterWithSpare(5);
  harness.cut([1, 4, 5], [2, 3]);
  const result = harness.node(1).proposeJointMembership(members([1, 4, 5], [2, 3]));
  t.true(result.ok);
  harness.stabilize();
  t.true(harness.status(1).commitIndex < (result.ok ? result.index : 0), '1, 4 and 5 are a majority of C_new but not of {1, 2, 3}');
  t.deepEqual(harness.status(4).membership, joint([1, 4, 5], [2, 3], [1, 2, 3]), 'still joint');
  harness.heal();
  for (let tick = 0; tick < 20 && harness.status(2).membership.voters.includes(2); tick++) {
    harness.tickAll(1);
    harness.stabilize();
  }
  t.deepEqual(harness.leaderIds(), [1]);
  t.deepEqual(harness.status(2).membership, members([1, 4, 5], [2, 3]), 'with 2 and 3 back the change completes');
});

test('§4.3 a leader a joint change demotes manages the change, steps down once C_new commits, and stays as a learner', (t) => {
  const harness = clusterWithSpare(5);
  changeJointly(harness, 1, members([2, 3, 4], [1]));
  t.is(harness.status(1).role, 'follower', 'stepped down once C_new committed');
  for (const id of [1, 2, 3, 4]) t.deepEqual(harness.status(id).membership, members([2, 3, 4], [1]), `node ${id} ends in C_new`);
  const leaders = harness.leaderIds();
  t.is(leaders.length, 1);
  t.true([2, 3, 4].includes(leaders[0]!), 'handed over to a voter of C_new');
  const proposed = harness.propose(leaders[0]!, 'after');
  harness.stabilize();
  t.true(proposed.ok, 'the new leader takes proposals');
  t.is(harness.status(1).lastLogIndex, proposed.ok ? proposed.index : -1, 'the old leader, now a learner, is replicated to');
  t.true(harness.status(leaders[0]!).progress.find((progress) => progress.id === 1)!.learner);
});

test('§4.3 a node restarted while joint reads C_old,new back, and a new leader completes the change', (t) => {
  const harness = clusterWithSpare(5);
  harness.cut([1, 2, 3], [4, 5]);
  t.true(harness.node(1).proposeJointMembership(members([2, 4, 5])).ok);
  harness.stabilize();
  harness.crash(2);
  harness.restart(2);
  t.deepEqual(harness.status(2).membership, joint([2, 4, 5], [], [1, 2, 3]), 'C_old,new read back from the log');
  // Leader 1 goes away before C_old,new commits; 2 takes over with everyone reachable.
  harness.crash(1);
  harness.heal();
  harness.node(2).campaign();
  harness.stabilize();
  t.is(harness.status(2).role, 'leader');
  t.deepEqual(harness.status(4).membership, members([2, 4, 5]), 'the new leader committed C_old,new and appended C_new');
  t.deepEqual(harness.status(5).membership, members([2, 4, 5]));
  t.is(harness.status(2).commitIndex, harness.status(2).lastLogIndex, 'both committed');
});

test('§4.2.2 a node its newest, uncommitted configuration leaves out still campaigns: the outgoing voters may need it', (t) => {
  // Voters 1 and 2 (both needed for a majority of the old configuration), spares 3 and 4;
  // C_new and an entry after it reach no one but leader 1.
  const fresh = new Harness(4, { bootstrap: [1, 2], config: quiet });
  fresh.elect(1);
  t.true(fresh.node(1).proposeJointMembership(members([2, 3, 4])).ok);
  // Deliver until C_old,new is committed on the leader (it appends C_new at that moment), then cut it off.
  for (let round = 0; round < 50 && fresh.status(1).membership.outgoing !== undefined; round++) fresh.deliverRound();
  t.deepEqual(fresh.status(1).membership, members([2, 3, 4]), 'the leader appended C_new');
  fresh.isolate(1);
  fresh.propose(1, 'only on 1');
  fresh.stabilize();
  fresh.crash(1);
  fresh.restart(1);
  for (const id of [2, 3, 4]) t.deepEqual(fresh.status(id).membership.outgoing, [1, 2], `node ${id} is still joint: it needs node 1's vote`);
  t.true(fresh.status(1).lastLogIndex > fresh.status(2).lastLogIndex, "and node 1's log is the longest, so 1 refuses the others its vote");
  fresh.heal();
  for (let tick = 0; tick < 300 && fresh.leaderIds().filter((id) => id !== 1).length === 0; tick++) {
    fresh.tickAll(1);
    fresh.stabilize();
  }
  const leaders = fresh.leaderIds();
  t.is(leaders.length, 1);
  t.true([2, 3, 4].includes(leaders[0]!), `a voter of C_new leads in the end (node 1 campaigned, committed C_new, stepped down and handed over): ${leaders.join(',')}`);
  for (const id of [2, 3, 4]) t.deepEqual(fresh.status(id).membership, members([2, 3, 4]));
  t.true(fresh.status(3).commitIndex >= fresh.status(1).lastLogIndex, "node 1's entries (and the no-op of its short term) committed");
});
