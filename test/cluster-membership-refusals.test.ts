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
