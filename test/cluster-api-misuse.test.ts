// The supervisor API used in odd orders and with meaningless arguments: after stop(),
// while a node starts, twice at once, faults that name no link. Each gets a typed error
// at once (or does what it says), and nothing is left running.

import test from 'ava';
import { Cluster } from '../lib/cluster/cluster.js';
import { RaftlabError } from '../lib/cluster/errors.js';
import type { ErrorCode } from '../lib/cluster/errors.js';
import { EventKind } from '../lib/cluster/types.js';
import { startCluster } from './helpers/cluster.js';

const WAIT_MS = 15_000;

test.serial('after stop() every call is CLUSTER_STOPPED at once, and a restart cannot leave a worker behind', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  await cluster.crash(2);
  await cluster.stop();
  const calls: [string, () => unknown][] = [
    ['restart', () => cluster.restart(2)],
    ['crash', () => cluster.crash(1)],
    ['partition', () => cluster.partition([[1], [2, 3]])],
    ['cutLink', () => cluster.cutLink(1, 2)],
    ['setLinkFaults', () => cluster.setLinkFaults({ dropRate: 0.1 })],
    ['heal', () => cluster.heal()],
    ['setTickMs', () => cluster.setTickMs(50)],
    ['campaign', () => cluster.campaign(1)],
    ['transferLeadership', () => cluster.transferLeadership(1)],
    ['waitForLeader', () => cluster.waitForLeader(5000)],
  ];
  for (const [name, call] of calls) {
    const started = Date.now();
    const error = await t.throwsAsync(async () => call(), { instanceOf: RaftlabError }, name);
    t.is(error?.code, 'CLUSTER_STOPPED', name);
    t.true(Date.now() - started < 1000, `${name} failed at once`);
  }
  t.true(cluster.status().nodes.every((node) => !node.alive), 'no node runs after stop()');
});

test.serial('a restart racing stop() ends with an error and its worker stopped', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  await cluster.crash(3);
  const restarting = cluster.restart(3);
  await cluster.stop();
  const error = await t.throwsAsync(restarting, { instanceOf: RaftlabError });
  t.true(['CLUSTER_STOPPED', 'NODE_FAILED'].includes(error?.code ?? ''), error?.message);
  t.false(cluster.status().nodes.find((node) => node.id === 3)!.alive);
});

test.serial('a node crashed while it starts fails its restart at once, saying so', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  await cluster.crash(3);
  const started = Date.now();
  const restarting = cluster.restart(3);
  // Crash it before it reports that it started (its worker exists from the first moment).
  await cluster.crash(3);
  const error = await t.throwsAsync(restarting, { instanceOf: RaftlabError });
  t.is(error?.code, 'NODE_FAILED');
  t.regex(error?.message ?? '', /node 3 did not start: it was crashed or stopped while starting/);
  t.true(Date.now() - started < 5000, 'not at the 30 s start timeout');
  await cluster.restart(3);
  await cluster.waitFor((status) => status.nodes.every((node) => node.alive), WAIT_MS, 'every node up again');
});

test.serial('two crashes of one node at once: one crashes it, the other is NODE_NOT_RUNNING, one event', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  const results = await Promise.allSettled([cluster.crash(2), cluster.crash(2)]);
  t.deepEqual(results.map((result) => result.status).sort(), ['fulfilled', 'rejected']);
  const rejected = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
  t.is((rejected.reason as RaftlabError).code, 'NODE_NOT_RUNNING');
  t.is(events.filter((event) => event.kind === EventKind.Crash && event.node === 2).length, 1);
});

test.serial('faults that name no link, a delay no timer holds, and transfers that cannot happen are refused', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(WAIT_MS);
  const refusals: [string, () => unknown, ErrorCode][] = [
    ['cutLink(1, 1)', () => cluster.cutLink(1, 1), 'INVALID_ARGUMENT'],
    ['partition([])', () => cluster.partition([]), 'INVALID_ARGUMENT'],
    ['partition([[], [1, 2, 3]])', () => cluster.partition([[], [1, 2, 3]]), 'INVALID_ARGUMENT'],
    ['delay 3e9 ms', () => cluster.setLinkFaults({ delayMs: 3e9 }), 'INVALID_ARGUMENT'],
    ['transfer to the leader', () => cluster.transferLeadership(leader), 'INVALID_ARGUMENT'],
  ];
  for (const [name, call, code] of refusals) {
    const error = t.throws(call, { instanceOf: RaftlabError }, name);
    t.is(error?.code, code, name);
  }
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  await cluster.crash(follower);
  t.is(t.throws(() => cluster.transferLeadership(follower), { instanceOf: RaftlabError })?.code, 'NODE_NOT_RUNNING');
  // Writes go on at once: no transfer holds the leader's proposals back.
  await cluster.client().put('after', 1);
  cluster.heal();
  t.true(events.some((event) => event.kind === EventKind.Heal && event.text === 'network healed (nothing was cut)'));
});

test.serial('a read of an invalid key throws a RaftlabError, as a write does', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 1 });
  await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client();
  for (const key of ['', 5 as unknown as string, 'k'.repeat(2000)]) {
    const error = await t.throwsAsync(kv.get(key), { instanceOf: RaftlabError }, JSON.stringify(key).slice(0, 20));
    t.is(error?.code, 'INVALID_KEY');
    t.false(error?.indeterminate);
  }
});

