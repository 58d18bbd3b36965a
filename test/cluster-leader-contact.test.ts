// A node's lastLeaderContactMs (the dashboard's CONTACT column) for a leader that steps
// down: it led, so it was in touch with a leader until it stopped, not since its election.

import test from 'ava';
import type { Cluster } from '../lib/cluster/cluster.js';
import type { NodeStatus } from '../lib/cluster/types.js';
import { startCluster } from './helpers/cluster.js';

/** How long the leader leads before it is cut off: longer than any plausible step-down. */
const LEAD_MS = 3000;

function node(cluster: Cluster, id: number): NodeStatus {
  const found = cluster.status().nodes.find((each) => each.id === id);
  if (found === undefined) throw new Error(`no node ${id}`);
  return found;
}

/** Waits until node `id` has reported at least `ms` after now. */
async function reportsAfter(cluster: Cluster, id: number, ms: number): Promise<NodeStatus> {
  const from = Date.now();
  const status = await cluster.waitFor((each) => (each.nodes.find((other) => other.id === id)?.reportedAt ?? 0) > from + ms, 10_000 + ms, `a report from node ${id} ${ms} ms on`);
  return status.nodes.find((other) => other.id === id)!;
}

test('a leader cut off steps down and counts its last leader contact from then, not from its election', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(10_000);
  await reportsAfter(cluster, leader, LEAD_MS);
  t.is(node(cluster, leader).role, 'leader', 'still leading after the wait');
  cluster.partition([[leader], cluster.nodeIds.filter((id) => id !== leader)]);
  await cluster.waitFor((status) => status.nodes.find((each) => each.id === leader)?.role !== 'leader', 10_000, `node ${leader} to step down`);
  const steppedDownBy = Date.now();
  const deposed = await reportsAfter(cluster, leader, 0);
  const sinceObserved = Date.now() - steppedDownBy;
  t.not(deposed.lastLeaderContactMs, null);
  // It stepped down before we saw it (a poll and a report apart, well under a second on a
  // loaded machine); counted from its election it was over LEAD_MS.
  t.true((deposed.lastLeaderContactMs ?? Infinity) < sinceObserved + 1000, `last leader contact ${deposed.lastLeaderContactMs} ms ago, the step-down seen ${sinceObserved} ms ago`);
});
