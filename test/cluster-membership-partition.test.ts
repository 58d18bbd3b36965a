// Membership on the real cluster: a node added while a partition is in force. Waits are bounded.

import test from 'ava';
import { lead, startCluster } from './helpers/cluster.js';

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

// Right after isolate(leader) the old leader still reports itself leader (until its
// election timeout), and the newcomer joined its group: cut off with a node that can
// commit nothing, it never caught up (CATCH_UP_TIMEOUT). The group that can commit wins.
test.serial('addNode at once after the leader is isolated: the newcomer joins the majority, not the deposed leader', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3, electionTicks: 100 });
  const leader = await cluster.waitForLeader(WAIT_MS);
  cluster.isolate(leader);
  t.is(cluster.status().leaderId, leader, 'the isolated leader still reports itself leader');
  const id = await cluster.addNode({ timeoutMs: 15_000 });
  const partition = cluster.status().partition!;
  t.log(`added ${id}; partition ${JSON.stringify(partition)}`);
  t.true(partition.some((group) => group.includes(id) && !group.includes(leader) && group.length === 3), 'with the two others');
  t.false(partition.some((group) => group.includes(id) && group.includes(leader)), 'not with the isolated leader');
  t.true(events.some((event) => event.kind === 'partition' && event.node === id && /a majority of the voters/.test(event.text)));
  t.true(cluster.status().membership.voters.includes(id));
  await cluster.client({ timeoutMs: 5000 }).put('after', 1);
});

// Removing the node a partition cut off left [[the others]]: status().partition (null when
// fully connected) still named a one-group "partition", and the dashboard showed a
// PARTITION badge and group letters on a cluster where every node reached every other.
test.serial('removing the node a partition cut off ends the partition; a node still cut off keeps it', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 5 });
  const leader = await cluster.waitForLeader(WAIT_MS);
  const [a, b, c, d] = cluster.nodeIds.filter((id) => id !== leader) as [number, number, number, number];
  // The leader keeps a majority (with a and b); c alone; d in no group: cut off from all.
  cluster.partition([[leader, a, b], [c]]);
  await cluster.removeNode(c, { timeoutMs: 8000 });
  t.deepEqual(cluster.status().partition, [[leader, a, b]], 'd is still cut off: still a partition');
  cluster.heal();
  cluster.isolate(d);
  await cluster.removeNode(d, { timeoutMs: 8000 });
  t.is(cluster.status().partition, null, 'the isolated node left: nobody is cut off');
  t.true(events.some((event) => event.kind === 'node-removed' && event.node === d && /the partition is over/.test(event.text)));
  t.false(events.some((event) => event.kind === 'node-removed' && event.node === c && /the partition is over/.test(event.text)));
  await cluster.client({ timeoutMs: 5000 }).put('after', 1);
});

// A node that addNode placed in a partition group and that then failed to start (crashed
// while starting: NODE_FAILED) was forgotten but stayed in the group: status().partition
// named a node the cluster did not have, and the dashboard drew it.
test.serial('an addNode whose newcomer fails to start during a partition leaves no trace of it in the groups', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(WAIT_MS);
  const [other, cut] = [1, 2, 3].filter((id) => id !== leader) as [number, number];
  cluster.partition([[leader, other], [cut]]);
  const adding = cluster.addNode({ timeoutMs: 8000 });
  // The newcomer (id 4) has its slot and worker once the call has taken its turn.
  await new Promise((resolve) => setImmediate(resolve));
  t.true(cluster.status().partition!.some((group) => group.includes(4)), 'placed beside the leader');
  await cluster.crash(4);
  await t.throwsAsync(adding, { code: 'NODE_FAILED' });
  t.deepEqual(cluster.nodeIds, [1, 2, 3]);
  t.deepEqual(cluster.status().partition, [[leader, other], [cut]]);
  const id = await cluster.addNode({ timeoutMs: 8000 });
  t.deepEqual(cluster.status().partition, [[leader, other, id], [cut]]);
});

// Learners cut off with a deposed leader: a learner never campaigns, so it names that
// leader for as long as the partition lasts. A client whose last leader was n3 asked n3
// (no leader known), then the next node, learner n4 (leader: n3), then n3 again, and so on
// until its deadline, NO_LEADER, while n1 and n2 had elected a leader and took writes.
test.serial('with learners cut off beside a deposed leader, a client still finds the new leader', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  const learners = [await cluster.addNode({ learner: true, timeoutMs: 8000 }), await cluster.addNode({ learner: true, timeoutMs: 8000 })];
  t.deepEqual(learners, [4, 5]);
  await lead(cluster, 3);
  // Every client of the cluster now starts at n3, the leader its last write found.
  await cluster.client({ timeoutMs: 5000 }).put('k', 1);
  cluster.partition([[3, 4, 5], [1, 2]]);
  await cluster.waitFor((status) => status.leaderId === 1 || status.leaderId === 2, WAIT_MS, 'a leader among n1 and n2');
  // n3 has stepped down (CheckQuorum) and knows no leader; the learners still name n3.
  await cluster.waitFor((status) => status.nodes.find((node) => node.id === 3)?.role !== 'leader', WAIT_MS, 'n3 to step down');
  for (const id of learners) t.is(cluster.status().nodes.find((node) => node.id === id)?.leaderId, 3, `learner n${id} still names n3`);
  const kv = cluster.client({ timeoutMs: 5000 });
  await kv.put('k', 2);
  t.is(await kv.get('k'), 2);
  t.is(await cluster.client({ timeoutMs: 5000 }).get('k'), 2, 'a read too, from a new client');
});
