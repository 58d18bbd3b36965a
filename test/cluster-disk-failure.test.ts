// A node whose own files fail it: at run time (a WAL write refused with ENOSPC, injected
// through testOnly.walFault; a segment deletion refused with EIO off the node's thread,
// through testOnly.storageFaults) it stops with a fatal line in its node.log and a Crash
// event that says its disk failed, while a violated invariant is still reported as CRASHED;
// at start (a node.log that cannot be opened) it stays down with WAL_IO while the others start.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster } from '../lib/cluster/cluster.js';
import { RaftlabError } from '../lib/cluster/errors.js';
import type { TestOnlyClusterBugs } from '../lib/cluster/protocol.js';
import { EventKind } from '../lib/cluster/types.js';
import type { ClusterEvent } from '../lib/cluster/types.js';
import type { NodeId } from '../lib/raft/types.js';
import { walFiles } from '../lib/storage/file-storage.js';
import { FRAME_HEADER_BYTES, readFrame } from '../lib/storage/record.js';
import { startCluster, tempDir } from './helpers/cluster.js';

const WAIT_MS = 15_000;
/** Entries the faulty node takes before its WAL fails: more than the elections and transfers before the writes bring. */
const FAULT_AFTER_ENTRIES = 20;
const FAULTY: NodeId = 2;

type Fault = NonNullable<TestOnlyClusterBugs['walFault']>['fault'];

function describe(events: readonly ClusterEvent[]): string {
  return events.map((e) => `  ${e.kind} n${e.node}: ${e.text}`).join('\n');
}

