// The cluster as a program that embeds it uses it (the embedder audit): stop() from two
// places at once, waits cut short by stop(), options a JavaScript caller gets wrong,
// error codes and events a TypeScript caller can type, calls after stop().

import test from 'ava';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster } from '../lib/cluster/cluster.js';
import type { AddNodeOptions, ClusterOptions, MembershipOptions, SetVotersOptions } from '../lib/cluster/cluster.js';
import { LOCK_FILE } from '../lib/cluster/dir-lock.js';
import { ErrorCode, RaftlabError } from '../lib/cluster/errors.js';
import type { ClusterEvent } from '../lib/cluster/types.js';
import { eventually, startCluster, tempDir } from './helpers/cluster.js';

const WAIT_MS = 15_000;

/** True only for `any`: a listener's parameter typed `any` makes the assignment below fail to compile. */
type IsAny<T> = 0 extends 1 & T ? true : false;

test.serial('a second stop() while the first runs resolves only once the nodes are down and the directory is free', async (t) => {
  const dataDir = tempDir('raftlab-embed-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const cluster = await Cluster.start({ nodes: 3, dataDir, fsync: false });
  await cluster.waitForLeader(WAIT_MS);
  const twice = await t.throwsAsync(Cluster.start({ dataDir, fsync: false }), { instanceOf: RaftlabError });
  t.is(twice?.code, ErrorCode.DataDirLocked);
  t.regex(twice?.message ?? '', new RegExp(`in use by process ${process.pid} on .*, this one: another Cluster in it holds .*; await its stop\\(\\)`), 'the holder is this process, and the message says so');
  const first = cluster.stop();
  await cluster.stop();
  t.true(cluster.status().nodes.every((node) => !node.alive), 'no node runs once the second stop() resolved');
  // A signal handler and a finally block both stop, then the directory is started again.
  const again = await Cluster.start({ dataDir, fsync: false });
  await again.stop();
  await first;
  await cluster.stop();
  t.false(existsSync(join(dataDir, LOCK_FILE)), 'every stop() ended: the directory is free');
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

test.serial('options a JavaScript caller gets wrong are INVALID_CONFIG before the data directory is made', async (t) => {
  const parent = tempDir('raftlab-embed-');
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const dataDir = join(parent, 'data');
  const cases: [unknown, RegExp][] = [
    [{ fsync: 0 }, /^fsync must be true or false, got 0/],
    [{ fsync: 'yes' }, /^fsync must be true or false/],
    [{ preallocate: 1 }, /^preallocate must be true or false/],
    [{ seed: Number.NaN }, /^seed must be an integer/],
    [{ seed: 1.5 }, /^seed must be an integer/],
    [{ seed: '7' }, /^seed must be an integer/],
    [{ dataDIr: '/elsewhere' }, /^unknown option\(s\) "dataDIr"; the options are nodes, dataDir, /],
    [{ followerSyncSpacingMs: '1' }, /^followerSyncSpacingMs must be a number from 0 to 10, got "1"/],
    [{ testOnly: 'staleReads' }, /^testOnly must be an object/],
    [{ tickMs: -1 }, /^tickMs must be an integer/],
    [{ segmentBytes: 10 }, /^segmentBytes must be an integer/],
  ];
  for (const [options, message] of cases) {
    const what = JSON.stringify(options);
    const error = await t.throwsAsync(Cluster.start({ nodes: 1, dataDir, ...(options as ClusterOptions) }), { instanceOf: RaftlabError }, what);
    t.is(error?.code, ErrorCode.InvalidConfig, what);
    t.regex(error?.message ?? '', message, what);
    t.false(existsSync(dataDir), `${what}: no directory was made`);
  }
  for (const options of [null, 'nodes: 3', [3]]) {
    const error = await t.throwsAsync(Cluster.start(options as ClusterOptions), { instanceOf: RaftlabError }, JSON.stringify(options));
    t.is(error?.code, ErrorCode.InvalidConfig);
    t.regex(error?.message ?? '', /^Cluster.start takes an object of options/);
  }
  for (const dir of ['', 5]) {
    const error = await t.throwsAsync(Cluster.start({ dataDir: dir as string }), { instanceOf: RaftlabError }, JSON.stringify(dir));
    t.is(error?.code, ErrorCode.InvalidConfig);
    t.regex(error?.message ?? '', /^dataDir must be a non-empty path/);
  }
});

test.serial('error codes are one union: the start-failure codes are in it, and a switch over it is exhaustive', (t) => {
  const describe = (error: RaftlabError): string => {
    switch (error.code) {
      case ErrorCode.WalCorrupt:
      case ErrorCode.SnapshotCorrupt:
      case ErrorCode.WalIo:
      case ErrorCode.NodeFilesMissing:
        return 'files';
      case ErrorCode.Timeout:
        return error.indeterminate ? 'unknown' : 'no';
      default: {
        // Every other code: `code` narrows to the rest of the union, never to string.
        const rest: Exclude<ErrorCode, 'WAL_CORRUPT' | 'SNAPSHOT_CORRUPT' | 'WAL_IO' | 'NODE_FILES_MISSING' | 'TIMEOUT'> = error.code;
        return rest;
      }
    }
  };
  t.is(describe(new RaftlabError(ErrorCode.WalCorrupt, 'x')), 'files');
  const documented = ['WAL_CORRUPT', 'SNAPSHOT_CORRUPT', 'WAL_IO', 'NODE_FILES_MISSING', 'MALFORMED_COMMAND', 'MALFORMED_REQUEST', 'STALE_REQUEST', 'CLIENT_CLOSED', 'DATA_DIR_LOCKED', 'MEMBERSHIP_CHANGE_UNSAFE'];
  for (const code of documented) t.true((Object.values(ErrorCode) as string[]).includes(code), code);
});

test.serial("a listener of 'event' gets a typed ClusterEvent; calls after stop() and arguments of the wrong type are refused with a code", async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3, fsync: false });
  const kinds: string[] = [];
  cluster.on('event', (event) => {
    const typed: IsAny<typeof event> extends false ? true : never = true;
    const asEvent: ClusterEvent = event;
    if (typed) kinds.push(asEvent.kind);
  });
  await cluster.waitForLeader(WAIT_MS);
  cluster.heal();
  t.true(kinds.includes('heal'));
  const wrong: [string, () => unknown][] = [
    ['partition of a string', () => cluster.partition('1,2' as unknown as number[][])],
    ['partition of numbers', () => cluster.partition([1, 2] as unknown as number[][])],
    ['setLinkFaults with a string rate', () => cluster.setLinkFaults({ dropRate: '0.5' as unknown as number })],
  ];
  for (const [name, call] of wrong) {
    const error = t.throws(call, { instanceOf: RaftlabError }, name);
    t.is(error?.code, ErrorCode.InvalidArgument, name);
  }
  await cluster.stop();
  const error = t.throws(() => cluster.connectClientPorts(), { instanceOf: RaftlabError });
  t.is(error?.code, ErrorCode.ClusterStopped);
});

