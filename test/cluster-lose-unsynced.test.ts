// crash(id, { loseUnsynced: true }) cuts a node's WAL back to the position its worker last
// published as synced. A compaction writes its snapshot record, synced, into a fresh
// segment and deletes the segments it covers; the position was published only by the
// next sync, so a crash in between deleted the synced segment too, and with the old ones
// already gone the node came back with no WAL at all: term 0, its vote forgotten (check
// --seed 2958: three such nodes, asking for votes in term 1 with a log of a later term,
// never elected a leader again).

import test from 'ava';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, startCluster } from './helpers/cluster.js';

const SNAPSHOT_ENTRIES = 4;

test.serial('a crash losing unsynced writes right after a compaction keeps the snapshot record and the term', async (t) => {
  const { cluster, events, dataDir } = await startCluster(t, { nodes: 1, fsync: true, snapshotEntries: SNAPSHOT_ENTRIES });
  await cluster.waitForLeader(10_000);
  const kv = cluster.client();
  const compactedUpTo = (): number[] =>
    events.filter((event) => event.kind === 'log-compacted').map((event) => Number(/up to index (\d+)/.exec(event.text)?.[1] ?? NaN));
  // Write until a compaction covers the whole log: then every segment before the fresh
  // one is deleted, and nothing is written after it (one node, no other writes).
  let covered = 0;
  for (let i = 0; i < 6 * SNAPSHOT_ENTRIES && covered === 0; i++) {
    await kv.put(`k${i}`, i);
    const applied = cluster.status().nodes[0]!.appliedIndex;
    const due = compactedUpTo().length + 1;
    // A compaction is due about every SNAPSHOT_ENTRIES applied entries: wait for it when one may come.
    try {
      await eventually(() => compactedUpTo().length >= due && compactedUpTo().at(-1)! >= applied, 300, `a compaction up to ${applied}`);
    } catch {
      continue;
    }
    await eventually(() => cluster.status().nodes[0]!.snapshotIndex === compactedUpTo().at(-1), 5_000, 'the status to show the snapshot');
    const node = cluster.status().nodes[0]!;
    if (node.snapshotIndex === node.lastLogIndex) covered = node.snapshotIndex;
  }
  t.true(covered > 0, `no compaction covered the whole log; events:\n${events.map((event) => event.text).join('\n')}`);
  const termBefore = cluster.status().nodes[0]!.term;
  const walBefore = readdirSync(join(dataDir, 'node-1')).filter((name) => name.startsWith('wal-')).sort();
  await cluster.crash(1, { loseUnsynced: true });
  const walAfter = readdirSync(join(dataDir, 'node-1')).filter((name) => name.startsWith('wal-') && name.endsWith('.log')).sort();
  const crash = events.find((event) => event.kind === 'crash')!.text;
  t.log(`compaction up to ${covered}, term ${termBefore}; WAL ${walBefore.join(' ')} -> ${walAfter.join(' ')}; ${crash}`);
  t.regex(crash, /losing 0 unsynced bytes/, 'nothing was written after the synced snapshot record');
  const recovery = await cluster.restart(1);
  t.is(recovery.term, termBefore, `the restarted node's term (WAL ${walAfter.join(' ') || 'gone'})`);
  await cluster.waitForLeader(10_000);
  t.is(await kv.get('k0'), 0);
});
