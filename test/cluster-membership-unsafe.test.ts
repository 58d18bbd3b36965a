// Membership on the real cluster: a change of the voters that its new voters could not
// commit is refused before it is proposed (etcd's strict reconfiguration check), unless
// forced. Waits are bounded.

import test from 'ava';
import { ErrorCode, RaftlabError } from '../lib/cluster/errors.js';
import { startCluster } from './helpers/cluster.js';

const WAIT_MS = 10_000;

// Removing the leader while another of three voters is down: C_new is the two others, one
// of them down, so the entry never commits, and the leader (using C_new from its append)
// and the survivor took no write until the crashed node came back.
test.serial('removing the leader while a voter is down is refused at once, and the cluster stays writable', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(WAIT_MS);
  const down = [1, 2, 3].find((id) => id !== leader)!;
  await cluster.crash(down);
  const started = Date.now();
  const error = await t.throwsAsync(cluster.removeNode(leader, { timeoutMs: 3000 }));
  const took = Date.now() - started;
  t.log(`${error?.message} (after ${took} ms)`);
  t.true(error instanceof RaftlabError);
  t.is((error as RaftlabError).code, ErrorCode.MembershipChangeUnsafe);
  t.false((error as RaftlabError).indeterminate);
  t.true(took < 1000, `took ${took} ms`);
  t.deepEqual(cluster.status().membership.voters, [1, 2, 3], 'nothing was proposed');
  await cluster.client({ timeoutMs: 5000 }).put('after', 1);
  // Back up, the same removal is safe and goes through.
  await cluster.restart(down);
  await cluster.waitFor((s) => s.nodes.every((node) => node.alive), WAIT_MS, 'every node running');
  await cluster.removeNode(leader, { timeoutMs: WAIT_MS });
  t.false(cluster.nodeIds.includes(leader));
  await cluster.client({ timeoutMs: 5000 }).put('after-removal', 1);
});

test.serial('a partitioned-off voter counts as unreachable; { force: true } proposes the change anyway', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(WAIT_MS);
  const [other, cut] = [1, 2, 3].filter((id) => id !== leader) as [number, number];
  cluster.partition([[leader, other], [cut]]);
  await t.throwsAsync(cluster.removeNode(other, { timeoutMs: 3000 }), { code: ErrorCode.MembershipChangeUnsafe, message: /only 1 \(n\d\) run and reach leader/ });
  // Forced, it is proposed: with n{cut} unreachable it cannot commit before the deadline.
  const forced = await t.throwsAsync(cluster.removeNode(other, { timeoutMs: 1000, force: true }));
  t.log(forced?.message);
  t.not((forced as RaftlabError).code, ErrorCode.MembershipChangeUnsafe);
  t.true((forced as RaftlabError).indeterminate);
});
