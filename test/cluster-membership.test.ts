// Membership changes on the real cluster (thesis §4): nodes added as learners, caught up
// and promoted; learners that receive the log but do not count; followers and leaders
// removed; an added node crashed and restarted on its own files; refusals with codes.
// Real workers, real files. Waits are bounded and on status or events, never bare sleeps.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../lib/cluster/cluster.js';
import { ErrorCode, RaftlabError } from '../lib/cluster/errors.js';
import { EventKind } from '../lib/cluster/types.js';
import type { ClusterEvent, NodeStatus } from '../lib/cluster/types.js';
import type { NodeId } from '../lib/raft/types.js';
import { eventually, startCluster } from './helpers/cluster.js';

const WAIT_MS = 10_000;
/** Each membership operation's own deadline: well inside ava's timeout, so a hang fails with a code. */
const OPERATION_TIMEOUT_MS = 10_000;

function node(cluster: Cluster, id: NodeId): NodeStatus {
  const found = cluster.status().nodes.find((candidate) => candidate.id === id);
  if (found === undefined) throw new Error(`no node ${id} in the status`);
  return found;
}

/** Resolves once every running node has applied at least the leader's current commit index. */
async function allApplied(cluster: Cluster, what: string): Promise<void> {
  const leader = await cluster.waitForLeader(WAIT_MS);
  const commit = node(cluster, leader).commitIndex;
  await cluster.waitFor((status) => status.nodes.every((n) => !n.alive || n.appliedIndex >= commit), WAIT_MS, what);
}

function eventTexts(events: readonly ClusterEvent[], kind: ClusterEvent['kind']): string[] {
  return events.filter((event) => event.kind === kind).map((event) => event.text);
}

function logEvents(t: ExecutionContext, events: readonly ClusterEvent[]): void {
  t.teardown(() => {
    if (!t.passed) for (const event of events) t.log(`${event.time} n${event.node} ${event.kind}: ${event.text}`);
  });
}

test.serial('an added node catches up as a learner, becomes a voter, and counts toward commit', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3 });
  logEvents(t, events);
  const leader = await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client();
  for (let i = 0; i < 20; i++) await kv.put(`before-${i}`, i);

  const added = await cluster.addNode({ timeoutMs: OPERATION_TIMEOUT_MS });
  t.is(added, 4, 'the next free id');
  t.deepEqual(cluster.nodeIds, [1, 2, 3, 4]);
  t.deepEqual(cluster.status().membership, { voters: [1, 2, 3, 4], learners: [] });
  // It joined as a learner first (thesis §4.2.1), then was promoted.
  const changes = eventTexts(events, EventKind.MembershipChanged);
  t.true(changes.some((text) => /make n4 a learner; now voters n1,n2,n3; learners n4/.test(text)), changes.join('\n'));
  t.true(changes.some((text) => /make n4 a voter; now voters n1,n2,n3,n4; learners none/.test(text)), changes.join('\n'));
  t.true(eventTexts(events, EventKind.NodeAdded).some((text) => text.startsWith('node 4 started')));

  // Its own view and its status: a voter holding everything written before it joined.
  await allApplied(cluster, 'node 4 to apply the log');
  const status4 = await eventually(() => {
    const status = node(cluster, 4);
    return status.alive && !status.learner && status.membership.voters.includes(4) ? status : null;
  }, WAIT_MS, 'node 4 to report itself a voter');
  t.true(status4.appliedIndex >= 20);

  // With four voters a commit needs three: with one original follower down, the leader
  // and the other original follower alone cannot commit, so this put needs node 4.
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  await cluster.crash(follower);
  await kv.put('after', 'four voters');
  t.is(await kv.get('after'), 'four voters');
  t.is(await kv.get('before-7'), 7);
  const currentLeader = await cluster.waitForLeader(WAIT_MS);
  const commit = node(cluster, currentLeader).commitIndex;
  await cluster.waitFor((status) => (status.nodes.find((n) => n.id === 4)?.appliedIndex ?? 0) >= commit, WAIT_MS, 'node 4 to apply the put');
});

