// The snippet of README.md's "Using it as a library" (DESIGN.md's), as a user writes it: `import { Cluster } from 'raftlab'`
// (resolved through package.json "exports", as for an installed package).

import test from 'ava';
import { rmSync } from 'node:fs';
import { tempDir } from './helpers/cluster.js';

test.serial('the README snippet (Using it as a library) works through the package entry point', async (t) => {
  const { Cluster, RaftlabError } = await import('raftlab');
  const dataDir = tempDir('raftlab-api-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));

  const cluster = await Cluster.start({ nodes: 5, dataDir });
  const events: string[] = [];
  cluster.on('event', (e: { text: string }) => events.push(e.text));
  try {
    await cluster.waitForLeader(10_000);
    const kv = cluster.client();
    await kv.put('x', 1);
    t.is(await kv.get('x'), 1);
    await kv.append('log', 'a');
    t.deepEqual(await kv.get('log'), ['a']);
    t.true(await kv.cas('x', 1, 2));
    t.false(await kv.cas('x', 1, 3));
    await kv.delete('x');
    t.is(await kv.get('x'), null);

    await cluster.crash(2);
    t.false(cluster.status().nodes[1]!.alive);
    await cluster.restart(2);
    cluster.partition([[1, 2], [3, 4, 5]]);
    cluster.heal();
    await kv.put('after', 'heal');
    t.is(await kv.get('after'), 'heal');

    // The snippet's membership lines, in its order.
    const id = await cluster.addNode();
    const learner = await cluster.addNode({ learner: true });
    t.deepEqual(cluster.status().membership, { voters: [1, 2, 3, 4, 5, id], learners: [learner] });
    await cluster.removeNode(1);
    t.deepEqual(await cluster.setVoters([3, 4, 5]), { voters: [3, 4, 5], learners: [learner] });
    // Exactly these learners: voter 5 demoted, and the learner not named leaves.
    t.deepEqual(await cluster.setVoters([3, 4], { learners: [5] }), { voters: [3, 4], learners: [5] });
    t.deepEqual([...cluster.nodeIds].sort((a, b) => a - b), [3, 4, 5]);
    t.is(await kv.get('after'), 'heal');

    const status = cluster.status();
    t.is(status.nodes.length, 3);
    for (const node of status.nodes) {
      t.true(['id', 'alive', 'role', 'term', 'leaderId', 'commitIndex', 'appliedIndex', 'lastLogIndex', 'snapshotIndex'].every((field) => field in node));
    }
    t.true(events.some((text) => text.includes('crashed')), events.join('\n'));
    t.true(events.some((text) => text.includes('restarted')), events.join('\n'));
    t.true(events.some((text) => text.includes('partition')), events.join('\n'));
    t.true(events.some((text) => text.includes('healed')), events.join('\n'));
    t.true(events.some((text) => text.includes('left the cluster')), events.join('\n'));

    const error = await t.throwsAsync(() => kv.put('', 1));
    t.true(error instanceof RaftlabError);
    t.is((error as InstanceType<typeof RaftlabError>).code, 'INVALID_KEY');
  } finally {
    await cluster.stop();
  }
});