test.serial('promoting a voter is refused at once; removing a node that is down says it was down', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(WAIT_MS);
  const voter = [1, 2, 3].find((id) => id !== leader)!;
  const started = Date.now();
  const error = await t.throwsAsync(cluster.promote(voter, { timeoutMs: 20_000 }), { instanceOf: RaftlabError });
  t.is(error?.code, 'INVALID_MEMBERSHIP_CHANGE');
  t.regex(error?.message ?? '', /is a voter already/);
  t.true(Date.now() - started < 2000, 'refused before any catch-up wait');
  await cluster.crash(voter);
  await cluster.removeNode(voter, { timeoutMs: 20_000 });
  t.true(events.some((event) => event.kind === EventKind.NodeRemoved && event.text === `node ${voter} left the cluster; it was down`));
});

test.serial('a write no node could be sent (every node down) is NO_LEADER, definite, for a client that registered before', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  const kv = cluster.client({ timeoutMs: 1500 });
  await kv.put('a', 1);
  for (const id of [1, 2, 3]) await cluster.crash(id);
  const error = await t.throwsAsync(kv.put('b', 2), { instanceOf: RaftlabError });
  t.is(error?.code, 'NO_LEADER', error?.message);
  t.false(error?.indeterminate, 'nothing was sent, so nothing was applied');
});

test.serial('a value changed by the caller after put() is stored as it was passed, and cannot slip past the checks', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  // A fresh client: its first write waits for the registration before it is encoded.
  const kv = cluster.client();
  const value: Record<string, unknown> = { a: [1] };
  const put = kv.put('x', value as never);
  (value.a as number[]).push(2);
  value.n = Number.NaN;
  await put;
  t.deepEqual(await kv.get('x'), { a: [1] });
  // Registered now: the next write is encoded before put() returns.
  const again: Record<string, unknown> = { a: 1 };
  const second = kv.put('y', again as never);
  again.a = 2;
  const list = [1];
  const third = kv.put('z', list);
  list.push(2);
  await Promise.all([second, third]);
  t.deepEqual([await kv.get('y'), await kv.get('z')], [{ a: 1 }, [1]]);
});

test.serial('a Proxy or an accessor is stored as the JSON it reads as on a client\'s first write as on later ones; a value whose second read is no JSON value is INVALID_VALUE', async (t) => {
  // From the KV audit (thirtieth session): a first write copied its value with
  // structuredClone, which threw a DOMException (code 25, no `indeterminate`) on a Proxy
  // that a registered client stores, and on a getter that returned a function the second time.
  const { cluster } = await startCluster(t, { nodes: 1 });
  await cluster.waitForLeader(WAIT_MS);
  const fresh = () => cluster.client();
  await fresh().put('proxy', new Proxy({ a: [1, { b: 'c' }] }, {}));
  await fresh().append('list', new Proxy([1, 2], {}) as unknown as number[]);
  t.true(await fresh().cas('proxy', new Proxy({ a: [1, { b: 'c' }] }, {}), new Proxy(['swapped'], {}) as unknown as string[]));
  const registered = fresh();
  await registered.put('warm', 1);
  await registered.put('again', new Proxy({ a: 1 }, {}));
  const reader = fresh();
  t.deepEqual([await reader.get('proxy'), await reader.get('list'), await reader.get('again')], [['swapped'], [[1, 2]], { a: 1 }]);

  let reads = 0;
  const turncoat = {
    get a(): unknown {
      reads++;
      return reads === 1 ? 1 : () => 1;
    },
  };
  const error = await t.throwsAsync(fresh().put('turncoat', turncoat as never), { instanceOf: RaftlabError });
  t.like(error, { code: 'INVALID_VALUE', indeterminate: false });
  t.is(await reader.get('turncoat'), null, 'nothing stored');
});

test.serial('start options out of range are INVALID_CONFIG before any worker starts', async (t) => {
  const cases: [string, Parameters<typeof Cluster.start>[0]][] = [
    ['maxValueBytes', { maxValueBytes: Number.NaN }],
    ['maxValueBytes', { maxValueBytes: 0 }],
    ['maxValueBytes', { maxValueBytes: '4096' as unknown as number }],
    ['maxValueBytes', { maxValueBytes: 2 ** 40 }],
    ['electionTicks', { electionTicks: 1 }],
    ['heartbeatTicks', { heartbeatTicks: 0 }],
    ['heartbeatTicks', { electionTicks: 5, heartbeatTicks: 5 }],
    ['segmentBytes', { segmentBytes: 10 }],
    ['startTimeoutMs', { startTimeoutMs: 0 }],
  ];
  for (const [name, options] of cases) {
    const started = Date.now();
    const error = await t.throwsAsync(Cluster.start({ nodes: 1, ...options }), { instanceOf: RaftlabError }, JSON.stringify(options));
    t.is(error?.code, 'INVALID_CONFIG', JSON.stringify(options));
    t.regex(error?.message ?? '', new RegExp(`^${name} must be an integer from`), JSON.stringify(options));
    t.true(Date.now() - started < 500, `${JSON.stringify(options)} refused at once`);
  }
});

test.serial('setVoters and removeNode with ids that are not a list of distinct numbers are refused, and change nothing', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(WAIT_MS);
  for (const voters of [5, [1, 1, 2], [1, '2'], []] as unknown as number[][]) {
    const error = await t.throwsAsync(cluster.setVoters(voters), { instanceOf: RaftlabError }, JSON.stringify(voters));
    t.is(error?.code, 'INVALID_MEMBERSHIP_CHANGE', JSON.stringify(voters));
    t.regex(error?.message ?? '', /give an array of one or more distinct node ids/);
  }
  const stringId = await t.throwsAsync(cluster.removeNode('1' as unknown as number), { instanceOf: RaftlabError });
  t.is(stringId?.code, 'INVALID_ARGUMENT');
  t.regex(stringId?.message ?? '', /a node id is a positive integer, got "1" \(string\)/);
  t.deepEqual([...cluster.status().membership.voters].sort(), [1, 2, 3]);
});
