// Membership on the real cluster: what a start on a directory that ran before says
// about the configuration its nodes recovered. Waits are bounded.

import test from 'ava';
import type { ClusterEvent } from '../lib/cluster/types.js';
import { Cluster } from '../lib/cluster/cluster.js';
import { startCluster, tempDir } from './helpers/cluster.js';

const WAIT_MS = 10_000;

// A voter that was down while a learner was promoted still holds the older configuration
// (voters 1,2,3; learners 4). The start used to name the learners of the first status
// report from any node: when the stale node reported first it said "n4 is a learner"
// though n4 is a voter. Which node reports first varies, so a few starts are tried.
test.serial('a start never names a voter as a learner, though a stale node reports first', async (t) => {
  const dataDir = tempDir();
  const { cluster } = await startCluster(t, { nodes: 3, dataDir });
  await cluster.waitForLeader(WAIT_MS);
  const added = await cluster.addNode({ learner: true, timeoutMs: WAIT_MS });
  const leader = await cluster.waitForLeader(WAIT_MS);
  const stale = [1, 2, 3].find((id) => id !== leader)!;
  await cluster.crash(stale);
  await cluster.promote(added, { timeoutMs: WAIT_MS });
  await cluster.stop();
  const wrong: string[] = [];
  for (let attempt = 0; attempt < 4; attempt++) {
    const again = await Cluster.start({ dataDir });
    try {
      const events: ClusterEvent[] = [...again.startEvents];
      again.on('event', (event: ClusterEvent) => events.push(event));
      // Past the first report of every node, and a leader's configuration committed.
      await again.waitFor(
        (s) => s.nodes.every((node) => node.reportedAt > 0) && s.nodes.some((node) => node.role === 'leader' && node.membershipIndex <= node.commitIndex),
        WAIT_MS,
        'every node reported and a leader committed its configuration',
      );
      const said = events.filter((e) => /is a learner|are learners/.test(e.text)).map((e) => e.text);
      t.log(`start ${attempt}: voters ${again.status().membership.voters.join(',')}; ${said.join(' / ') || 'no learner named'}`);
      wrong.push(...said.filter((text) => text.includes(`n${added} is a learner`)));
    } finally {
      await again.stop();
    }
  }
  t.deepEqual(wrong, []);
});