test.serial('a status() kept by the caller does not change when the faults do', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3, fsync: false });
  await cluster.waitForLeader(WAIT_MS);
  cluster.cutLink(1, 2);
  cluster.partition([[1], [2, 3]]);
  const during = cluster.status();
  cluster.cutLink(2, 3);
  cluster.heal();
  t.deepEqual(during.cutLinks, [[1, 2]], 'heal() emptied the array the status held');
  t.deepEqual(during.partition, [[1], [2, 3]]);
  t.deepEqual(cluster.status().cutLinks, []);
  t.is(cluster.status().partition, null);
});

test.serial('a membership call or a client with an option it does not take, or a membership timeoutMs no timer holds, is refused, INVALID_ARGUMENT, and nothing changes', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3, fsync: false });
  await cluster.waitForLeader(WAIT_MS);
  const refused: [string, () => Promise<unknown>, RegExp][] = [
    ['addNode({ learners: true })', () => cluster.addNode({ learners: true } as unknown as AddNodeOptions), /^cannot add a node: unknown option\(s\) "learners"; it takes timeoutMs, force, learner/],
    ["addNode({ learner: 'yes' })", () => cluster.addNode({ learner: 'yes' as unknown as boolean }), /^cannot add a node: learner must be true or false/],
    ['setVoters([1, 2], { learner: [3] })', () => cluster.setVoters([1, 2], { learner: [3] } as unknown as SetVotersOptions), /^cannot change the voters: unknown option\(s\) "learner"/],
    ['removeNode(3, { timeout: 1 })', () => cluster.removeNode(3, { timeout: 1 } as unknown as MembershipOptions), /^cannot remove n3: unknown option\(s\) "timeout"/],
    ['promote(3, null)', () => cluster.promote(3, null as unknown as MembershipOptions), /^cannot promote n3: its options are an object/],
  ];
  for (const [name, call, message] of refused) {
    const error = await t.throwsAsync(call(), { instanceOf: RaftlabError }, name);
    t.is(error?.code, ErrorCode.InvalidArgument, name);
    t.regex(error?.message ?? '', message, name);
  }
  // Past what a timer holds: it failed at once, CATCH_UP_TIMEOUT, its learner left behind.
  for (const timeoutMs of [2 ** 31, 1e12, Number.POSITIVE_INFINITY, Number.NaN, 0]) {
    const error = await t.throwsAsync(cluster.addNode({ timeoutMs }), { instanceOf: RaftlabError }, String(timeoutMs));
    t.is(error?.code, ErrorCode.InvalidArgument, String(timeoutMs));
    t.regex(error?.message ?? '', /timeoutMs must be a positive number of milliseconds up to 2147483647/, String(timeoutMs));
    // As written: NaN and Infinity read "null" in JSON, which is not what was passed.
    t.true(error?.message.endsWith(`got ${String(timeoutMs)}`), error?.message);
  }
  // The same for a node id and a list of them.
  for (const [call, written] of [
    [() => cluster.removeNode(Number.NaN), 'NaN (number)'],
    [() => cluster.promote(Number.POSITIVE_INFINITY), 'Infinity (number)'],
  ] as const) {
    const error = await t.throwsAsync(call(), { instanceOf: RaftlabError }, written);
    t.is(error?.code, ErrorCode.InvalidArgument, written);
    t.true(error?.message.endsWith(`got ${written}`), error?.message);
  }
  const list = await t.throwsAsync(cluster.setVoters([1, Number.NaN]), { instanceOf: RaftlabError });
  t.is(list?.code, ErrorCode.InvalidMembershipChange);
  t.regex(list?.message ?? '', /^cannot make \[1,NaN\] the voters/);
  t.deepEqual(cluster.nodeIds, [1, 2, 3]);
  t.deepEqual([...cluster.status().membership.voters].sort(), [1, 2, 3]);
  const client = t.throws(() => cluster.client({ timeout: 100 } as unknown as { timeoutMs: number }), { instanceOf: RaftlabError });
  t.is(client?.code, ErrorCode.InvalidArgument);
  t.regex(client?.message ?? '', /^cannot make a client: unknown option\(s\) "timeout"; it takes timeoutMs/);
});

