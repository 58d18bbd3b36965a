// Cluster.start on a directory that already holds a cluster: its own nodes start,
// whatever `nodes` says; a node whose files refuse to load stays down while the others
// start; a node with no files, or a torn tail, is reported in startEvents.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../lib/cluster/cluster.js';
import { BREAKING_FILE, DataDirLock, LOCK_FILE, lockTestHooks } from '../lib/cluster/dir-lock.js';
import { ErrorCode, RaftlabError } from '../lib/cluster/errors.js';
import { EventKind } from '../lib/cluster/types.js';
import { walFiles, walOwnerOf } from '../lib/storage/file-storage.js';
import { eventually, tempDir } from './helpers/cluster.js';

const WAIT_MS = 15_000;

function scratch(t: ExecutionContext): string {
  const dataDir = tempDir('raftlab-start-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  return dataDir;
}

/** Starts, writes `writes` (key -> value), stops. */
async function runAndStop(dataDir: string, nodes: number, writes: Record<string, number>): Promise<void> {
  const cluster = await Cluster.start({ nodes, dataDir });
  try {
    await cluster.waitForLeader(WAIT_MS);
    const kv = cluster.client();
    for (const [key, value] of Object.entries(writes)) await kv.put(key, value);
  } finally {
    await cluster.stop();
  }
}

async function started(t: ExecutionContext, options: Parameters<typeof Cluster.start>[0]): Promise<Cluster> {
  const cluster = await Cluster.start(options);
  t.teardown(() => cluster.stop());
  t.log(`cluster seed ${cluster.seed}; start events:\n${cluster.startEvents.map((e) => `  ${e.kind} n${e.node}: ${e.text}`).join('\n')}`);
  return cluster;
}

function lastSegment(dir: string): string {
  const names = walFiles(dir);
  return join(dir, names[names.length - 1]!);
}

test.serial('a new directory records its nodes in cluster.json at the first start', async (t) => {
  const dataDir = scratch(t);
  const cluster = await started(t, { nodes: 3, dataDir });
  const { cluster: id, ...manifest } = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { cluster: string };
  t.deepEqual(manifest, { format: 1, bootstrap: [1, 2, 3], nodes: [1, 2, 3], initialized: [1, 2, 3], highestId: 3 });
  t.regex(id, /^[0-9a-f]{32}$/, 'and a cluster id');
  // Each node's WAL names it, with the node's own id, from its first write (its first term).
  await cluster.waitForLeader(WAIT_MS);
  await eventually(() => [1, 2, 3].every((node) => walOwnerOf(join(dataDir, `node-${node}`)) !== null), WAIT_MS, 'every node to write its WAL');
  t.deepEqual(
    [1, 2, 3].map((node) => walOwnerOf(join(dataDir, `node-${node}`))),
    [1, 2, 3].map((node) => ({ cluster: id, node })),
  );
  t.is(cluster.startFailures.size, 0);
  t.false(cluster.startEvents.some((e) => /WARNING|does not apply/.test(e.text)), 'nothing to warn of in a new directory');
});

test.serial('a 3-node directory started with nodes: 1 or 5 starts its own 3 nodes and says so; no write is lost', async (t) => {
  const dataDir = scratch(t);
  await runAndStop(dataDir, 3, { a: 1 });
  for (const nodes of [1, 5]) {
    const cluster = await Cluster.start({ nodes, dataDir });
    try {
      t.deepEqual(cluster.nodeIds, [1, 2, 3], `nodes: ${nodes}`);
      t.true(
        cluster.startEvents.some((e) => e.kind === EventKind.Info && e.text.includes(`nodes: ${nodes} does not apply`) && e.text.includes('n1,n2,n3')),
        'the start says the option did not apply',
      );
      await cluster.waitForLeader(WAIT_MS);
      t.is(await cluster.client().get('a'), 1);
      // With node 1 down the other two still form the majority: node 1 alone never did.
      await cluster.crash(1);
      await cluster.client().put(`b${nodes}`, nodes);
    } finally {
      await cluster.stop();
    }
  }
  const cluster = await started(t, { dataDir });
  await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client();
  t.deepEqual([await kv.get('a'), await kv.get('b1'), await kv.get('b5')], [1, 1, 5]);
});

test.serial('a directory from before cluster.json was written at every start: its node directories decide, and the file is written', async (t) => {
  const dataDir = scratch(t);
  await runAndStop(dataDir, 3, { a: 1 });
  const { cluster: id } = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { cluster: string };
  rmSync(join(dataDir, 'cluster.json'));
  const cluster = await started(t, { nodes: 1, dataDir });
  t.deepEqual(cluster.nodeIds, [1, 2, 3]);
  // The cluster id comes back from the nodes' WALs, which name it.
  t.deepEqual(JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')), { format: 1, cluster: id, bootstrap: [1, 2, 3], nodes: [1, 2, 3], initialized: [1, 2, 3], highestId: 3 });
  await cluster.waitForLeader(WAIT_MS);
  t.is(await cluster.client().get('a'), 1);
});

test.serial('node directories that are not 1..K, with no cluster.json, are refused with INVALID_CONFIG', async (t) => {
  const dataDir = scratch(t);
  await runAndStop(dataDir, 3, { a: 1 });
  rmSync(join(dataDir, 'cluster.json'));
  rmSync(join(dataDir, 'node-2'), { recursive: true });
  const error = await t.throwsAsync(Cluster.start({ dataDir }), { instanceOf: RaftlabError });
  t.is(error?.code, ErrorCode.InvalidConfig);
  t.regex(error?.message ?? '', /node-1, node-3 but no cluster\.json/);
  t.false(existsSync(join(dataDir, 'cluster.json')), 'nothing was written');
});

test.serial('a node whose WAL is corrupt stays down, its files untouched; the others start and serve', async (t) => {
  const dataDir = scratch(t);
  await runAndStop(dataDir, 3, { a: 1, b: 2, c: 3 });
  const segment = lastSegment(join(dataDir, 'node-2'));
  const bytes = readFileSync(segment);
  bytes[60] = bytes[60]! ^ 0xff;
  writeFileSync(segment, bytes);
  const cluster = await started(t, { dataDir });
  t.deepEqual([...cluster.startFailures.keys()], [2]);
  t.is(cluster.startFailures.get(2)?.code, 'WAL_CORRUPT');
  t.true(cluster.startEvents.some((e) => e.kind === EventKind.Crash && e.node === 2 && /WAL corrupt: .*node-2.* stays down/.test(e.text)));
  t.false(cluster.startEvents.some((e) => /exited unexpectedly/.test(e.text)), 'its exit is the failure reported, not a second crash');
  t.false(cluster.status().nodes.find((n) => n.id === 2)!.alive);
  await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client();
  t.deepEqual([await kv.get('a'), await kv.get('c')], [1, 3]);
  await kv.put('d', 4);
  t.true(readFileSync(segment).equals(bytes), 'node 2\'s WAL is as it was');
  const again = await t.throwsAsync(cluster.restart(2), { instanceOf: RaftlabError });
  t.is(again?.code, 'WAL_CORRUPT');
});

test.serial('a node whose WAL was copied in from another cluster (same id, same bootstrap voters) stays down with WAL_FOREIGN; the others start and serve', async (t) => {
  const dataDir = scratch(t);
  const otherDir = scratch(t);
  await runAndStop(dataDir, 3, { a: 1 });
  await runAndStop(otherDir, 3, { a: 2, b: 2 });
  // Node 2's directory of the other cluster, identity.json and all (it is the same: node 2 of 1, 2, 3).
  rmSync(join(dataDir, 'node-2'), { recursive: true });
  cpSync(join(otherDir, 'node-2'), join(dataDir, 'node-2'), { recursive: true });
  const segment = lastSegment(join(dataDir, 'node-2'));
  const bytes = readFileSync(segment);
  const cluster = await started(t, { dataDir });
  t.deepEqual([...cluster.startFailures.keys()], [2]);
  t.is(cluster.startFailures.get(2)?.code, ErrorCode.WalForeign, cluster.startFailures.get(2)?.message);
  t.regex(cluster.startFailures.get(2)?.message ?? '', /belongs to node 2 of cluster [0-9a-f]{32}, but is opened as node 2 of cluster [0-9a-f]{32}/);
  await cluster.waitForLeader(WAIT_MS);
  t.is(await cluster.client().get('a'), 1, 'this cluster\'s value');
  t.true(readFileSync(segment).equals(bytes), 'node 2\'s WAL is as it was');
  const again = await t.throwsAsync(cluster.restart(2), { instanceOf: RaftlabError });
  t.is(again?.code, ErrorCode.WalForeign);
});

test.serial('a cluster.json without a cluster id whose nodes\' WALs name two clusters is refused with INVALID_CONFIG', async (t) => {
  const dataDir = scratch(t);
  const otherDir = scratch(t);
  await runAndStop(dataDir, 3, { a: 1 });
  await runAndStop(otherDir, 3, { a: 2 });
  rmSync(join(dataDir, 'node-3'), { recursive: true });
  cpSync(join(otherDir, 'node-3'), join(dataDir, 'node-3'), { recursive: true });
  const manifestPath = join(dataDir, 'cluster.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
  delete manifest.cluster;
  writeFileSync(manifestPath, JSON.stringify(manifest));
  const error = await t.throwsAsync(Cluster.start({ dataDir }), { instanceOf: RaftlabError });
  t.is(error?.code, ErrorCode.InvalidConfig);
  t.regex(error?.message ?? '', /names no cluster id, and the nodes' WALs name several: node\(s\) 1, 2 of cluster [0-9a-f]{32}; node\(s\) 3 of cluster/);
});

test.serial('a start fails when no node starts, with the file error', async (t) => {
  const dataDir = scratch(t);
  await runAndStop(dataDir, 1, { a: 1 });
  const segment = lastSegment(join(dataDir, 'node-1'));
  const bytes = readFileSync(segment);
  bytes[60] = bytes[60]! ^ 0xff;
  writeFileSync(segment, bytes);
  const error = await t.throwsAsync(Cluster.start({ dataDir }), { instanceOf: RaftlabError });
  t.is(error?.code, 'WAL_CORRUPT', error?.message);
});

test.serial('a node that wrote its files before and has none stays down with NODE_FILES_MISSING; removed and replaced, the cluster is whole', async (t) => {
  const dataDir = scratch(t);
  await runAndStop(dataDir, 3, { a: 1 });
  rmSync(join(dataDir, 'node-3'), { recursive: true });
  const cluster = await started(t, { dataDir });
  t.is(cluster.startFailures.get(3)?.code, ErrorCode.NodeFilesMissing, cluster.startFailures.get(3)?.message);
  t.regex(cluster.startFailures.get(3)?.message ?? '', /node 3 has no WAL and no snapshot .* wrote them before .*removeNode\(3\)/);
  t.false(cluster.status().nodes.find((node) => node.id === 3)?.alive, 'node 3 is down');
  t.false(existsSync(join(dataDir, 'node-3', 'wal-0000000001.log')), 'nothing was written for it');
  await cluster.waitForLeader(WAIT_MS);
  t.is(await cluster.client().get('a'), 1);
  const again = await t.throwsAsync(cluster.restart(3), { instanceOf: RaftlabError });
  t.is(again?.code, ErrorCode.NodeFilesMissing, 'restart refuses it too');
  await cluster.removeNode(3);
  const added = await cluster.addNode();
  t.is(added, 4);
  const manifest = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { nodes: number[]; initialized: number[] };
  t.deepEqual(manifest.nodes, [1, 2, 4]);
  t.deepEqual(manifest.initialized, [1, 2, 4]);
});

test.serial('a running node whose files are wiped is refused at its restart', async (t) => {
  const dataDir = scratch(t);
  const cluster = await started(t, { nodes: 3, dataDir });
  await cluster.waitForLeader(WAIT_MS);
  await cluster.client().put('a', 1);
  const follower = cluster.status().nodes.find((node) => node.id !== cluster.status().leaderId)!.id;
  await cluster.crash(follower);
  rmSync(join(dataDir, `node-${follower}`), { recursive: true });
  const error = await t.throwsAsync(cluster.restart(follower), { instanceOf: RaftlabError });
  t.is(error?.code, ErrorCode.NodeFilesMissing, error?.message);
});

test.serial('a node with no files that never wrote any (in nodes, not initialized: added just before a crash) starts as a new node, without a warning', async (t) => {
  const dataDir = scratch(t);
  await runAndStop(dataDir, 3, { a: 1 });
  writeFileSync(join(dataDir, 'cluster.json'), '{"format":1,"bootstrap":[1,2,3],"nodes":[1,2,3,4],"initialized":[1,2,3]}\n');
  const cluster = await started(t, { dataDir });
  t.is(cluster.startFailures.size, 0);
  t.false(cluster.startEvents.some((e) => e.text.startsWith('WARNING')));
  t.true(cluster.status().nodes.find((node) => node.id === 4)?.alive, 'node 4 runs');
  const manifest = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { initialized: number[] };
  t.deepEqual(manifest.initialized, [1, 2, 3, 4], 'and is recorded once it has files');
});

test.serial('in a directory from before initialized was recorded, a node found with no files starts with a warning in startEvents', async (t) => {
  const dataDir = scratch(t);
  await runAndStop(dataDir, 3, { a: 1 });
  writeFileSync(join(dataDir, 'cluster.json'), '{"format":1,"bootstrap":[1,2,3],"nodes":[1,2,3]}\n');
  rmSync(join(dataDir, 'node-3'), { recursive: true });
  const cluster = await started(t, { dataDir });
  const warnings = cluster.startEvents.filter((e) => e.text.startsWith('WARNING'));
  t.is(warnings.length, 1);
  t.is(warnings[0]?.node, 3);
  t.regex(warnings[0]?.text ?? '', /no WAL and no snapshot .* starts empty/);
  await cluster.waitForLeader(WAIT_MS);
  // It serves; whether 'a' survived is luck: if node 3 held it and the other copy was
  // on node 1 alone, node 2 (without it) can be elected with the wiped node's vote.
  // That is what the warning says, and why a recorded node is refused instead.
  const kv = cluster.client();
  await kv.put('b', 2);
  t.is(await kv.get('b'), 2);
  const manifest = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { initialized: number[] };
  t.deepEqual(manifest.initialized, [1, 2, 3], 'from now on recorded');
});

test.serial('a torn tail cut at start, and each node\'s recovery, are in startEvents', async (t) => {
  const dataDir = scratch(t);
  await runAndStop(dataDir, 1, { a: 1, b: 2 });
  const segment = lastSegment(join(dataDir, 'node-1'));
  const bytes = readFileSync(segment);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  // The last record's final bytes never reached the disk.
  truncateSync(segment, end - 5);
  const cluster = await started(t, { dataDir });
  const recovery = cluster.startEvents.find((e) => e.kind === EventKind.Restart && e.node === 1);
  t.truthy(recovery, 'the node\'s recovery is reported');
  t.regex(recovery?.text ?? '', /node 1 started: replayed \d+ entries .* dropped a torn tail of \d+ bytes/);
});

test.serial('a node directory path that is a file is refused with INVALID_CONFIG', async (t) => {
  const dataDir = scratch(t);
  writeFileSync(join(dataDir, 'node-1'), 'not a directory');
  const error = await t.throwsAsync(Cluster.start({ nodes: 1, dataDir }), { instanceOf: RaftlabError });
  t.is(error?.code, ErrorCode.InvalidConfig);
});

test.serial('a data directory in use is locked: a second start is refused with DATA_DIR_LOCKED and nothing is written; after stop it starts', async (t) => {
  const dataDir = scratch(t);
  const first = await Cluster.start({ nodes: 3, dataDir });
  let firstStopped = false;
  t.teardown(() => (firstStopped ? undefined : first.stop()));
  await first.waitForLeader(WAIT_MS);
  await first.client().put('a', 1);
  const error = await t.throwsAsync(Cluster.start({ dataDir }), { instanceOf: RaftlabError });
  t.is(error?.code, ErrorCode.DataDirLocked, error?.message);
  t.regex(error?.message ?? '', new RegExp(`in use by process ${process.pid} `));
  t.true(existsSync(join(dataDir, 'raftlab.lock')), 'the holder keeps its lock');
  await first.client().put('b', 2);
  await first.stop();
  firstStopped = true;
  t.false(existsSync(join(dataDir, 'raftlab.lock')), 'stop gives the lock up');
  const second = await started(t, { dataDir });
  await second.waitForLeader(WAIT_MS);
  t.deepEqual([await second.client().get('a'), await second.client().get('b')], [1, 2]);
});

test.serial('a lock left by a process that is gone is taken over; one held by a running process, or another host, is refused', async (t) => {
  const dataDir = scratch(t);
  await runAndStop(dataDir, 1, { a: 1 });
  const lockPath = join(dataDir, 'raftlab.lock');
  // A process that ran and exited: its pid names no running process (or a new one, started later).
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(lockPath, JSON.stringify({ pid: Number(gone.stdout), startTicks: 1, host: hostname(), nonce: 'gone' }));
  const cluster = await Cluster.start({ dataDir });
  t.not(JSON.parse(readFileSync(lockPath, 'utf8')).nonce, 'gone', 'the stale lock was replaced');
  await cluster.stop();
  // A running process holds it.
  const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => holder.kill('SIGKILL'));
  const ticks = Number(readFileSync(`/proc/${holder.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]);
  writeFileSync(lockPath, JSON.stringify({ pid: holder.pid, startTicks: ticks, host: hostname(), nonce: 'live' }));
  const locked = await t.throwsAsync(Cluster.start({ dataDir }), { instanceOf: RaftlabError });
  t.is(locked?.code, ErrorCode.DataDirLocked);
  t.regex(locked?.message ?? '', new RegExp(`in use by process ${holder.pid} on `));
  t.is(JSON.parse(readFileSync(lockPath, 'utf8')).nonce, 'live', 'a refused start leaves the holder\'s lock');
  // Another host: whether its process runs cannot be told, so the lock holds.
  writeFileSync(lockPath, JSON.stringify({ pid: 1, startTicks: null, host: 'elsewhere.example', nonce: 'remote' }));
  const remote = await t.throwsAsync(Cluster.start({ dataDir }), { instanceOf: RaftlabError });
  t.is(remote?.code, ErrorCode.DataDirLocked);
  t.regex(remote?.message ?? '', /on elsewhere\.example .* if that host is down, remove/);
});

test.serial('cluster.json that cannot be written: addNode is refused with MANIFEST_IO and adds nothing; a committed removal stands, with a warning, and the file is written at stop', async (t) => {
  const dataDir = scratch(t);
  const cluster = await started(t, { nodes: 3, dataDir });
  await cluster.waitForLeader(WAIT_MS);
  const events: string[] = [];
  cluster.on('event', (event: { text: string }) => events.push(event.text));
  // A directory where the temporary file goes: the write fails, as on a full or read-only disk.
  mkdirSync(join(dataDir, 'cluster.json.tmp'));
  const refused = await t.throwsAsync(cluster.addNode(), { instanceOf: RaftlabError });
  t.is(refused?.code, ErrorCode.ManifestIo, refused?.message);
  t.regex(refused?.message ?? '', /node 4 was not added: cannot write .*cluster\.json/);
  t.deepEqual(cluster.nodeIds, [1, 2, 3]);
  t.false(cluster.status().nodes.some((node) => node.id === 4), 'no worker is left for node 4');
  const leader = cluster.status().leaderId;
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  await cluster.removeNode(follower);
  t.deepEqual(cluster.nodeIds, [1, 2, 3].filter((id) => id !== follower));
  t.true(events.some((text) => text.startsWith(`WARNING: node ${follower} left the cluster, but cannot write`)), events.join('\n'));
  t.deepEqual(JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')).nodes, [1, 2, 3], 'still the old nodes');
  rmSync(join(dataDir, 'cluster.json.tmp'), { recursive: true });
  await cluster.stop();
  t.deepEqual(JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')).nodes, [1, 2, 3].filter((id) => id !== follower), 'written at stop');
});

test.serial('a cluster.json that is a directory is refused with INVALID_CONFIG', async (t) => {
  const dataDir = scratch(t);
  mkdirSync(join(dataDir, 'cluster.json'));
  const error = await t.throwsAsync(Cluster.start({ dataDir }), { instanceOf: RaftlabError });
  t.is(error?.code, ErrorCode.InvalidConfig);
  t.regex(error?.message ?? '', /cannot read .*cluster\.json/);
  t.false(existsSync(join(dataDir, 'raftlab.lock')), 'a refused start gives its lock up');
});

test.serial('a cluster.json edited to other bootstrap voters, or a node directory renamed, is refused with INVALID_CONFIG before any node starts', async (t) => {
  const dataDir = scratch(t);
  await runAndStop(dataDir, 3, { a: 1 });
  const manifestPath = join(dataDir, 'cluster.json');
  const original = readFileSync(manifestPath, 'utf8');
  t.deepEqual(JSON.parse(readFileSync(join(dataDir, 'node-2', 'identity.json'), 'utf8')), { id: 2, bootstrap: [1, 2, 3] });
  const segment = lastSegment(join(dataDir, 'node-1'));
  const walBefore = readFileSync(segment);
  writeFileSync(manifestPath, '{"format":1,"bootstrap":[1],"nodes":[1],"initialized":[1]}\n');
  const shrunk = await t.throwsAsync(Cluster.start({ dataDir }), { instanceOf: RaftlabError });
  t.is(shrunk?.code, ErrorCode.InvalidConfig);
  t.regex(shrunk?.message ?? '', /node-1 belongs to node 1 with bootstrap voters \[1,2,3\] .* started as node 1 with bootstrap voters \[1\]/);
  t.deepEqual(readFileSync(segment), walBefore, 'node 1 did not start: its WAL is as it was');
  // Node 3's directory renamed to node 4, and cluster.json made to match.
  writeFileSync(manifestPath, original.replace('"nodes":[1,2,3],"initialized":[1,2,3]', '"nodes":[1,2,4],"initialized":[1,2,4]'));
  renameSync(join(dataDir, 'node-3'), join(dataDir, 'node-4'));
  const renamed = await t.throwsAsync(Cluster.start({ dataDir }), { instanceOf: RaftlabError });
  t.is(renamed?.code, ErrorCode.InvalidConfig);
  t.regex(renamed?.message ?? '', /node-4 belongs to node 3 .* started as node 4/);
  renameSync(join(dataDir, 'node-4'), join(dataDir, 'node-3'));
  writeFileSync(manifestPath, original);
  const cluster = await started(t, { dataDir });
  await cluster.waitForLeader(WAIT_MS);
  t.is(await cluster.client().get('a'), 1, 'put back, it starts and serves');
});

test.serial('a learner in the recovered configuration (an addNode cut short leaves one) is said once after a start', async (t) => {
  const dataDir = scratch(t);
  const first = await Cluster.start({ nodes: 3, dataDir });
  try {
    await first.waitForLeader(WAIT_MS);
    t.is(await first.addNode({ learner: true }), 4);
  } finally {
    await first.stop();
  }
  const cluster = await started(t, { dataDir });
  const said = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), WAIT_MS);
    cluster.on('event', (event: { text: string }) => {
      if (!/learner/.test(event.text)) return;
      clearTimeout(timer);
      resolve(event.text);
    });
  });
  t.regex(said ?? 'no event within the wait', /^n4 is a learner .*promote\(id\) makes one a voter, removeNode\(id\) takes it out/);
});

test.serial('a start refused for one node\'s identity writes no other node\'s identity and makes no directory; put back, it starts', async (t) => {
  const dataDir = scratch(t);
  await runAndStop(dataDir, 3, { a: 1 });
  const manifestPath = join(dataDir, 'cluster.json');
  const original = readFileSync(manifestPath, 'utf8');
  // Node 1 as from before identities were written; node 2's identity reformatted by hand.
  rmSync(join(dataDir, 'node-1', 'identity.json'));
  writeFileSync(join(dataDir, 'node-2', 'identity.json'), '{ "id": 2, "bootstrap": [ 1, 2, 3 ] }\n');
  writeFileSync(manifestPath, '{"format":1,"bootstrap":[1,2],"nodes":[1,2,3,7],"initialized":[1,2,3]}\n');
  const refused = await t.throwsAsync(Cluster.start({ dataDir }), { instanceOf: RaftlabError });
  t.is(refused?.code, ErrorCode.InvalidConfig, refused?.message);
  t.false(existsSync(join(dataDir, 'node-1', 'identity.json')), 'node 1 was not stamped with the refused configuration');
  t.false(existsSync(join(dataDir, 'node-7')), 'no directory was made for a node of the refused configuration');
  writeFileSync(manifestPath, original);
  const cluster = await started(t, { dataDir });
  t.is(cluster.startFailures.size, 0, 'a reformatted identity is the same identity');
  await cluster.waitForLeader(WAIT_MS);
  t.is(await cluster.client().get('a'), 1);
  t.deepEqual(JSON.parse(readFileSync(join(dataDir, 'node-1', 'identity.json'), 'utf8')), { id: 1, bootstrap: [1, 2, 3] });
});

test.serial('processes racing over one stale lock: exactly one takes it over, every round', async (t) => {
  const dataDir = scratch(t);
  const lockModule = new URL('../lib/cluster/dir-lock.js', import.meta.url).href;
  // Each child spins until the same instant, then tries; a winner holds the lock until
  // every child has answered (its stdin ends), so a child that a loaded machine starts
  // late cannot take the lock after a release and pass for a second winner.
  const child = `import { DataDirLock } from ${JSON.stringify(lockModule)};
const [dir, at] = process.argv.slice(1);
while (Date.now() < Number(at));
let lock = null;
try { lock = DataDirLock.acquire(dir); process.stdout.write('won\\n'); }
catch (error) { process.stdout.write(String(error.code) + '\\n'); }
process.stdin.on('end', () => lock?.release()).resume();`;
  for (let round = 0; round < 4; round++) {
    writeFileSync(join(dataDir, 'raftlab.lock'), JSON.stringify({ pid: 999_999_999, startTicks: 1, host: hostname(), nonce: `dead-${round}` }));
    const at = Date.now() + 700;
    const children = Array.from({ length: 4 }, () => spawn(process.execPath, ['--input-type=module', '-e', child, dataDir, String(at)], { stdio: ['pipe', 'pipe', 'inherit'] }));
    const exited = children.map((proc) => new Promise<void>((resolve) => proc.on('exit', () => resolve())));
    const outcomes = await Promise.all(
      children.map((proc) => {
        let out = '';
        return new Promise<string>((resolve) => {
          proc.stdout.on('data', (chunk: Buffer) => {
            out += chunk.toString();
            if (out.endsWith('\n')) resolve(out.trim());
          });
          proc.on('exit', () => resolve(out.trim()));
        });
      }),
    );
    for (const proc of children) proc.stdin.end();
    await Promise.all(exited);
    t.is(outcomes.filter((outcome) => outcome === 'won').length, 1, `round ${round}: ${outcomes.join(', ')}`);
    t.true(outcomes.every((outcome) => outcome === 'won' || outcome === 'DATA_DIR_LOCKED'), `round ${round}: ${outcomes.join(', ')}`);
  }
});

// The window a multi-process race seldom hits, held open: a start about to remove a stale
// lock it judged, and another start taking the lock over right then. Before the breaking
// lock, the first removed the second's fresh lock and linked its own: both held it.
test.serial('a stale lock is removed only under the breaking lock: a takeover between the judgement and the removal leaves one holder', (t) => {
  const dataDir = scratch(t);
  writeFileSync(join(dataDir, LOCK_FILE), JSON.stringify({ pid: 999_999_999, startTicks: 1, host: hostname(), nonce: 'dead' }));
  const seen: { second: DataDirLock | RaftlabError | null } = { second: null };
  lockTestHooks.beforeStaleRemoval = () => {
    lockTestHooks.beforeStaleRemoval = null;
    try {
      seen.second = DataDirLock.acquire(dataDir);
    } catch (error) {
      seen.second = error as RaftlabError;
    }
  };
  t.teardown(() => {
    lockTestHooks.beforeStaleRemoval = null;
  });
  const first = DataDirLock.acquire(dataDir);
  t.true(seen.second instanceof RaftlabError, 'the start interleaved at the removal did not take the lock');
  t.is((seen.second as RaftlabError | null)?.code, ErrorCode.DataDirLocked);
  t.false(existsSync(join(dataDir, BREAKING_FILE)), 'the breaking lock was given up');
  first.release();
  t.false(existsSync(join(dataDir, LOCK_FILE)));
});

test.serial('a breaking lock whose holder died is removed, and the stale lock after it', (t) => {
  const dataDir = scratch(t);
  writeFileSync(join(dataDir, LOCK_FILE), JSON.stringify({ pid: 999_999_999, startTicks: 1, host: hostname(), nonce: 'dead' }));
  writeFileSync(join(dataDir, BREAKING_FILE), JSON.stringify({ pid: 999_999_998, startTicks: 1, host: hostname(), nonce: 'died-breaking' }));
  const lock = DataDirLock.acquire(dataDir);
  t.false(existsSync(join(dataDir, BREAKING_FILE)));
  t.regex(readFileSync(join(dataDir, LOCK_FILE), 'utf8'), new RegExp(`"pid":${process.pid}`));
  lock.release();
});

// Node 20's mkdirSync(dir, { recursive: true }) spins forever where mkdir answers ENOENT
// under an existing directory (/proc): `raftlab --data /proc/x` hung at "starting ...".
// In a child process, since the hang is synchronous and would take this test's process with it.
test.serial('a data directory that cannot be made (under /proc) is refused with INVALID_CONFIG, not a hang', async (t) => {
  if (!existsSync('/proc/self')) {
    t.pass('no /proc here');
    return;
  }
  const script = `
    const { Cluster } = await import(${JSON.stringify(new URL('../lib/cluster/cluster.js', import.meta.url).href)});
    try { await Cluster.start({ nodes: 1, dataDir: '/proc/raftlab-no-such/data' }); console.log('started'); }
    catch (error) { console.log(error.code + ': ' + error.message); }
  `;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, encoding: 'utf8' });
  t.is(result.signal, null, 'it did not have to be killed');
  t.regex(result.stdout, /^INVALID_CONFIG: cannot make the data directory \/proc\/raftlab-no-such\/data: ENOENT/);
  // What recursive mkdir did, one level at a time: a plain directory is made, and returned.
  const dataDir = scratch(t);
  const cluster = await started(t, { nodes: 1, dataDir: join(dataDir, 'a', 'b') });
  await cluster.waitForLeader(WAIT_MS);
  t.true(existsSync(join(dataDir, 'a', 'b', 'node-1')));
});

