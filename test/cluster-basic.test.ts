// Functional tests of the real cluster: worker threads, MessagePorts, WAL files.

import test from 'ava';
import { rmSync } from 'node:fs';
import { Cluster } from '../lib/cluster/cluster.js';
import { RaftlabError } from '../lib/cluster/errors.js';
import type { ErrorCode } from '../lib/cluster/errors.js';
import { SLOW_FSYNC_THRESHOLDS_MS } from '../lib/cluster/types.js';
import { eventually, startCluster, tempDir } from './helpers/cluster.js';

for (const nodes of [3, 5]) {
  test.serial(`a ${nodes}-node cluster elects one leader and serves puts and gets`, async (t) => {
    const { cluster } = await startCluster(t, { nodes });
    const leader = await cluster.waitForLeader(10_000);
    t.true(leader >= 1 && leader <= nodes);
    const kv = cluster.client();
    await kv.put('x', 1);
    t.is(await kv.get('x'), 1);
    await kv.put('x', { nested: [1, 'two', null] });
    t.deepEqual(await kv.get('x'), { nested: [1, 'two', null] });
    t.is(await kv.get('absent'), null);
    await kv.append('log', 'a');
    await kv.append('log', 'b');
    t.deepEqual(await kv.get('log'), ['a', 'b']);
    t.true(await kv.cas('x', { nested: [1, 'two', null] }, 2));
    t.false(await kv.cas('x', 1, 3));
    t.is(await kv.get('x'), 2);
    await kv.delete('x');
    t.is(await kv.get('x'), null);
    const status = cluster.status();
    t.is(status.nodes.filter((node) => node.role === 'leader').length, 1);
    // Every node synced its WAL (fsync is on by default) and counts its slow fdatasyncs:
    // over 1, 5 and 20 ms, each a part of the one before and of all its fdatasyncs.
    const synced = await eventually(() => {
      const nodes = cluster.status().nodes;
      return nodes.every((node) => node.fsyncCount > 0) ? nodes : null;
    }, 10_000, 'every node reports an fdatasync');
    for (const node of synced) {
      t.is(node.slowFsyncs.length, SLOW_FSYNC_THRESHOLDS_MS.length, `node ${node.id}`);
      t.true(node.slowFsyncs.every((count, i) => Number.isInteger(count) && count >= 0 && count <= (i === 0 ? node.fsyncCount : node.slowFsyncs[i - 1]!)), `node ${node.id}: ${JSON.stringify(node.slowFsyncs)} of ${node.fsyncCount}`);
      // The log's terms as runs (the dashboard's log strip): from the first entry, and
      // every recent entry's term is its run's.
      const runs = node.logTerms;
      t.is(runs[0]?.first, 1, `node ${node.id}: ${JSON.stringify(runs)}`);
      t.is(runs.at(-1)?.term, node.lastLogTerm, `node ${node.id}`);
      t.true(node.recentEntries.length > 0);
      for (const entry of node.recentEntries) {
        t.is(runs.filter((run) => run.first <= entry.index).at(-1)?.term, entry.term, `node ${node.id}, entry ${entry.index}`);
      }
    }
  });
}

