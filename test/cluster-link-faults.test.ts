// The supervisor's network faults take effect in a real cluster as `raftlab check`'s
// nemesis describes them: a one-way cut stops the messages in its direction only; link
// faults reach every node; heal() restores everything. (The transport's own rates and
// directions: test/transport-faults.test.ts.)

import test from 'ava';
import type { Cluster } from '../lib/cluster/cluster.js';
import type { NodeStatus } from '../lib/cluster/types.js';
import { startCluster } from './helpers/cluster.js';

function node(cluster: Cluster, id: number): NodeStatus {
  const found = cluster.status().nodes.find((each) => each.id === id);
  if (found === undefined) throw new Error(`no node ${id}`);
  return found;
}

/** What the leader believes `follower` holds. */
function matchIndexAtLeader(cluster: Cluster, leader: number, follower: number): number {
  return node(cluster, leader).progress.find((progress) => progress.id === follower)?.matchIndex ?? -1;
}

/** Writes `n` keys through the cluster's own client (redirects followed). */
async function write(cluster: Cluster, prefix: string, n: number): Promise<void> {
  const kv = cluster.client({ timeoutMs: 8_000 });
  try {
    for (let i = 0; i < n; i++) await kv.put(`${prefix}${i}`, i);
  } finally {
    kv.close();
  }
}

/** Waits until node `id` has reported at least `ms` after now (its status then shows what happened meanwhile). */
async function reportsAfter(cluster: Cluster, id: number, ms: number): Promise<NodeStatus> {
  const from = Date.now();
  const status = await cluster.waitFor((each) => (each.nodes.find((other) => other.id === id)?.reportedAt ?? 0) > from + ms, 10_000 + ms, `a report from node ${id} ${ms} ms on`);
  return status.nodes.find((other) => other.id === id)!;
}

/** Several election timeouts of the cluster, in ms. */
function electionTimeoutsMs(cluster: Cluster, id: number, n: number): number {
  return n * node(cluster, id).electionTimeoutTicks * cluster.status().tickMs;
}

test.serial('a one-way cut follower→leader: the follower still hears the leader, the leader hears no acknowledgement from it; heal, and it does', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(10_000);
  const follower = cluster.nodeIds.find((id) => id !== leader)!;
  await write(cluster, 'before', 5);
  cluster.cutLink(follower, leader);
  // What crossed before the cut has settled: the leader's view of the follower from here on.
  const matchBefore = matchIndexAtLeader(cluster, leader, follower);
  await reportsAfter(cluster, leader, 100);
  const matchAtCut = matchIndexAtLeader(cluster, leader, follower);
  t.true(matchAtCut >= matchBefore);
  const term = node(cluster, follower).term;

  await write(cluster, 'during', 20);
  const wait = electionTimeoutsMs(cluster, follower, 3);
  const seen = await reportsAfter(cluster, follower, wait);
  // Leader→follower flows: heartbeats keep the follower with its leader, in its term, for
  // three election timeouts, without an election.
  t.is(seen.leaderId, leader);
  t.is(seen.term, term, 'no election');
  t.true(seen.lastLeaderContactMs !== null && seen.lastLeaderContactMs < wait / 3, `last heard from the leader ${seen.lastLeaderContactMs} ms ago`);
  // Follower→leader is cut: the leader commits with the other follower and never hears
  // that this one has anything more.
  const atLeader = await reportsAfter(cluster, leader, 100);
  t.true(atLeader.commitIndex >= matchAtCut + 20);
  t.is(matchIndexAtLeader(cluster, leader, follower), matchAtCut, 'no acknowledgement crossed the cut');

  cluster.heal();
  await cluster.waitFor(() => matchIndexAtLeader(cluster, leader, follower) >= atLeader.commitIndex, 10_000, 'acknowledgements after the heal');
  t.true(matchIndexAtLeader(cluster, leader, follower) > matchAtCut, 'acknowledgements crossed after the heal');
});

test.serial('a one-way cut leader→follower: the follower gets nothing while the others commit; heal, and it catches up', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(10_000);
  const follower = cluster.nodeIds.find((id) => id !== leader)!;
  await write(cluster, 'before', 5);
  cluster.cutLink(leader, follower);
  const followerLog = (await reportsAfter(cluster, follower, 100)).lastLogIndex;

  await write(cluster, 'during', 20);
  const committed = (await reportsAfter(cluster, leader, 0)).commitIndex;
  t.true(committed >= followerLog + 20);
  const seen = await reportsAfter(cluster, follower, 100);
  t.is(seen.lastLogIndex, followerLog, 'nothing crossed the cut');
  t.true(seen.lastLeaderContactMs === null || seen.lastLeaderContactMs >= 100, `last heard from the leader ${seen.lastLeaderContactMs} ms ago`);

  cluster.heal();
  const healed = await cluster.waitFor(() => node(cluster, follower).commitIndex >= committed, 15_000, 'the follower to catch up after the heal');
  t.true(healed.nodes.find((each) => each.id === follower)!.lastLogIndex > followerLog, 'entries crossed after the heal');
});

test.serial('link faults reach every node: dropping every message leaves no leader; clearing them brings one back', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3, tickMs: 20 });
  const leader = await cluster.waitForLeader(10_000);
  cluster.setLinkFaults({ dropRate: 1 });
  // CheckQuorum: a leader that hears from nobody steps down within an election timeout; nobody can be elected.
  await cluster.waitFor((status) => status.nodes.every((each) => each.role !== 'leader'), 10_000, `leader ${leader} to step down`);
  const term = Math.max(...cluster.status().nodes.map((each) => each.term));
  t.true(cluster.status().nodes.every((each) => each.role !== 'leader'));
  cluster.heal();
  const healed = await cluster.waitFor((status) => status.leaderId !== 0 && status.nodes.some((each) => each.role === 'leader' && each.term >= term), 15_000, 'a leader after the heal');
  t.not(healed.leaderId, 0, 'a leader after the heal');
});