test.serial('a learner receives the log but does not count; promote makes it a voter', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3 });
  logEvents(t, events);
  await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client();
  await kv.put('x', 1);

  const learner = await cluster.addNode({ learner: true, timeoutMs: OPERATION_TIMEOUT_MS });
  t.is(learner, 4);
  await kv.put('y', 2);
  await allApplied(cluster, 'the learner to apply the log');
  const status = cluster.status();
  t.deepEqual(status.membership, { voters: [1, 2, 3], learners: [4] });
  const leader = status.nodes.find((n) => n.id === status.leaderId)!;
  t.true(leader.progress.find((peer) => peer.id === 4)?.learner, 'the leader replicates to it as a learner');
  t.true(leader.progress.filter((peer) => peer.id !== 4).every((peer) => !peer.learner));
  const learnerStatus = await eventually(() => {
    const s = node(cluster, 4);
    return s.learner && s.appliedIndex >= leader.commitIndex ? s : null;
  }, WAIT_MS, 'node 4 to know it is a learner and to apply the log');
  t.is(learnerStatus.role, 'follower', 'a learner never campaigns');
  // A learner is never a candidate: asking it to campaign does nothing.
  cluster.campaign(4);
  t.is(await cluster.waitForLeader(WAIT_MS), status.leaderId);

  await cluster.promote(4, { timeoutMs: OPERATION_TIMEOUT_MS });
  t.deepEqual(cluster.status().membership, { voters: [1, 2, 3, 4], learners: [] });
  await eventually(() => !node(cluster, 4).learner, WAIT_MS, 'node 4 to report itself a voter');
  await kv.put('z', 3);
  t.is(await kv.get('z'), 3);
});

test.serial('removing a follower, then the leader: a new leader is elected among the rest and writes continue', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 5 });
  logEvents(t, events);
  const firstLeader = await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client();
  await kv.put('k', 'five');

  const follower = cluster.nodeIds.find((id) => id !== firstLeader)!;
  await cluster.removeNode(follower, { timeoutMs: OPERATION_TIMEOUT_MS });
  t.false(cluster.nodeIds.includes(follower));
  t.false(cluster.status().nodes.some((n) => n.id === follower), 'the removed node is gone from the status');
  t.false(cluster.status().membership.voters.includes(follower));
  t.true(eventTexts(events, EventKind.NodeRemoved).some((text) => text.startsWith(`node ${follower} left`)));
  await kv.put('k', 'four');
  t.is(await kv.get('k'), 'four');

  const leader = await cluster.waitForLeader(WAIT_MS);
  await cluster.removeNode(leader, { timeoutMs: OPERATION_TIMEOUT_MS });
  t.false(cluster.nodeIds.includes(leader));
  const rest = cluster.nodeIds;
  t.is(rest.length, 3);
  const newLeader = await cluster.waitForLeader(WAIT_MS);
  t.true(rest.includes(newLeader), `new leader ${newLeader} is one of ${rest.join(',')}`);
  t.deepEqual(cluster.status().membership.voters, rest);
  await kv.put('k', 'three');
  t.is(await kv.get('k'), 'three');
  // Removed ids are never reused: the next node gets a fresh id and a fresh directory.
  t.is(await cluster.addNode({ learner: true, timeoutMs: OPERATION_TIMEOUT_MS }), 6);
});

test.serial('a change whose leader crashes while it is in flight is retried at the next leader and completes', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 5 });
  logEvents(t, events);
  const leader = await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client();
  await kv.put('k', 1);
  const follower = cluster.nodeIds.find((id) => id !== leader)!;
  // The request is posted to the leader before removeNode returns its promise; the crash
  // lands before or after the leader appended (or committed) the entry. Either way the
  // retry at the next leader must finish the change exactly once.
  const removal = cluster.removeNode(follower, { timeoutMs: 15_000 });
  await cluster.crash(leader);
  await removal;
  const status = cluster.status();
  t.false(status.membership.voters.includes(follower));
  t.true(status.membership.voters.includes(leader), 'the crashed leader is still a member');
  t.deepEqual(cluster.nodeIds.filter((id) => id !== follower), cluster.nodeIds);
  await kv.put('k', 2);
  t.is(await kv.get('k'), 2);
});