test.serial('followers space their fdatasyncs as told, and the spacing is checked', async (t) => {
  for (const followerSyncSpacingMs of [-1, 11, Number.NaN]) {
    await t.throwsAsync(() => Cluster.start({ nodes: 1, followerSyncSpacingMs }), { instanceOf: RaftlabError, message: /followerSyncSpacingMs/ });
  }
  const spacingMs = 10;
  const { cluster } = await startCluster(t, { nodes: 3, followerSyncSpacingMs: spacingMs });
  const leader = await cluster.waitForLeader(10_000);
  const kv = cluster.client();
  await kv.put('warm-up', 0);
  const before = new Map(cluster.status().nodes.map((node) => [node.id, node.fsyncCount]));
  const startedAt = performance.now();
  // 64 writers for about a second: unspaced, a follower would fdatasync once per batch.
  let written = 0;
  await Promise.all(
    Array.from({ length: 64 }, async (_, writer) => {
      while (performance.now() - startedAt < 1000) await kv.put(`w${writer}`, written++);
    }),
  );
  // Counts as of each node's next status report (every 100 ms), taken after the writes.
  const reportedAfter = await eventually(() => {
    const nodes = cluster.status().nodes;
    return nodes.every((node) => node.fsyncCount > before.get(node.id)!) ? nodes : null;
  }, 10_000, 'every node reports fdatasyncs after the writes');
  const elapsedMs = performance.now() - startedAt;
  t.true(written > 0);
  for (const node of reportedAfter) {
    if (node.id === leader) continue;
    const synced = node.fsyncCount - before.get(node.id)!;
    // A status report can be up to one interval older than the snapshot taken before.
    const bound = Math.ceil((elapsedMs + 100) / spacingMs) + 1;
    t.true(synced <= bound, `follower ${node.id}: ${synced} fdatasyncs in ${elapsedMs.toFixed(0)} ms with ${spacingMs} ms spacing (at most ${bound})`);
  }
  t.is(await kv.get('w0') === null, false, 'the writes went through');
});

test.serial('data survives a full stop and start on the same files', async (t) => {
  const dataDir = tempDir();
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await Cluster.start({ nodes: 3, dataDir });
  try {
    await first.waitForLeader(10_000);
    const kv = first.client();
    await Promise.all(Array.from({ length: 200 }, (_, i) => kv.put(`k${i}`, i)));
    await kv.append('list', 'survives');
  } finally {
    await first.stop();
  }
  const second = await Cluster.start({ nodes: 3, dataDir });
  t.teardown(() => second.stop());
  await second.waitForLeader(10_000);
  const kv = second.client();
  t.deepEqual(await kv.get('list'), ['survives']);
  const values = await Promise.all(Array.from({ length: 200 }, (_, i) => kv.get(`k${i}`)));
  t.deepEqual(values, Array.from({ length: 200 }, (_, i) => i));
});

test.serial('bad input gets definite errors with stable codes and loses nothing', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3, maxValueBytes: 1024 });
  await cluster.waitForLeader(10_000);
  const kv = cluster.client();
  await kv.put('keep', 'me');
  const cases: [string, () => Promise<unknown>, ErrorCode][] = [
    ['empty key', () => kv.put('', 1), 'INVALID_KEY'],
    ['oversized key', () => kv.put('k'.repeat(2000), 1), 'INVALID_KEY'],
    ['oversized value', () => kv.put('big', 'x'.repeat(5000)), 'VALUE_TOO_LARGE'],
    ['non-JSON value', () => kv.put('nan', Number.NaN as unknown as number), 'INVALID_VALUE'],
  ];
  for (const [name, call, code] of cases) {
    const error = await t.throwsAsync(call, undefined, name);
    t.true(error instanceof RaftlabError, name);
    t.is((error as RaftlabError).code, code, name);
    t.false((error as RaftlabError).indeterminate, name);
  }
  await kv.put('scalar', 1);
  const notAList = await t.throwsAsync(() => kv.append('scalar', 'x'));
  t.is((notAList as RaftlabError).code, 'NOT_A_LIST');
  t.false((notAList as RaftlabError).indeterminate);
  t.is(await kv.get('keep'), 'me');
  t.is(await kv.get('big'), null);
  // A deadline no call fits in, or one a timer cannot hold, is refused when the client is made.
  for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
    const error = t.throws(() => cluster.client({ timeoutMs }), { instanceOf: RaftlabError }, `timeoutMs ${timeoutMs}`);
    t.is(error?.code, 'INVALID_ARGUMENT');
  }
  t.is(await cluster.client({ timeoutMs: 2000 }).get('keep'), 'me');
});

test.serial('invalid cluster options are refused with a code', async (t) => {
  const error = await t.throwsAsync(() => Cluster.start({ nodes: 0 }));
  t.is((error as RaftlabError).code, 'INVALID_CONFIG');
  const tooMany = await t.throwsAsync(() => Cluster.start({ nodes: 12 }));
  t.is((tooMany as RaftlabError).code, 'INVALID_CONFIG');
});
