// A snapshot whose bytes pass the wire's checks but are not a state machine snapshot:
// a follower sent one refuses it before anything is written, keeps its log and state and
// runs on (and a good snapshot later installs); a snapshot file whose frame checks out
// but whose data is garbage keeps only its node down at the next start. Waits are on
// status and events, with bounded timeouts.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster } from '../lib/cluster/cluster.js';
import type { KvClient } from '../lib/cluster/client.js';
import { EventKind } from '../lib/cluster/types.js';
import type { ClusterEvent } from '../lib/cluster/types.js';
import { KvStateMachine } from '../lib/kv/state-machine.js';
import { MessageType } from '../lib/raft/types.js';
import type { InstallSnapshot, Membership, NodeId } from '../lib/raft/types.js';
import { SNAPSHOT_FILE_NAME, decodeSnapshotFile, encodeSnapshotFile } from '../lib/storage/record.js';
import { encodeRaftBatch } from '../lib/transport/codec.js';
import { eventually, lead, tempDir } from './helpers/cluster.js';
import { testSeed } from './helpers/seed.js';

const WAIT_MS = 15_000;
const SNAPSHOT_ENTRIES = 40;

function scratch(t: ExecutionContext): string {
  const dataDir = tempDir('raftlab-bad-snapshot-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  return dataDir;
}

async function started(t: ExecutionContext, options: Parameters<typeof Cluster.start>[0]): Promise<{ cluster: Cluster; events: ClusterEvent[] }> {
  const cluster = await Cluster.start(options);
  const events: ClusterEvent[] = [];
  cluster.on('event', (event: ClusterEvent) => events.push(event));
  t.teardown(() => cluster.stop());
  t.log(`cluster seed ${cluster.seed}; start events:\n${cluster.startEvents.map((e) => `  ${e.kind} n${e.node}: ${e.text}`).join('\n')}`);
  return { cluster, events };
}

function node(cluster: Cluster, id: NodeId) {
  return cluster.status().nodes.find((status) => status.id === id)!;
}

async function writeMany(kv: KvClient, count: number, offset: number, expected: Map<string, number>): Promise<void> {
  for (let start = 0; start < count; start += 8) {
    const batch: Promise<void>[] = [];
    for (let i = start; i < Math.min(count, start + 8); i++) {
      const key = `k${(offset + i) % 25}`;
      batch.push(kv.put(key, offset + i));
      expected.set(key, offset + i);
    }
    await Promise.all(batch);
  }
}

async function readAll(kv: KvClient, expected: ReadonlyMap<string, number>): Promise<Map<string, unknown>> {
  const found = new Map<string, unknown>();
  for (const key of expected.keys()) found.set(key, await kv.get(key));
  return found;
}

test.serial('a follower refuses a leader snapshot that is not a state machine snapshot: nothing written, its log and state kept, a good snapshot later installs', async (t) => {
  const dataDir = scratch(t);
  const { cluster, events } = await started(t, { nodes: 3, dataDir, snapshotEntries: SNAPSHOT_ENTRIES, seed: testSeed('BAD_SNAPSHOT_SEED') });
  const leader = await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client({ timeoutMs: 10_000 });
  const expected = new Map<string, number>();
  await writeMany(kv, 10, 0, expected);
  const [follower, other] = cluster.nodeIds.filter((id) => id !== leader) as [NodeId, NodeId];
  const before = await cluster.waitFor((s) => s.nodes[follower - 1]!.appliedIndex >= s.nodes[leader - 1]!.commitIndex, WAIT_MS, 'the follower to apply the writes');
  const { term, lastLogIndex } = before.nodes[follower - 1]!;
  const membership: Membership = { voters: [...cluster.nodeIds], learners: [] };

  // Forged from the other follower (the auditor's probe): the follower's link to it is
  // this port from now on. Each of these passes the wire's checks.
  const port = cluster.testOnlyAttachPeerPort(follower, other);
  const chunk = (fields: Pick<InstallSnapshot, 'term' | 'lastIncludedIndex' | 'offset' | 'totalBytes' | 'data' | 'done'>): InstallSnapshot => ({
    type: MessageType.InstallSnapshot,
    from: other,
    to: follower,
    lastIncludedTerm: fields.term,
    membership,
    ...fields,
  });
  const post = (...messages: InstallSnapshot[]): void => {
    const bytes = encodeRaftBatch(messages);
    port.postMessage(bytes);
  };
  // Whole in one chunk, at a newer term: not a snapshot at all. The follower takes the
  // newer term (the term rule comes first, for every message), then refuses the snapshot.
  post(chunk({ term: term + 1, lastIncludedIndex: lastLogIndex + 100, offset: 0, totalBytes: 3, data: Uint8Array.of(1, 2, 3), done: true }));
  // A state machine snapshot, but of index 0, not of the index it claims.
  const empty = new KvStateMachine().snapshot();
  post(chunk({ term: term + 1, lastIncludedIndex: lastLogIndex + 100, offset: 0, totalBytes: empty.byteLength, data: empty, done: true }));
  // In two chunks, at the follower's term now; then its last chunk again (as a leader
  // sends it when no answer comes), then the whole transfer again.
  const first = chunk({ term: term + 1, lastIncludedIndex: lastLogIndex + 200, offset: 0, totalBytes: 6, data: Uint8Array.of(0x93, 1, 2), done: false });
  const last = (): InstallSnapshot => chunk({ term: term + 1, lastIncludedIndex: lastLogIndex + 200, offset: 3, totalBytes: 6, data: Uint8Array.of(3, 4, 5), done: true });
  post(first, last());
  post(last());
  post(last());
  post(first, last());
  await cluster.waitFor((s) => s.nodes[follower - 1]!.malformedMessages >= 4, WAIT_MS, 'the follower to refuse the four snapshots');
  t.is(node(cluster, follower).malformedMessages, 4, 'the repeated last chunks are dropped, not checked again');

  const files = readdirSync(join(dataDir, `node-${follower}`));
  t.false(files.includes(SNAPSHOT_FILE_NAME), `no snapshot written: ${files.join(' ')}`);
  t.false(files.some((name) => name.endsWith('.redundant')), `the WAL was not cut: ${files.join(' ')}`);
  const after = node(cluster, follower);
  t.true(after.alive);
  t.true(after.lastLogIndex >= lastLogIndex && after.appliedIndex >= before.nodes[follower - 1]!.appliedIndex, `log ${after.lastLogIndex}, applied ${after.appliedIndex}`);
  t.false(events.some((event) => event.kind === EventKind.Crash || event.kind === EventKind.Invariant), 'no node crashed');

  // A write replicates to it as before.
  await kv.put('after', 'refused');
  await cluster.waitFor((s) => s.nodes[follower - 1]!.appliedIndex >= s.nodes[leader - 1]!.commitIndex, WAIT_MS, 'the follower to apply the write after the refusals');

  // A good snapshot from the leader still installs in the same process: the follower
  // misses what the leader compacts away, then catches up through InstallSnapshot.
  await lead(cluster, leader);
  cluster.isolate(follower);
  await writeMany(kv, 4 * SNAPSHOT_ENTRIES, 100, expected);
  await eventually(() => node(cluster, leader).snapshotIndex > node(cluster, follower).lastLogIndex, WAIT_MS, 'the leader to compact past the follower');
  cluster.heal();
  await eventually(() => events.find((event) => event.kind === EventKind.SnapshotInstalled && event.node === follower), WAIT_MS, `node ${follower} to install the leader's snapshot`);
  await cluster.waitFor((s) => s.nodes[follower - 1]!.appliedIndex >= s.nodes[leader - 1]!.commitIndex, WAIT_MS, 'the follower to catch up');

  // Its own state machine answers: make it the leader and read everything.
  await lead(cluster, follower);
  const reader = cluster.client({ timeoutMs: 10_000 });
  t.deepEqual(await readAll(reader, expected), new Map(expected));
  t.is(await reader.get('after'), 'refused');
  t.false(events.some((event) => event.kind === EventKind.Crash || event.kind === EventKind.Invariant), 'no node crashed');
  port.close();

  // And the directory starts again, every node.
  await cluster.stop();
  const { cluster: again } = await started(t, { dataDir });
  t.is(again.startFailures.size, 0, [...again.startFailures.values()].map((error) => error.message).join('; '));
  await again.waitForLeader(WAIT_MS);
  const kvAgain = again.client({ timeoutMs: 10_000 });
  t.deepEqual(await readAll(kvAgain, expected), new Map(expected));
  t.is(await kvAgain.get('after'), 'refused');
});

test.serial('a node whose snapshot file checks out but holds no state machine snapshot stays down, its file untouched; the others start and serve', async (t) => {
  const dataDir = scratch(t);
  {
    const { cluster } = await started(t, { nodes: 3, dataDir, snapshotEntries: SNAPSHOT_ENTRIES, seed: testSeed('BAD_SNAPSHOT_SEED') });
    await cluster.waitForLeader(WAIT_MS);
    await writeMany(cluster.client({ timeoutMs: 10_000 }), 3 * SNAPSHOT_ENTRIES, 0, new Map());
    await eventually(() => existsSync(join(dataDir, 'node-2', SNAPSHOT_FILE_NAME)), WAIT_MS, 'node 2 to write a snapshot file');
    await cluster.stop();
  }
  const path = join(dataDir, 'node-2', SNAPSHOT_FILE_NAME);
  const decoded = decodeSnapshotFile(readFileSync(path));
  if (!decoded.ok) return t.fail(`node 2's snapshot file: ${decoded.expected}, found ${decoded.found}`);
  const garbage = encodeSnapshotFile(decoded.index, decoded.term, Uint8Array.of(1, 2, 3), decoded.membership ?? undefined);
  writeFileSync(path, garbage);

  const { cluster } = await started(t, { dataDir });
  t.deepEqual([...cluster.startFailures.keys()], [2]);
  const failure = cluster.startFailures.get(2);
  t.is(failure?.code, 'SNAPSHOT_CORRUPT', failure?.message);
  t.regex(failure?.message ?? '', /snapshot corrupt: .*node-2.*snapshot\.bin.*malformed snapshot/);
  t.true(cluster.startEvents.some((e) => e.kind === EventKind.Crash && e.node === 2 && /stays down/.test(e.text)));
  t.false(node(cluster, 2).alive);
  await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client({ timeoutMs: 10_000 });
  await kv.put('still', 'served');
  t.is(await kv.get('still'), 'served');
  t.true(readFileSync(path).equals(garbage), 'node 2\'s snapshot file is as it was');
});