test.serial('a retried change that the next leader already holds is not proposed twice', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 5 });
  logEvents(t, events);
  const leader = await cluster.waitForLeader(WAIT_MS);
  await cluster.client().put('k', 1);
  const follower = cluster.nodeIds.find((id) => id !== leader)!;
  const others = cluster.nodeIds.filter((id) => id !== leader);
  // The followers hear the leader but it never hears them: its configuration entry
  // reaches their logs and cannot commit.
  for (const id of others) cluster.cutLink(id, leader);
  const removal = cluster.removeNode(follower, { timeoutMs: 15_000 });
  await cluster.waitFor(
    // (Not the follower itself: the leader replicates only to the members of its configuration.)
    (status) => others.filter((id) => id !== follower).every((id) => !(status.nodes.find((n) => n.id === id)?.membership.voters.includes(follower) ?? true)),
    WAIT_MS,
    'the followers to hold the uncommitted configuration entry',
  );
  await cluster.crash(leader);
  cluster.heal();
  await removal;
  t.false(cluster.status().membership.voters.includes(follower));
  // Exactly one configuration entry removed the follower: the retry waited for it to commit.
  const committed = eventTexts(events, EventKind.MembershipChanged);
  t.is(committed.length, 1, committed.join('\n'));
  const newLeader = await cluster.waitForLeader(WAIT_MS);
  const configs = node(cluster, newLeader).recentEntries.filter((entry) => entry.text.startsWith('config:'));
  t.is(configs.length, 1, JSON.stringify(configs));
});

test.serial('an added node survives a crash and a restart on its own files', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3 });
  logEvents(t, events);
  await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client();
  const added = await cluster.addNode({ timeoutMs: OPERATION_TIMEOUT_MS });
  await kv.put('a', 1);
  await allApplied(cluster, 'node 4 to apply a');

  await cluster.crash(added);
  t.false(node(cluster, added).alive);
  await kv.put('b', 2); // three of four voters are up
  const recovery = await cluster.restart(added);
  t.true(recovery.entries > 0, 'it replayed its own WAL');
  await allApplied(cluster, 'the restarted node to catch up');
  const restarted = await eventually(() => {
    const s = node(cluster, added);
    return s.alive && s.membership.voters.includes(added) ? s : null;
  }, WAIT_MS, 'the restarted node to know it is a voter');
  t.false(restarted.learner);

  // The restarted node is wired to every peer again: with an original follower down,
  // commits need it.
  const leader = await cluster.waitForLeader(WAIT_MS);
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  await cluster.crash(follower);
  await kv.put('c', 3);
  t.is(await kv.get('c'), 3);
  t.is(await kv.get('a'), 1);
});

test.serial('setVoters replaces the leader and another voter in one joint change; the data and writes go on', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3 });
  logEvents(t, events);
  const leader = await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client();
  for (let i = 0; i < 20; i++) await kv.put(`before-${i}`, i);
  const four = await cluster.addNode({ learner: true, timeoutMs: OPERATION_TIMEOUT_MS });
  const five = await cluster.addNode({ learner: true, timeoutMs: OPERATION_TIMEOUT_MS });
  const kept = [1, 2, 3].find((id) => id !== leader)!;
  const gone = [1, 2, 3].filter((id) => id !== kept);
  t.true(gone.includes(leader));

  const membership = await cluster.setVoters([five, kept, four], { timeoutMs: OPERATION_TIMEOUT_MS });
  const voters = [kept, four, five].sort((a, b) => a - b);
  t.deepEqual(membership, { voters, learners: [] }, 'C_new committed');
  t.deepEqual(cluster.nodeIds, voters, 'the two voters left out were stopped');
  for (const id of gone) t.true(eventTexts(events, EventKind.NodeRemoved).some((text) => text.startsWith(`node ${id} left the cluster (joint change)`)));
  const changes = eventTexts(events, EventKind.MembershipChanged);
  t.true(changes.some((text) => text.includes(`make the voters ${voters.map((id) => `n${id}`).join(',')} (learners none) by joint consensus; now voters ${voters.map((id) => `n${id}`).join(',')}; learners none`)), changes.join('\n'));
  const newLeader = await cluster.waitForLeader(WAIT_MS);
  t.true(voters.includes(newLeader), `new leader ${newLeader}`);
  await cluster.waitFor((status) => status.membership.voters.join() === voters.join() && status.membership.outgoing === undefined, WAIT_MS, 'C_new reported');
  for (let i = 0; i < 20; i++) t.is(await kv.get(`before-${i}`), i);
  await kv.put('after', 'joint');
  t.is(await kv.get('after'), 'joint');
  await allApplied(cluster, 'every remaining node applied the write');

  // Nonsense is refused with a code and changes nothing.
  await t.throwsAsync(() => cluster.setVoters([]), { instanceOf: RaftlabError, code: ErrorCode.InvalidMembershipChange });
  await t.throwsAsync(() => cluster.setVoters([kept, 42]), { instanceOf: RaftlabError, code: ErrorCode.UnknownNode });
  const six = await cluster.addNode({ learner: true, timeoutMs: OPERATION_TIMEOUT_MS });
  await t.throwsAsync(() => cluster.setVoters(voters, { timeoutMs: OPERATION_TIMEOUT_MS }), { instanceOf: RaftlabError, code: ErrorCode.InvalidMembershipChange, message: /already: nothing to change/ }, 'the configuration it has');
  t.deepEqual(cluster.status().membership, { voters, learners: [six] });
});

