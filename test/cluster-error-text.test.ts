// An error says what it was given. The messages wrote the value as JSON, where NaN and
// the infinities read `null`: `Cluster.start({ nodes: NaN })` was "nodes must be an
// integer from 1 to 9, got null", which sent its caller looking for a null.

import test from 'ava';
import { rmSync } from 'node:fs';
import { Cluster } from '../lib/cluster/cluster.js';
import { RaftlabError, describeGiven } from '../lib/cluster/errors.js';
import { startCluster, tempDir } from './helpers/cluster.js';

test('describeGiven writes numbers as JavaScript does, the rest as JSON', (t) => {
  t.is(describeGiven(Number.NaN), 'NaN');
  t.is(describeGiven(Number.POSITIVE_INFINITY), 'Infinity');
  t.is(describeGiven(-1), '-1');
  t.is(describeGiven(10n), '10');
  t.is(describeGiven('4096'), '"4096"');
  t.is(describeGiven(null), 'null');
  t.is(describeGiven(undefined), 'undefined');
  t.is(describeGiven([1, 'a']), '[1,"a"]');
  const cyclic: { self?: unknown } = {};
  cyclic.self = cyclic;
  t.is(describeGiven(cyclic), '[object Object]');
});

test('Cluster.start names a NaN or an infinite option as such', async (t) => {
  const dataDir = tempDir();
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const nodes = await t.throwsAsync(Cluster.start({ nodes: Number.NaN, dataDir }), { instanceOf: RaftlabError });
  t.is(nodes?.code, 'INVALID_CONFIG');
  t.regex(nodes?.message ?? '', /^nodes must be an integer from 1 to 9, got NaN$/);
  const spacing = await t.throwsAsync(Cluster.start({ nodes: 1, followerSyncSpacingMs: Number.POSITIVE_INFINITY, dataDir }), { instanceOf: RaftlabError });
  t.is(spacing?.code, 'INVALID_CONFIG');
  t.regex(spacing?.message ?? '', /, got Infinity$/);
});

test('a running cluster\'s calls name a NaN they were given as NaN', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 1 });
  const wait = await t.throwsAsync(cluster.waitFor(() => true, Number.NaN, 'anything'), { instanceOf: RaftlabError });
  t.is(wait?.code, 'INVALID_ARGUMENT');
  t.regex(wait?.message ?? '', /, got NaN$/);
  const add = await t.throwsAsync(cluster.addNode({ timeoutMs: Number.NaN }), { instanceOf: RaftlabError });
  t.is(add?.code, 'INVALID_ARGUMENT');
  t.regex(add?.message ?? '', /, got NaN$/);
  const crash = await t.throwsAsync(cluster.crash(Number.NaN), { instanceOf: RaftlabError });
  t.is(crash?.code, 'INVALID_ARGUMENT');
  t.regex(crash?.message ?? '', /got NaN \(number\)$/);
  t.deepEqual(cluster.nodeIds, [1], 'nothing was added');
});

test('isolating the only node says so, in its own words', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 1 });
  const error = t.throws(() => cluster.isolate(1), { instanceOf: RaftlabError });
  t.is(error?.code, 'INVALID_ARGUMENT');
  t.is(error?.message, 'node 1 is the only node: there is no other to cut it off from');
  t.is(cluster.status().partition, null, 'nothing was cut');
});
