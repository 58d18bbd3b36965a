// Membership on the real cluster: a node added while a partition is in force. Waits are bounded.

import test from 'ava';
import { startCluster } from './helpers/cluster.js';

const WAIT_MS = 10_000;

// isolate(leader) stores [[leader], [the others]]: a node added later was in no group,
// cut off from everyone, and never caught up (CATCH_UP_TIMEOUT after the whole deadline).
test.serial('addNode while the old leader is isolated: the newcomer joins the majority and catches up', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(WAIT_MS);
  cluster.isolate(leader);
  const status = await cluster.waitFor((s) => s.leaderId !== 0 && s.leaderId !== leader, WAIT_MS, 'a leader in the majority');
  const id = await cluster.addNode({ timeoutMs: 8000 });
  const partition = cluster.status().partition!;
  t.log(`added ${id}; partition ${JSON.stringify(partition)}`);
  t.true(partition.some((group) => group.includes(id) && group.includes(status.leaderId)), 'in the new leader\'s group');
  t.false(partition.some((group) => group.includes(id) && group.includes(leader)), 'not with the isolated node');
  t.true(cluster.status().membership.voters.includes(id));
  await cluster.client({ timeoutMs: 5000 }).put('after', 1);
});
