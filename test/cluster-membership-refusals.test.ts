// Membership on the real cluster: a change the core refuses says why, not only its code.

import test from 'ava';
import { ErrorCode } from '../lib/cluster/errors.js';
import { startCluster } from './helpers/cluster.js';

const WAIT_MS = 10_000;

test.serial("a refused change carries the core's reason: removing the only voter", async (t) => {
  const { cluster } = await startCluster(t, { nodes: 1 });
  await cluster.waitForLeader(WAIT_MS);
  const error = await t.throwsAsync(cluster.removeNode(1, { timeoutMs: 3000 }), { code: ErrorCode.InvalidMembershipChange });
  t.log(error?.message);
  t.regex(error!.message, /node 1 is the only voter/);
  t.regex(error!.message, /the configuration is voters n1; learners none/);
  t.false((error as { indeterminate?: boolean }).indeterminate);
  t.deepEqual(cluster.nodeIds, [1], 'nothing changed');
});

// Catch-up is judged by the leader's record of the learner's log: a learner that went
// down caught up, on a cluster taking no writes, passed it and was made a voter while
// down (3 of 4 voters running: the unsafe check let it through).
test.serial('a learner that is down is not made a voter (promote, setVoters), unless forced; restarted, it is', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  const learner = await cluster.addNode({ learner: true, timeoutMs: WAIT_MS });
  await cluster.crash(learner);
  for (const [name, call] of [
    ['promote', () => cluster.promote(learner, { timeoutMs: 5000 })],
    ['setVoters', () => cluster.setVoters([1, 2, 3, learner], { timeoutMs: 5000 })],
  ] as const) {
    const error = await t.throwsAsync(call(), { code: ErrorCode.NodeNotRunning }, name);
    t.log(error?.message);
    t.regex(error!.message, new RegExp(`cannot make n${learner} a voter: it is not running; it stays a learner`), name);
    t.false((error as { indeterminate?: boolean }).indeterminate, name);
    t.deepEqual(cluster.status().membership, { voters: [1, 2, 3], learners: [learner] }, `${name}: nothing changed`);
  }
  await cluster.restart(learner);
  await cluster.promote(learner, { timeoutMs: WAIT_MS });
  t.deepEqual(cluster.status().membership, { voters: [1, 2, 3, learner], learners: [] });
});

test.serial('a down learner is made a voter when forced', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  const learner = await cluster.addNode({ learner: true, timeoutMs: WAIT_MS });
  await cluster.crash(learner);
  await cluster.promote(learner, { timeoutMs: WAIT_MS, force: true });
  t.deepEqual(cluster.status().membership, { voters: [1, 2, 3, learner], learners: [] });
  await cluster.client({ timeoutMs: 5000 }).put('k', 1);
});