test.serial("logLevel sets what each node writes to its node.log: 'silent' nothing, the default its state changes", async (t) => {
  const parent = tempDir('raftlab-embed-');
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const lines = async (options: ClusterOptions, dataDir: string): Promise<string[]> => {
    const cluster = await Cluster.start({ nodes: 1, dataDir, fsync: false, ...options });
    await cluster.waitForLeader(WAIT_MS);
    await cluster.client().put('a', 1);
    await cluster.stop();
    return readFileSync(join(dataDir, 'node-1', 'node.log'), 'utf8').split('\n').filter((line) => line !== '');
  };
  t.true((await lines({}, join(parent, 'default'))).length > 0, 'the default writes its state changes');
  t.deepEqual(await lines({ logLevel: 'silent' }, join(parent, 'silent')), []);
  t.deepEqual(await lines({ logLevel: 'warn' }, join(parent, 'warn')), [], 'a clean run has nothing at warn');
  const error = await t.throwsAsync(Cluster.start({ nodes: 1, dataDir: join(parent, 'loud'), logLevel: 'loud' as unknown as 'info' }), { instanceOf: RaftlabError });
  t.is(error?.code, ErrorCode.InvalidConfig);
  t.regex(error?.message ?? '', /^logLevel must be one of silent, fatal, error, warn, info, debug, trace, got "loud"/);
});

