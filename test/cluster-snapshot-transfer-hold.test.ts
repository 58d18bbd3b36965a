// A leader holds its compaction while a follower is being sent its snapshot, or is
// catching up from it, for as long as that follower keeps answering (up to a bound of
// its own). Before the thirty-first session the hold lapsed after ten compaction periods
// whatever the transfer was doing: with snapshots every few entries sent in chunks of a
// few bytes, the leader compacted in the middle of every transfer, each one started over
// with the newer snapshot, and a follower never caught up while writes went on
// (`raftlab check` seeds 3222, 3227, 3228 and 3231: CATCH_UP_TIMEOUT). Waits are on
// status and events, with bounded timeouts.

import test from 'ava';
import { EventKind } from '../lib/cluster/types.js';
import { eventually, startCluster } from './helpers/cluster.js';

const SNAPSHOT_ENTRIES = 4;
const CHUNK_BYTES = 8;
const KEYS = 300;

test.serial('a follower sent a snapshot in tiny chunks while writes go on catches up: the leader does not compact under the transfer', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3, snapshotEntries: SNAPSHOT_ENTRIES, snapshotChunkBytes: CHUNK_BYTES });
  const kv = cluster.client({ timeoutMs: 10_000 });
  const leader = await cluster.waitForLeader(10_000);
  await kv.put('warm-up', true);
  const follower = cluster.nodeIds.find((id) => id !== leader)!;
  await cluster.crash(follower);

  // A state machine of some 20 KB: about 2,500 chunks of 8 bytes, four in flight.
  for (let start = 0; start < KEYS; start += 10) {
    const batch: Promise<void>[] = [];
    for (let i = start; i < Math.min(KEYS, start + 10); i++) batch.push(kv.put(`key${i}`, `${i}:`.padEnd(60, 'v')));
    await Promise.all(batch);
  }
  const leaderNow = () => cluster.status().nodes[(cluster.status().leaderId || leader) - 1]!;
  await eventually(() => leaderNow().snapshotIndex > KEYS / 2, 10_000, 'the leader to compact past the follower');

  // Writes go on, a few in flight, while the follower comes back: ten periods are 40
  // entries, far fewer than the transfer takes.
  let writing = true;
  let written = 0;
  const writer = (async () => {
    while (writing) {
      await Promise.all([0, 1, 2, 3].map((lane) => kv.put(`w${lane}`, written++)));
    }
  })();
  try {
    await cluster.restart(follower);
    const target = leaderNow().commitIndex;
    const caughtUp = await eventually(() => {
      const status = cluster.status().nodes[follower - 1]!;
      return status.alive && status.appliedIndex >= target ? status : null;
    }, 30_000, `node ${follower} to install the leader's snapshot and apply up to ${target}`);
    const installs = events.filter((event) => event.kind === EventKind.SnapshotInstalled && event.node === follower);
    t.log(`node ${follower} applied ${caughtUp.appliedIndex} (target ${target}) after ${installs.length} snapshot install(s), ${written} writes meanwhile`);
    for (const event of installs) t.log(event.text);
    t.true(installs.length >= 1, 'the follower caught up through a snapshot');
    // One transfer, give or take chunks sent again: without the hold the follower stepped
    // 153,552 chunks for a snapshot of 21,055 bytes (2,632 chunks) and took 10 s, not 2.
    let chunks = 0;
    let needed = 0;
    for (const event of installs) {
      const told = /\((?:was at \d+, )?(\d+) bytes in (\d+) chunks\)/.exec(event.text);
      if (told === null) return t.fail(`unexpected event text: ${event.text}`);
      needed = Math.max(needed, Math.ceil(Number(told[1]) / CHUNK_BYTES));
      chunks += Number(told[2]);
    }
    t.true(chunks <= 3 * needed, `${chunks} chunks stepped for snapshots of at most ${needed} chunks`);
    t.true(written > 10 * SNAPSHOT_ENTRIES, `writes went on meanwhile (${written})`);
  } finally {
    writing = false;
    await writer;
  }
});
