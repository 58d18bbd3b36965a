// Membership on the real cluster: addNode ends at its deadline, even while the new
// node's worker is still starting. Waits are bounded, on status and events.

import test from 'ava';
import { Cluster } from '../lib/cluster/cluster.js';
import { ErrorCode, RaftlabError } from '../lib/cluster/errors.js';
import { EventKind } from '../lib/cluster/types.js';
import { startCluster } from './helpers/cluster.js';

const WAIT_MS = 10_000;
/** Far less than a worker takes to start (an isolate, this code loaded, its files opened). */
const SHORT_TIMEOUT_MS = 30;

// addNode waited for the newcomer's worker to start whatever its deadline (1.4 s past a
// 50 ms one under load; up to startTimeoutMs, 30 s), and then, with no attempt left, said
// NO_LEADER, "no leader was known", with a leader in office.
test.serial('addNode whose deadline passes while its worker starts ends then, TIMEOUT and definite; the node goes', async (t) => {
  const { cluster, events, dataDir } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  const before = cluster.status().membership;
  const started = Date.now();
  const error = await t.throwsAsync(cluster.addNode({ timeoutMs: SHORT_TIMEOUT_MS }));
  const took = Date.now() - started;
  t.log(`${error?.message} (after ${took} ms)`);
  t.true(error instanceof RaftlabError);
  t.is((error as RaftlabError).code, ErrorCode.Timeout);
  t.false((error as RaftlabError).indeterminate, 'nothing was proposed');
  t.false(
    events.some((event) => event.kind === EventKind.NodeAdded),
    'it ended before the worker had started (node-added comes once it has)',
  );
  // The half-started node is stopped and forgotten; nothing changed; the next add works.
  await cluster.waitFor((status) => status.nodes.length === 3 && cluster.nodeIds.length === 3, WAIT_MS, 'the node that was not added gone');
  t.deepEqual(cluster.status().membership, before);
  const id = await cluster.addNode({ timeoutMs: WAIT_MS });
  t.true(id > 4, `a new id (${id}), never the one the stopped node had`);
  await cluster.stop();
  const again = await Cluster.start({ dataDir });
  t.teardown(() => again.stop());
  t.deepEqual(again.nodeIds, [1, 2, 3, id]);
});