test.serial('setVoters with learners demotes the leader and a voter in one joint change: they stay, replicated to, and no longer count', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3 });
  logEvents(t, events);
  const leader = await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client();
  await kv.put('before', 1);
  const four = await cluster.addNode({ learner: true, timeoutMs: OPERATION_TIMEOUT_MS });
  const five = await cluster.addNode({ learner: true, timeoutMs: OPERATION_TIMEOUT_MS });
  const kept = [1, 2, 3].find((id) => id !== leader)!;
  const demoted = [1, 2, 3].filter((id) => id !== kept);
  await t.throwsAsync(() => cluster.setVoters([kept, four, five], { learners: [kept], timeoutMs: OPERATION_TIMEOUT_MS }), { instanceOf: RaftlabError, code: ErrorCode.InvalidMembershipChange }, 'a node in both lists');

  const voters = [kept, four, five].sort((a, b) => a - b);
  const membership = await cluster.setVoters(voters, { learners: demoted, timeoutMs: OPERATION_TIMEOUT_MS });
  t.deepEqual(membership, { voters, learners: demoted }, 'C_new committed: the old leader and another voter are learners');
  t.deepEqual(cluster.nodeIds, [1, 2, 3, four, five], 'nobody was stopped');
  t.false(events.some((event) => event.kind === EventKind.NodeRemoved), 'no node removed');
  // The old leader steps down once C_new commits (its status may say leader for one more report).
  await cluster.waitFor((status) => voters.includes(status.leaderId), WAIT_MS, 'a voter of C_new to lead');
  await cluster.waitFor((status) => status.membership.voters.join() === voters.join() && status.membership.outgoing === undefined, WAIT_MS, 'C_new reported');
  for (const id of demoted) {
    await eventually(() => (node(cluster, id).learner ? true : null), WAIT_MS, `node ${id} to report itself a learner`);
  }
  await kv.put('after', 2);
  await allApplied(cluster, 'the demoted nodes apply the write too');
  // The demoted nodes no longer count: with both of them cut off, the three voters commit.
  cluster.partition([demoted, voters]);
  await kv.put('without them', 3);
  t.is(await kv.get('without them'), 3);
  t.is(await kv.get('before'), 1);
  cluster.heal();
  // Learners alone change without a joint step; a learner left out leaves and is stopped.
  const [staying, leaving] = demoted as [NodeId, NodeId];
  t.deepEqual(await cluster.setVoters(voters, { learners: [staying], timeoutMs: OPERATION_TIMEOUT_MS }), { voters, learners: [staying] });
  t.false(cluster.nodeIds.includes(leaving), `node ${leaving} was stopped`);
  t.true(eventTexts(events, EventKind.NodeRemoved).some((text) => text.startsWith(`node ${leaving} left the cluster`)));
});