/** The last line of node `id`'s node.log, parsed. */
function lastLogLine(dataDir: string, id: NodeId): Record<string, unknown> {
  const lines = readFileSync(join(dataDir, `node-${id}`, 'node.log'), 'utf8').trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

/**
 * A 3-node cluster whose node 2 has a WAL that fails (`fault`) after FAULT_AFTER_ENTRIES
 * entries, with node 2 the leader or a follower when it does; writes until node 2's
 * worker has ended. Returns the events and the data directory.
 */
async function runUntilNodeTwoFails(t: ExecutionContext, fault: Fault, role: 'leader' | 'follower'): Promise<{ cluster: Cluster; events: ClusterEvent[]; dataDir: string }> {
  const { cluster, events, dataDir } = await startCluster(t, { nodes: 3, testOnly: { walFault: { node: FAULTY, afterEntries: FAULT_AFTER_ENTRIES, fault } } });
  t.teardown(() => t.log(describe(events)));
  const leader = await cluster.waitForLeader(WAIT_MS);
  if (role === 'leader' && leader !== FAULTY) cluster.transferLeadership(FAULTY);
  if (role === 'follower' && leader === FAULTY) cluster.transferLeadership(1);
  await cluster.waitFor((s) => (role === 'leader' ? s.leaderId === FAULTY : s.leaderId !== 0 && s.leaderId !== FAULTY), WAIT_MS, `node ${FAULTY} as ${role}`);
  const gone = cluster.waitFor((s) => !s.nodes.find((n) => n.id === FAULTY)!.alive, WAIT_MS, `node ${FAULTY}'s worker to end`);
  let ended = false;
  void gone.then(
    () => (ended = true),
    () => (ended = true),
  );
  const kv = cluster.client({ timeoutMs: 2000 });
  for (let i = 0; !ended; i++) {
    try {
      await kv.put(`k${i}`, i);
    } catch {
      // The write that meets the failure may time out (node 2 led): the next goes to the new leader.
    }
  }
  await gone;
  return { cluster, events, dataDir };
}

for (const role of ['leader', 'follower'] as const) {
  test.serial(`a WAL write refused with ENOSPC stops the node (a ${role}) as a disk failure, not a crash: node.log and the event say why; the others serve on`, async (t) => {
    const { cluster, events, dataDir } = await runUntilNodeTwoFails(t, 'enospc', role);
    const reports = events.filter((e) => e.node === FAULTY && (e.kind === EventKind.Crash || e.kind === EventKind.Invariant));
    t.is(reports.length, 1, 'one report, not a second one for its exit');
    const report = reports[0]!;
    t.is(report.kind, EventKind.Crash);
    t.regex(report.text, /^node 2 stopped: its disk failed: cannot write WAL segment \S*node-2\/wal-\d+\.log: ENOSPC: no space left on device, write \(WAL_IO\); restart it once there is room$/);
    t.false(events.some((e) => e.kind === EventKind.Invariant || /CRASHED|exited unexpectedly/.test(e.text)));

    const fatal = lastLogLine(dataDir, FAULTY);
    t.is(fatal['level'], 60, 'a fatal line');
    t.is(fatal['msg'], 'node stopped: its disk failed');
    t.is(fatal['code'], 'WAL_IO');
    t.is(fatal['errno'], 'ENOSPC');
    t.is(fatal['syscall'], 'write');
    t.regex(String(fatal['path']), /node-2\/wal-\d+\.log$/);

    const leader = await cluster.waitForLeader(WAIT_MS);
    t.not(leader, FAULTY);
    const kv = cluster.client();
    await kv.put('after', 1);
    t.is(await kv.get('after'), 1);
  });
}

test.serial('a violated storage invariant at run time is still reported as CRASHED (Invariant), and logged as fatal', async (t) => {
  const { events, dataDir } = await runUntilNodeTwoFails(t, 'invariant', 'follower');
  const crashed = events.find((e) => e.kind === EventKind.Invariant && e.node === FAULTY);
  t.truthy(crashed);
  t.regex(crashed!.text, /^node 2 CRASHED: storage invariant violated: walFault/);
  t.false(events.some((e) => /disk failed/.test(e.text)));
  const fatal = lastLogLine(dataDir, FAULTY);
  t.is(fatal['level'], 60);
  t.is(fatal['msg'], 'node crashed');
  t.is((fatal['err'] as { code?: unknown } | undefined)?.code, 'WAL_INVARIANT');
});

test.serial('a follower whose segment deletion fails after installing a leader snapshot stops as a disk failure (EIO, the file named), not as CRASHED', async (t) => {
  // The deletion runs off the node's thread after saveSnapshot returned, with nobody to
  // tell: the failure must reach the supervisor through the node's next WAL call.
  const follower: NodeId = 2;
  const { cluster, events, dataDir } = await startCluster(t, {
    nodes: 3,
    segmentBytes: 1024,
    snapshotEntries: 50,
    testOnly: { storageFaults: { node: follower, faults: { ioErrorOnSegmentDeletions: [1] } } },
  });
  t.teardown(() => t.log(describe(events)));
  const leader = await cluster.waitForLeader(WAIT_MS);
  if (leader === follower) cluster.transferLeadership(1);
  await cluster.waitFor((s) => s.leaderId !== 0 && s.leaderId !== follower, WAIT_MS, 'a leader other than node 2');
  const kv = cluster.client({ timeoutMs: 2000 });
  // Some segments on node 2, then it is down while the others compact past it, by more than
  // the ten periods a leader holds a compaction back for a follower it heard from lately.
  for (let i = 0; walFiles(join(dataDir, `node-${follower}`)).length < 3; i++) await kv.put(`a${i % 8}`, i);
  await cluster.crash(follower);
  const leaderSnapshot = (): number => {
    const status = cluster.status();
    return status.nodes.find((n) => n.id === status.leaderId)?.snapshotIndex ?? 0;
  };
  for (let i = 0; leaderSnapshot() < 300; i += 8) await Promise.all(Array.from({ length: 8 }, (_, j) => kv.put(`b${(i + j) % 8}`, i + j)));
  await cluster.restart(follower);
  const gone = cluster.waitFor((s) => !s.nodes.find((n) => n.id === follower)!.alive, WAIT_MS, 'node 2 to stop');
  let ended = false;
  void gone.then(
    () => (ended = true),
    () => (ended = true),
  );
  for (let i = 0; !ended; i++) {
    try {
      await kv.put(`c${i % 8}`, i);
    } catch {
      // Node 2 is a follower: the leader answers.
    }
  }
  await gone;
  t.true(events.some((e) => e.kind === EventKind.SnapshotInstalled && e.node === follower), 'node 2 installed the leader snapshot');
  const failed = events.find((e) => e.kind === EventKind.Crash && e.node === follower && /disk failed/.test(e.text));
  t.regex(failed?.text ?? 'no disk failure reported', /^node 2 stopped: its disk failed: .*cannot delete .*wal-\d+\.log\.redundant: EIO.*\(WAL_IO\); restart it once its disk is mended$/);
  t.false(events.some((e) => e.kind === EventKind.Invariant || /CRASHED|exited unexpectedly/.test(e.text)), 'not reported as a crash');
  await kv.put('after', 1);
  t.is(await kv.get('after'), 1, 'the others serve on');
});

test.serial('a leader that reads back a WAL record changed on disk since it wrote it stops as a disk failure (WAL_CORRUPT, file and offset), not as CRASHED', async (t) => {
  const { cluster, events, dataDir } = await startCluster(t, { nodes: 3 });
  t.teardown(() => t.log(describe(events)));
  const status = (id: NodeId) => cluster.status().nodes.find((n) => n.id === id)!;
  const kv = cluster.client({ timeoutMs: 10_000 });
  const first = await cluster.waitForLeader(WAIT_MS);
  await kv.put('warm-up', true);
  const [behind, next] = cluster.nodeIds.filter((id) => id !== first) as [NodeId, NodeId];
  await cluster.crash(behind);
  for (let i = 0; i < 200; i += 8) await Promise.all(Array.from({ length: 8 }, (_, j) => kv.put(`k${(i + j) % 16}`, i + j)));
  // `next` applied everything as a follower: its memory no longer holds the entries, its WAL does.
  await cluster.waitFor(() => status(next).appliedIndex >= status(first).commitIndex, WAIT_MS, `node ${next} to apply every write`);
  await cluster.crash(first);
  // A bit flipped in a record in the middle of `next`'s last segment, under the running node.
  const dir = join(dataDir, `node-${next}`);
  const segment = join(dir, walFiles(dir).at(-1)!);
  const bytes = readFileSync(segment);
  const records: number[] = [];
  for (let offset = 0; ; ) {
    const read = readFrame(bytes, offset);
    if (!read.ok) break;
    records.push(offset);
    offset = read.next;
  }
  t.true(records.length > 4, `${records.length} records in ${segment}`);
  const victim = records[Math.floor(records.length / 2)]! + FRAME_HEADER_BYTES + 2;
  const fd = openSync(segment, 'r+');
  writeSync(fd, Buffer.from([bytes[victim]! ^ 0x10]), 0, 1, victim);
  closeSync(fd);
  await cluster.restart(behind);
  await cluster.waitFor(() => !status(next).alive, WAIT_MS, `node ${next} to stop on the record it cannot read back`);
  const failed = events.find((e) => e.kind === EventKind.Crash && e.node === next && /disk failed/.test(e.text));
  t.regex(failed?.text ?? 'no disk failure reported', new RegExp(`^node ${next} stopped: its disk failed: WAL corrupt: .*wal-\\d+\\.log at offset \\d+: .*\\(WAL_CORRUPT\\); restart it once its disk is mended$`));
  t.false(events.some((e) => e.kind === EventKind.Invariant || /CRASHED|exited unexpectedly/.test(e.text)), 'not reported as a crash');
  const fatal = lastLogLine(dataDir, next);
  t.is(fatal['msg'], 'node stopped: its disk failed');
  t.is(fatal['code'], 'WAL_CORRUPT');
});

/** A stopped 3-node cluster's data directory, holding a: 1. */
async function stoppedCluster(t: ExecutionContext): Promise<string> {
  const dataDir = tempDir('raftlab-nodelog-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await Cluster.start({ nodes: 3, dataDir });
  try {
    await first.waitForLeader(WAIT_MS);
    await first.client().put('a', 1);
  } finally {
    await first.stop();
  }
  return dataDir;
}

test.serial('a node whose node.log cannot be opened (a directory) stays down with WAL_IO; the others start and serve; mended, it restarts', async (t) => {
  const dataDir = await stoppedCluster(t);
  const logPath = join(dataDir, 'node-1', 'node.log');
  rmSync(logPath);
  mkdirSync(logPath);

  const cluster = await Cluster.start({ dataDir });
  t.teardown(() => cluster.stop());
  t.log(describe(cluster.startEvents));
  t.deepEqual([...cluster.startFailures.keys()], [1]);
  const failure = cluster.startFailures.get(1)!;
  t.true(failure instanceof RaftlabError);
  t.is(failure.code, 'WAL_IO');
  t.regex(failure.message, /^node 1 failed to start: cannot open its log \S*node-1\/node\.log: EISDIR/);
  t.true(cluster.startEvents.some((e) => e.kind === EventKind.Crash && e.node === 1 && /cannot open its log .*EISDIR.*node 1 stays down/.test(e.text)));
  t.false(cluster.startEvents.some((e) => /exited unexpectedly|CRASHED/.test(e.text)));
  t.false(cluster.status().nodes.find((n) => n.id === 1)!.alive);
  await cluster.waitForLeader(WAIT_MS);
  t.is(await cluster.client().get('a'), 1);

  rmSync(logPath, { recursive: true });
  await cluster.restart(1);
  t.is(cluster.startFailures.size, 0);
  await cluster.waitFor((s) => s.nodes.find((n) => n.id === 1)!.alive, WAIT_MS, 'node 1 running');
  t.regex(readFileSync(logPath, 'utf8'), /node recovered/);
});

test.serial('a node whose node.log refuses writes (ENOSPC: /dev/full) stays down with WAL_IO; the others start', async (t) => {
  // Linux's /dev/full: every write to it fails with ENOSPC.
  t.true(existsSync('/dev/full'), 'this test needs /dev/full (Linux)');
  const dataDir = await stoppedCluster(t);
  const logPath = join(dataDir, 'node-3', 'node.log');
  rmSync(logPath);
  symlinkSync('/dev/full', logPath);
  const cluster = await Cluster.start({ dataDir });
  t.teardown(() => cluster.stop());
  t.log(describe(cluster.startEvents));
  t.deepEqual([...cluster.startFailures.keys()], [3]);
  t.is(cluster.startFailures.get(3)?.code, 'WAL_IO');
  t.regex(cluster.startFailures.get(3)?.message ?? '', /^node 3 failed to start: cannot write its log \S*node-3\/node\.log: ENOSPC/);
  t.false(cluster.startEvents.some((e) => /exited unexpectedly|CRASHED/.test(e.text)));
  await cluster.waitForLeader(WAIT_MS);
  t.is(await cluster.client().get('a'), 1);
});
