// Membership on the real cluster: calls that race a membership change (restart, crash
// and stop against removeNode). Waits are bounded.

import test from 'ava';
import { ErrorCode, RaftlabError } from '../lib/cluster/errors.js';
import { startCluster } from './helpers/cluster.js';

const WAIT_MS = 10_000;
const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const codeOf = (error: unknown): string => (error instanceof RaftlabError ? error.code : String(error));

// A restarted worker whose 'started' came after removeNode forgot its node used to be
// wired to a slot that was gone: slot() threw UNKNOWN_NODE in a worker listener, an
// uncaught exception that ended the process. Now a node whose removal committed is
// refused by restart and crash, and a worker that starts for it joins nothing.
test.serial('restart(id) and crash(id) racing removeNode(id) neither crash the process nor leave a worker behind', async (t) => {
  for (let round = 0; round < 3; round++) {
    const { cluster } = await startCluster(t, { nodes: 3 });
    await cluster.waitForLeader(WAIT_MS);
    const victim = cluster.nodeIds.find((id) => id !== cluster.status().leaderId)!;
    let done = false;
    const removal = cluster.removeNode(victim, { timeoutMs: WAIT_MS }).finally(() => {
      done = true;
    });
    const codes = new Set<string>();
    while (!done) {
      await nextMacrotask();
      await cluster.crash(victim).catch((error: unknown) => codes.add(codeOf(error)));
      await cluster.restart(victim).catch((error: unknown) => codes.add(codeOf(error)));
    }
    await removal;
    t.log(`round ${round}: refusals ${[...codes].join(', ')}`);
    t.false(cluster.nodeIds.includes(victim));
    t.false(cluster.status().nodes.some((node) => node.id === victim));
    await t.throwsAsync(cluster.restart(victim), { code: ErrorCode.UnknownNode });
    await cluster.stop();
  }
});