test.serial('waitFor with no deadline (Infinity) waits until stop(); a timeout that is not a number of ms is INVALID_ARGUMENT', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 1, fsync: false });
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(`${warning.name}: ${warning.message}`);
  };
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  for (const timeoutMs of [Number.NaN, -1, '5' as unknown as number]) {
    const error = await t.throwsAsync(cluster.waitFor(() => true, timeoutMs), { instanceOf: RaftlabError }, String(timeoutMs));
    t.is(error?.code, ErrorCode.InvalidArgument, String(timeoutMs));
  }
  let ended = false;
  const forever = cluster.waitFor(() => false, Number.POSITIVE_INFINITY, 'nothing').finally(() => {
    ended = true;
  });
  const beyond = cluster.waitFor(() => false, 2 ** 32, 'nothing');
  // Both would end (TIMEOUT) within a few ms if their timers were set to 1 ms: the node's
  // next status report (every 100 ms) comes later.
  const after = Date.now();
  await cluster.waitFor((status) => status.nodes.every((node) => node.reportedAt > after), WAIT_MS, 'a status report after the waits began');
  t.false(ended, 'no deadline: still waiting');
  await cluster.stop();
  t.is((await t.throwsAsync(forever, { instanceOf: RaftlabError }))?.code, ErrorCode.ClusterStopped);
  t.is((await t.throwsAsync(beyond, { instanceOf: RaftlabError }))?.code, ErrorCode.ClusterStopped);
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.deepEqual(warnings.filter((warning) => warning.startsWith('TimeoutOverflowWarning')), [], 'no warning printed on the embedder\'s stderr');
});

test.serial("a 1-node cluster's events name a term before its leader: term-changed, then vote-granted, then leader-elected", async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 1, fsync: false });
  await cluster.waitForLeader(WAIT_MS);
  await cluster.crash(1);
  const from = events.length;
  await cluster.restart(1);
  await cluster.waitForLeader(WAIT_MS);
  const after = (): ClusterEvent[] => events.slice(from).filter((event) => event.node === 1);
  const elected = await eventually(() => after().find((event) => event.kind === 'leader-elected'), WAIT_MS, 'leader-elected after the restart');
  const order = after().filter((event) => event.term === elected.term).map((event) => event.kind);
  t.log(order.join(', '));
  const termAt = order.indexOf('term-changed');
  const voteAt = order.indexOf('vote-granted');
  const leaderAt = order.indexOf('leader-elected');
  t.true(termAt >= 0, `a term-changed for term ${elected.term}`);
  t.true(termAt < voteAt && voteAt < leaderAt, `term-changed, vote-granted, leader-elected in that order, got: ${order.join(', ')}`);
});

test.serial('Cluster.start with a signal: aborted while its nodes start, it rejects START_ABORTED, stops them and frees the directory; aborted before, it makes nothing', async (t) => {
  const parent = tempDir('raftlab-abort-');
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const dataDir = join(parent, 'data');
  const before = new AbortController();
  before.abort(new Error('the embedder changed its mind'));
  const early = await t.throwsAsync(Cluster.start({ nodes: 3, dataDir, fsync: false, signal: before.signal }), { instanceOf: RaftlabError });
  t.is(early?.code, ErrorCode.StartAborted);
  t.regex(early?.message ?? '', /before it began.*the embedder changed its mind/);
  t.false(existsSync(dataDir), 'an abort before the start makes no directory');

  const during = new AbortController();
  const startedAt = Date.now();
  const starting = Cluster.start({ nodes: 3, dataDir, fsync: false, signal: during.signal, startTimeoutMs: 60_000 });
  during.abort(new Error('shutting down'));
  const error = await t.throwsAsync(starting, { instanceOf: RaftlabError });
  t.is(error?.code, ErrorCode.StartAborted, error?.message);
  t.regex(error?.message ?? '', /while its nodes started.*shutting down/);
  t.true(Date.now() - startedAt < 30_000, 'at the abort, not at startTimeoutMs');
  t.false(existsSync(join(dataDir, LOCK_FILE)), 'the lock is released');
  // The directory starts again, whole: nothing the aborted start left holds it.
  const again = await Cluster.start({ dataDir, fsync: false });
  t.is(again.status().nodes.length, 3);
  await again.waitForLeader(WAIT_MS);
  await again.stop();

  const bad = await t.throwsAsync(Cluster.start({ dataDir, fsync: false, signal: 'stop' as unknown as AbortSignal }), { instanceOf: RaftlabError });
  t.is(bad?.code, ErrorCode.InvalidConfig);
});
