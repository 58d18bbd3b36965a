// The cluster as a program that embeds it uses it (the embedder audit): stop() from two
// places at once, waits cut short by stop().

import test from 'ava';
import { rmSync } from 'node:fs';
import { Cluster } from '../lib/cluster/cluster.js';
import { ErrorCode, RaftlabError } from '../lib/cluster/errors.js';
import { startCluster, tempDir } from './helpers/cluster.js';

const WAIT_MS = 15_000;

test.serial('a second stop() while the first runs resolves only once the nodes are down and the directory is free', async (t) => {
  const dataDir = tempDir('raftlab-embed-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const cluster = await Cluster.start({ nodes: 3, dataDir, fsync: false });
  await cluster.waitForLeader(WAIT_MS);
  const first = cluster.stop();
  await cluster.stop();
  t.true(cluster.status().nodes.every((node) => !node.alive), 'no node runs once the second stop() resolved');
  // A signal handler and a finally block both stop, then the directory is started again.
  const again = await Cluster.start({ dataDir, fsync: false });
  await again.stop();
  await first;
  await cluster.stop();
  t.pass();
});

test.serial('waitFor and waitForLeader in progress end at stop() with CLUSTER_STOPPED, and a predicate that throws fails its wait', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3, fsync: false });
  await cluster.waitForLeader(WAIT_MS);
  const thrown = new Error('the caller\'s predicate broke');
  await t.throwsAsync(
    cluster.waitFor(() => {
      throw thrown;
    }, WAIT_MS),
    { is: thrown },
  );
  const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  const timersBefore = timers();
  const waiting = cluster.waitFor(() => false, 60_000, 'nothing');
  const stoppedAt = Date.now();
  await cluster.stop();
  const error = await t.throwsAsync(waiting, { instanceOf: RaftlabError });
  t.is(error?.code, ErrorCode.ClusterStopped, error?.message);
  t.true(Date.now() - stoppedAt < 5000, 'at stop(), not at its 60 s deadline');
  t.true(timers() <= timersBefore, 'and no timer of it is left');
});