test.serial('a joint change whose leader is cut off in flight is finished by the next leader, well before its deadline', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3 });
  logEvents(t, events);
  const leader = await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client();
  await kv.put('k', 1);
  const four = await cluster.addNode({ learner: true, timeoutMs: OPERATION_TIMEOUT_MS });
  const five = await cluster.addNode({ learner: true, timeoutMs: OPERATION_TIMEOUT_MS });
  await allApplied(cluster, 'the learners hold the log');
  const others = [1, 2, 3].filter((id) => id !== leader);
  // Cut the leader off just as the request goes to it: it takes the request (it still
  // believes it leads) but cannot commit it; it steps down (CheckQuorum) and hands the
  // request back, and the next leader finishes the change.
  let isolated = false;
  cluster.on('event', (event: ClusterEvent) => {
    if (!isolated && event.text.startsWith('proposing to make the voters')) {
      isolated = true;
      cluster.isolate(leader);
    }
  });
  const started = Date.now();
  const membership = await cluster.setVoters([others[0]!, four, five], { timeoutMs: OPERATION_TIMEOUT_MS });
  const took = Date.now() - started;
  t.deepEqual(membership, { voters: [others[0]!, four, five].sort((a, b) => a - b), learners: [] });
  t.true(isolated);
  t.true(took < OPERATION_TIMEOUT_MS / 2, `finished in ${took} ms, not at the deadline`);
  cluster.heal();
  await kv.put('k', 2);
  t.is(await kv.get('k'), 2);
});

test.serial('refused changes fail with stable codes and change nothing', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3 });
  logEvents(t, events);
  const leader = await cluster.waitForLeader(WAIT_MS);
  const before = cluster.status().membership;

  const unknown = await t.throwsAsync(() => cluster.removeNode(42), { instanceOf: RaftlabError });
  t.is(unknown?.code, ErrorCode.UnknownNode);
  // The core's refusal: node 2 is a voter already.
  const voter = [1, 2, 3].find((id) => id !== leader)!;
  const invalid = await t.throwsAsync(() => cluster.promote(voter, { timeoutMs: OPERATION_TIMEOUT_MS }), { instanceOf: RaftlabError });
  t.is(invalid?.code, ErrorCode.InvalidMembershipChange);
  t.false(invalid?.indeterminate);
  await t.throwsAsync(() => cluster.addNode({ timeoutMs: -1 }), { instanceOf: RaftlabError, code: ErrorCode.InvalidArgument });
  // The voters they already are: nothing to change, refused saying so, and nothing is appended.
  const commitBefore = cluster.status().nodes.find((n) => n.id === leader)!.commitIndex;
  const same = await t.throwsAsync(() => cluster.setVoters([3, 2, 1], { timeoutMs: OPERATION_TIMEOUT_MS }), { instanceOf: RaftlabError, code: ErrorCode.InvalidMembershipChange });
  t.is(same?.message, 'the voters are n1,n2,n3 and the learners none already: nothing to change');
  t.is(cluster.status().nodes.find((n) => n.id === leader)!.commitIndex, commitBefore);
  t.deepEqual(cluster.status().membership, before);
  t.deepEqual(cluster.nodeIds, [1, 2, 3]);

  // With no quorum, a change of the voters is refused before it is proposed; forced, it
  // is retried until its deadline and then fails with a code.
  const others = [1, 2, 3].filter((id) => id !== leader);
  await Promise.all(others.map((id) => cluster.crash(id)));
  await t.throwsAsync(() => cluster.removeNode(others[0]!, { timeoutMs: 1500 }), { instanceOf: RaftlabError, code: ErrorCode.MembershipChangeUnsafe });
  const stuck = await t.throwsAsync(() => cluster.removeNode(others[0]!, { timeoutMs: 1500, force: true }), { instanceOf: RaftlabError });
  t.true([ErrorCode.Timeout, ErrorCode.NoLeader, ErrorCode.MembershipChangeInProgress].includes(stuck!.code as never), stuck?.message);

  await cluster.stop();
  await t.throwsAsync(() => cluster.addNode(), { instanceOf: RaftlabError, code: ErrorCode.ClusterStopped });
});

