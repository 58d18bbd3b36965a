// Membership on the real cluster: the member list is the committed configuration. A
// node that runs but that a committed configuration leaves out (its removal committed
// unseen, an addNode whose learner entry never committed) is stopped and forgotten, and
// a later start does not bring it back. Waits are bounded.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { ErrorCode, RaftlabError } from '../lib/cluster/errors.js';
import { Cluster } from '../lib/cluster/cluster.js';
import type { NodeId } from '../lib/raft/types.js';
import type { ClusterEvent } from '../lib/cluster/types.js';
import { startCluster, tempDir } from './helpers/cluster.js';

const WAIT_MS = 10_000;
const codeOf = (error: unknown): string => (error instanceof RaftlabError ? error.code : String(error));

function strays(cluster: Cluster): NodeId[] {
  const m = cluster.status().membership;
  return cluster.nodeIds.filter((id) => !m.voters.includes(id) && !m.learners.includes(id) && !(m.outgoing ?? []).includes(id));
}

const manifestNodes = (dataDir: string): NodeId[] => (JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { nodes: NodeId[] }).nodes;

test.serial('a node whose addNode timed out and whose learner entry was lost is retired', async (t) => {
  // A 3 s election timeout: the leader that lost its followers still leads when the learner
  // entry is proposed, and until the call's deadline (with 1 s, under load, it stepped down
  // first and the call ended NO_LEADER, nothing proposed).
  const { cluster, events, dataDir } = await startCluster(t, { nodes: 3, electionTicks: 150 });
  const leader = await cluster.waitForLeader(WAIT_MS);
  const followers = cluster.nodeIds.filter((id) => id !== leader);
  await Promise.all(followers.map((id) => cluster.crash(id)));
  const error = await t.throwsAsync(cluster.addNode({ timeoutMs: 1500 }));
  t.is(codeOf(error), ErrorCode.Timeout);
  const added = Math.max(...cluster.nodeIds);
  t.is(added, 4);
  // The old leader's uncommitted entry is lost to a leader elected without it.
  await cluster.crash(leader);
  for (const id of followers) await cluster.restart(id);
  await cluster.waitForLeader(WAIT_MS);
  await cluster.restart(leader);
  await cluster.waitFor(() => !cluster.nodeIds.includes(added), WAIT_MS, `node ${added} retired`);
  t.true(events.some((event) => event.kind === 'node-removed' && event.node === added), 'a node-removed event');
  t.false(manifestNodes(dataDir).includes(added));
  t.deepEqual(strays(cluster), []);
  await t.throwsAsync(cluster.removeNode(added, { timeoutMs: 3000 }), { code: ErrorCode.UnknownNode });
  await t.throwsAsync(cluster.promote(added, { timeoutMs: 3000 }), { code: ErrorCode.UnknownNode });
  // The cluster is still whole and writable.
  await cluster.client({ timeoutMs: 5000 }).put('after', 1);
});

test.serial('voters left out by a setVoters that timed out but completed later are retired', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  for (let i = 0; i < 3; i++) await cluster.addNode({ learner: true, timeoutMs: WAIT_MS });
  const leader = await cluster.waitForLeader(WAIT_MS);
  const oldFollowers = [1, 2, 3].filter((id) => id !== leader);
  const onEvent = (event: ClusterEvent): void => {
    if (event.kind === 'info' && /proposing to make the voters/.test(event.text)) for (const id of oldFollowers) void cluster.crash(id).catch(() => undefined);
  };
  cluster.on('event', onEvent);
  const error = await t.throwsAsync(cluster.setVoters([4, 5, 6], { timeoutMs: 3000 }));
  cluster.off('event', onEvent);
  t.is(codeOf(error), ErrorCode.Timeout);
  // C_new may commit while one restarts: it is then retired under the restart (UNKNOWN_NODE).
  // The old leader campaigns once the first is back: it holds C_old,new and wins with that
  // one and a majority of the new voters. Left to their timers, the two old followers,
  // back without the joint entry, could elect one of them under C_old first, which drops
  // the uncommitted change (allowed: it never completes then), as a CI run once saw.
  for (const [i, id] of oldFollowers.entries()) {
    await cluster.restart(id).catch((restartError: unknown) => t.is(codeOf(restartError), ErrorCode.UnknownNode));
    if (i === 0 && cluster.nodeIds.includes(leader)) cluster.campaign(leader); // (not if C_new committed and retired it already)
  }
  await cluster.waitFor((s) => s.leaderId !== 0 && (s.membership.outgoing ?? []).length === 0 && s.membership.voters.join() === '4,5,6', WAIT_MS, 'C_new');
  await cluster.waitFor(() => cluster.nodeIds.join() === '4,5,6', WAIT_MS, 'the voters left out retired');
  t.deepEqual(strays(cluster), []);
  await cluster.client({ timeoutMs: 5000 }).put('after', 1);
});

// A removal that committed while the supervisor did not see it (stop() right after
// removeNode: the call ends CLUSTER_STOPPED and the node was never retired) left it in
// cluster.json, and every later start ran it outside the configuration. The same state
// is made here deterministically: a committed removal, then cluster.json listing the
// node again as that race left it. The start retires it once a leader reports the
// committed configuration.
test.serial('a start does not keep running a node the committed configuration left out', async (t) => {
  const dataDir = tempDir();
  const { cluster } = await startCluster(t, { nodes: 3, dataDir });
  const leader = await cluster.waitForLeader(WAIT_MS);
  const victim = cluster.nodeIds.find((id) => id !== leader)!;
  await cluster.removeNode(victim, { timeoutMs: WAIT_MS });
  await cluster.stop();
  const manifestPath = join(dataDir, 'cluster.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { nodes: NodeId[]; initialized: NodeId[] | null };
  const withVictim = (ids: NodeId[]): NodeId[] => [...ids, victim].sort((a, b) => a - b);
  writeFileSync(manifestPath, JSON.stringify({ ...manifest, nodes: withVictim(manifest.nodes), initialized: manifest.initialized === null ? null : withVictim(manifest.initialized) }));
  const again = await Cluster.start({ dataDir });
  t.teardown(() => again.stop());
  const events: ClusterEvent[] = [];
  again.on('event', (event: ClusterEvent) => events.push(event));
  t.true(again.nodeIds.includes(victim), 'cluster.json listed it: it started');
  await again.waitFor(() => !again.nodeIds.includes(victim), WAIT_MS, `node ${victim} retired`);
  t.true(events.some((event) => event.kind === 'node-removed' && event.node === victim), 'a node-removed event');
  t.false(manifestNodes(dataDir).includes(victim));
  t.deepEqual(strays(again), []);
  await t.throwsAsync(again.restart(victim), { code: ErrorCode.UnknownNode });
  await again.client({ timeoutMs: 5000 }).put('after', 1);
  await again.stop();
  const third = await Cluster.start({ dataDir });
  t.teardown(() => third.stop());
  t.false(third.nodeIds.includes(victim), 'not started again');
});
