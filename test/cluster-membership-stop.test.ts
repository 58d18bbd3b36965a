// Membership on the real cluster: a membership call that stop() ends says whether its
// change may still happen. Waits are bounded, on status and events.

import test from 'ava';
import { Cluster } from '../lib/cluster/cluster.js';
import { ErrorCode, RaftlabError } from '../lib/cluster/errors.js';
import { startCluster } from './helpers/cluster.js';

const WAIT_MS = 10_000;

// The leader took the removal and its followers hold the entry, but it cannot commit (the
// followers hear the leader, it never hears them). The leader crashes: the request is
// handed back, fate unknown, and the supervisor pauses before asking the next leader.
// stop() in that pause used to end the call CLUSTER_STOPPED *definite* ("it did not
// happen"), yet the followers' next leader commits the removal at the next start.
test.serial('stop() after an attempt whose fate is unknown ends the call CLUSTER_STOPPED, indeterminate; the change does commit', async (t) => {
  const { cluster, dataDir } = await startCluster(t, { nodes: 5 });
  const leader = await cluster.waitForLeader(WAIT_MS);
  await cluster.client({ timeoutMs: 5000 }).put('k', 1);
  const others = cluster.nodeIds.filter((id) => id !== leader);
  const follower = others[0]!;
  for (const id of others) cluster.cutLink(id, leader);
  const removal = cluster.removeNode(follower, { timeoutMs: 15_000 });
  const outcome = removal.then(
    () => null,
    (error: unknown) => error,
  );
  await cluster.waitFor(
    // (Not the follower itself: the leader replicates only to the members of its configuration.)
    (status) => others.filter((id) => id !== follower).every((id) => !(status.nodes.find((n) => n.id === id)?.membership.voters.includes(follower) ?? true)),
    WAIT_MS,
    'the followers to hold the uncommitted configuration entry',
  );
  // crash() hands the request back (ConnectionLost) before it resolves: the call is in its
  // pause before the next attempt when stop() runs.
  await cluster.crash(leader);
  await cluster.stop();
  const error = await outcome;
  t.log(error instanceof Error ? error.message : String(error));
  t.true(error instanceof RaftlabError);
  t.is((error as RaftlabError).code, ErrorCode.ClusterStopped);
  t.true((error as RaftlabError).indeterminate, 'the removal may still commit: the followers hold it');
  // And it does: started again, the followers elect a leader that commits it, and the
  // node it leaves out is retired.
  const again = await Cluster.start({ dataDir });
  t.teardown(() => again.stop());
  const after = await again.waitFor((status) => !status.membership.voters.includes(follower) && !again.nodeIds.includes(follower), WAIT_MS, `n${follower} out of the committed configuration`);
  t.false(after.membership.voters.includes(follower), `n${follower} is no voter`);
  t.false(again.nodeIds.includes(follower), `n${follower} is retired`);
});