test.serial('a node added after compaction catches up by snapshot; concurrent additions get distinct ids', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3, snapshotEntries: 50 });
  logEvents(t, events);
  await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client();
  await Promise.all(Array.from({ length: 8 }, async (_, writer) => {
    for (let i = 0; i < 25; i++) await kv.put(`w${writer}`, i);
  }));
  await eventually(() => events.some((event) => event.kind === EventKind.LogCompacted), WAIT_MS, 'a compaction');

  const [first, second] = await Promise.all([
    cluster.addNode({ timeoutMs: OPERATION_TIMEOUT_MS }),
    cluster.addNode({ learner: true, timeoutMs: OPERATION_TIMEOUT_MS }),
  ]);
  t.deepEqual([first, second].sort(), [4, 5]);
  t.deepEqual(cluster.status().membership, { voters: [1, 2, 3, first], learners: [second] });
  // The log they needed starts after a snapshot: they got the state machine by InstallSnapshot (§7).
  const installed = eventTexts(events, EventKind.SnapshotInstalled);
  t.true(installed.some((text) => text.startsWith(`node ${first} installed`)), installed.join('\n'));
  t.true(installed.some((text) => text.startsWith(`node ${second} installed`)), installed.join('\n'));
  await allApplied(cluster, 'the new nodes to apply the log');
  // Their own configuration came with the snapshot or the entries after it.
  await eventually(() => node(cluster, first).membership.voters.includes(first) && node(cluster, second).learner, WAIT_MS, 'the new nodes to know their configuration');
  t.is(await kv.get('w3'), 24);
});

test.serial('a cluster started again on its data directory runs the nodes added and not the ones removed', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftlab-manifest-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  {
    const { cluster } = await startCluster(t, { nodes: 3, dataDir });
    const kv = cluster.client();
    await kv.put('kept', 'yes');
    t.is(await cluster.addNode({ timeoutMs: OPERATION_TIMEOUT_MS }), 4);
    await cluster.removeNode(1, { timeoutMs: OPERATION_TIMEOUT_MS });
    await kv.put('after', 'changes');
    await cluster.stop();
  }
  // The dashboard passes its own default node count: the directory's manifest wins.
  const { cluster } = await startCluster(t, { nodes: 5, dataDir });
  t.deepEqual(cluster.nodeIds, [2, 3, 4]);
  t.deepEqual(cluster.bootstrapIds, [1, 2, 3], 'every worker still gets the bootstrap voters as its peers');
  await cluster.waitForLeader(WAIT_MS);
  await cluster.waitFor((status) => status.membership.voters.join(',') === '2,3,4', WAIT_MS, 'the configuration from the log');
  const kv = cluster.client();
  t.is(await kv.get('kept'), 'yes');
  t.is(await kv.get('after'), 'changes');
  await kv.put('again', 1);
  t.is(await kv.get('again'), 1);
});

// The operator's step after a removal (README, "Membership changes are safe"): delete the
// removed node's directory. Its id used to live on only in that directory, so the next
// start's addNode took it again; cluster.json now records the highest id used.
test.serial("a removed node's directory deleted: the cluster runs on, and its id is never used again", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftlab-manifest-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  {
    const { cluster } = await startCluster(t, { nodes: 3, dataDir });
    await cluster.client().put('kept', 'yes');
    t.is(await cluster.addNode({ timeoutMs: OPERATION_TIMEOUT_MS }), 4);
    await cluster.removeNode(4, { timeoutMs: OPERATION_TIMEOUT_MS });
    rmSync(join(dataDir, 'node-4'), { recursive: true });
    await cluster.client().put('after', 'removal');
    await cluster.stop();
  }
  const { cluster } = await startCluster(t, { dataDir });
  t.deepEqual(cluster.nodeIds, [1, 2, 3]);
  t.is(await cluster.addNode({ timeoutMs: OPERATION_TIMEOUT_MS }), 5, 'not 4 again');
  const kv = cluster.client();
  t.is(await kv.get('kept'), 'yes');
  t.is(await kv.get('after'), 'removal');
});

test.serial('a damaged cluster manifest is refused with INVALID_CONFIG, naming the file, and nothing is started', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftlab-manifest-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  for (const text of ['{"format":1,"bootstrap":[1,2,3],"nodes":[3,2]}', 'not json', '{"format":7,"bootstrap":[1],"nodes":[1]}']) {
    writeFileSync(join(dataDir, 'cluster.json'), text);
    const error = await t.throwsAsync(Cluster.start({ dataDir }), { instanceOf: RaftlabError });
    t.is(error?.code, ErrorCode.InvalidConfig);
    t.regex(error?.message ?? '', /cluster\.json is not a raftlab cluster manifest/);
  }
  t.is(readFileSync(join(dataDir, 'cluster.json'), 'utf8'), '{"format":7,"bootstrap":[1],"nodes":[1]}', 'the file is left as it was');
});
