// Membership on the real cluster: calls queue one after another, and each one's
// timeoutMs counts from the call, not from its turn. Waits are bounded.

import test from 'ava';
import { ErrorCode, RaftlabError } from '../lib/cluster/errors.js';
import { startCluster } from './helpers/cluster.js';

const WAIT_MS = 10_000;

test.serial('a queued membership call settles within its own timeoutMs, definite, and never runs', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  const learner = await cluster.addNode({ learner: true, timeoutMs: WAIT_MS });
  await cluster.crash(learner);
  await cluster.client({ timeoutMs: 5000 }).put('past-the-learner', 1);
  // A learner that is down and behind never catches up: this promote holds the queue for its whole 3 s.
  const blocking = cluster.promote(learner, { timeoutMs: 3000 }).then(
    () => 'ok',
    (error: unknown) => (error instanceof RaftlabError ? error.code : String(error)),
  );
  const started = Date.now();
  const error = await t.throwsAsync(cluster.addNode({ timeoutMs: 1000 }));
  const took = Date.now() - started;
  t.log(`queued addNode({ timeoutMs: 1000 }) → ${error?.message} after ${took} ms`);
  t.true(error instanceof RaftlabError);
  t.is((error as RaftlabError).code, ErrorCode.MembershipChangeInProgress);
  t.false((error as RaftlabError).indeterminate);
  t.true(took < 2000, `took ${took} ms`);
  t.is(await blocking, ErrorCode.CatchUpTimeout);
  // It never ran: no node was added once the queue freed up.
  t.deepEqual(cluster.nodeIds, [1, 2, 3, learner]);
});
