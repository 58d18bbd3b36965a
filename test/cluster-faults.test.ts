// Functional fault tests: crashes, partitions, retries, garbage. Real workers and files.

import test from 'ava';
import { ClientHub } from '../lib/cluster/client.js';
import type { Cluster } from '../lib/cluster/cluster.js';
import { ErrorCode, RaftlabError } from '../lib/cluster/errors.js';
import { KV_LIMITS, encodeCommand } from '../lib/kv/command.js';
import { decodeReplyBatch, packExact } from '../lib/cluster/protocol.js';
import { eventually, startCluster } from './helpers/cluster.js';

function rawHub(cluster: Cluster): ClientHub {
  const hub = new ClientHub(cluster.nodeIds);
  for (const [id, port] of cluster.connectClientPorts()) hub.connect(id, port);
  return hub;
}

test.serial('crashing the leader under a stream of writes loses no acknowledged write', async (t) => {
  const { cluster, events } = await startCluster(t, { nodes: 3 });
  const firstLeader = await cluster.waitForLeader(10_000);
  const acknowledged = new Set<string>();
  let indeterminate = 0;
  let stop = false;
  const writers = Array.from({ length: 8 }, async (_, writer) => {
    const kv = cluster.client({ timeoutMs: 4000 });
    for (let i = 0; !stop; i++) {
      const key = `w${writer}-${i}`;
      try {
        await kv.put(key, i);
        acknowledged.add(key);
      } catch (error) {
        t.true((error as RaftlabError).indeterminate || (error as RaftlabError).code === 'NO_LEADER', String(error));
        indeterminate++;
      }
    }
  });
  await eventually(() => acknowledged.size >= 200, 10_000, '200 acknowledged writes');
  await cluster.crash(firstLeader);
  const secondLeader = await cluster.waitForLeader(10_000);
  t.not(secondLeader, firstLeader);
  const countAtNewLeader = acknowledged.size;
  await eventually(() => acknowledged.size >= countAtNewLeader + 200, 10_000, '200 more writes under the new leader');
  stop = true;
  await Promise.all(writers);
  await cluster.restart(firstLeader);
  // Before its first status report the restarted node must not show what it was before.
  const restarted = cluster.status().nodes[firstLeader - 1]!;
  t.true(restarted.alive);
  t.is(restarted.role, 'follower');
  t.is(restarted.leaderId, 0);
  const reader = cluster.client();
  const missing: string[] = [];
  for (const key of acknowledged) if ((await reader.get(key)) === null) missing.push(key);
  t.deepEqual(missing, [], `acknowledged writes missing after the crash; events: ${events.map((e) => e.text).join('\n')}`);
  t.log(`${acknowledged.size} acknowledged, ${indeterminate} indeterminate, leader ${firstLeader} → ${secondLeader}`);
  t.true(events.some((e) => e.kind === 'crash' && e.node === firstLeader));
  t.true(events.some((e) => e.kind === 'restart' && e.node === firstLeader));
});

test.serial('a leader partitioned into a minority neither commits nor reads; the majority moves on; heal discards its tail', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 5 });
  const oldLeader = await cluster.waitForLeader(10_000);
  const kv = cluster.client({ timeoutMs: 8000 });
  await kv.put('before', 'partition');
  const others = cluster.nodeIds.filter((id) => id !== oldLeader);
  const minority = [oldLeader, others[0]!];
  const majority = others.slice(1);
  cluster.partition([minority, majority]);

  // Straight to the old leader, bypassing the client's redirects.
  const hub = rawHub(cluster);
  t.teardown(() => hub.close());
  const register = await hub.request(oldLeader, { t: 'w', command: encodeCommand({ type: 'register', clientId: 'minority-writer', secret: 1 }) }, 1500);
  t.false(register.ok, 'the isolated leader must not commit a registration');
  const write = await hub.request(
    oldLeader,
    // Session 1 is the cluster's first entry that any register could have made: it does not matter, the write must fail before any session check.
    { t: 'w', command: encodeCommand({ type: 'request', session: 1, secret: 1, seq: 1, ackedBelow: 1, operation: { op: 'put', key: 'minority', value: 'lost' } }) },
    1500,
  );
  t.false(write.ok, 'the isolated leader must not acknowledge a write');
  const read = await hub.request(oldLeader, { t: 'r', key: 'before' }, 1500);
  t.false(read.ok, 'the isolated leader must not serve a read');

  const oldTerm = cluster.status().nodes[oldLeader - 1]!.term;
  const elected = await cluster.waitFor(
    (s) => s.nodes.some((n) => majority.includes(n.id) && n.role === 'leader' && n.term > oldTerm),
    10_000,
    'a new leader in the majority',
  );
  t.true(majority.includes(elected.leaderId), `new leader ${elected.leaderId} must be in the majority ${majority.join(',')}`);
  // CheckQuorum: a leader that has not heard from a majority within an election timeout steps down.
  await cluster.waitFor((s) => s.nodes[oldLeader - 1]!.role !== 'leader', 5000, 'the isolated leader to step down');
  await kv.put('during', 'partition');
  t.is(await kv.get('before'), 'partition');

  cluster.heal();
  const agreed = await cluster.waitFor(
    (s) => {
      const alive = s.nodes.filter((n) => n.alive);
      const first = alive[0]!;
      return alive.every((n) => n.lastLogIndex === first.lastLogIndex && n.lastLogTerm === first.lastLogTerm && n.commitIndex === first.lastLogIndex);
    },
    10_000,
    'all logs to agree after heal',
  );
  t.true(agreed.nodes.every((n) => n.role !== 'leader' || n.id === agreed.leaderId));
  t.is(await kv.get('minority'), null, 'the old leader’s uncommitted write must be gone');
  t.is(await kv.get('during'), 'partition');
});

for (const disableSessions of [false, true]) {
  const title = disableSessions
    ? 'with sessions disabled (test-only bug) the same retry IS applied twice — the test has teeth'
    : 'a request retried with the same id after its leader crashed post-commit is applied once';
  test.serial(title, async (t) => {
    const { cluster } = await startCluster(t, { nodes: 3, testOnly: { disableSessions } });
    const leader = await cluster.waitForLeader(10_000);
    const hub = rawHub(cluster);
    t.teardown(() => hub.close());
    const clientId = 'retrying-client';
    const registered = await hub.request(leader, { t: 'w', command: encodeCommand({ type: 'register', clientId, secret: 1 }) }, 5000);
    t.true(registered.ok);
    const session = registered.ok ? registered.value : null;
    if (typeof session !== 'number') {
      t.fail(`register answered ${JSON.stringify(session)}, not a session id`);
      return;
    }
    const append = encodeCommand({ type: 'request', session, secret: 1, seq: 1, ackedBelow: 1, operation: { op: 'append', key: 'dup', value: 'once' } });
    const first = await hub.request(leader, { t: 'w', command: append }, 5000);
    t.true(first.ok, 'the first attempt commits');
    // Pretend that reply was lost: the leader dies, the client retries the very same request.
    await cluster.crash(leader);
    const next = await cluster.waitForLeader(10_000);
    const retry = await hub.request(next, { t: 'w', command: append }, 5000);
    t.true(retry.ok, 'the retry is answered');
    const kv = cluster.client();
    t.deepEqual(await kv.get('dup'), disableSessions ? ['once', 'once'] : ['once']);
  });
}

test.serial('garbage posted to a node’s ports is counted and dropped; the node keeps serving', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(10_000);
  const ports = cluster.connectClientPorts();
  const victim = ports.get(leader)!;
  victim.postMessage('not bytes');
  victim.postMessage(new Uint8Array([0xc1, 0xff, 0x00, 0x13]));
  victim.postMessage({ t: 'w', rid: -1 });
  victim.postMessage(new Uint8Array([0x91, 0x81, 0xa1, 0x74, 0xa1, 0x77])); // [{t:'w'}]: a map, not a frame tuple
  const follower = cluster.nodeIds.find((id) => id !== leader)!;
  const peerPort = cluster.testOnlyAttachPeerPort(follower, leader);
  peerPort.postMessage(new Uint8Array([1, 2, 3]));
  peerPort.postMessage({ type: 'AppendEntries', term: 1e9 });
  peerPort.postMessage(new Uint8Array(0));
  await cluster.waitFor((s) => s.nodes[leader - 1]!.malformedMessages >= 4, 5000, 'the leader to count malformed client frames');
  await cluster.waitFor((s) => s.nodes[follower - 1]!.malformedMessages >= 3, 5000, 'the follower to count malformed peer messages');
  const kv = cluster.client();
  await kv.put('still', 'alive');
  t.is(await kv.get('still'), 'alive');
  t.true(cluster.status().nodes.every((n) => n.alive));
  for (const port of ports.values()) port.close();
});

test.serial('a refused client frame with a rid is answered MALFORMED_REQUEST, a read of an invalid key INVALID_KEY; a 64-bit tag crashes nothing', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(10_000);
  const ports = cluster.connectClientPorts();
  t.teardown(() => {
    for (const port of ports.values()) port.close();
  });
  const victim = ports.get(leader)!;
  const replies = new Map<number, { code?: string; ok: boolean }>();
  let allIn: () => void = () => undefined;
  const expected = [5, 6, 7, 8];
  victim.on('message', (bytes: unknown) => {
    for (const reply of decodeReplyBatch(bytes)) replies.set(reply.rid, reply.ok ? { ok: true } : { ok: false, code: reply.code });
    if (expected.every((rid) => replies.has(rid))) allIn();
  });
  const answered = new Promise<void>((resolve) => {
    allIn = resolve;
    setTimeout(resolve, 5000).unref();
  });
  // [[uint64 above 2^53, 5, "a"]] (the audit's 14 bytes), then an unknown tag, a read of
  // an empty key and one of a key over 1 KiB, in one batch of valid msgpack.
  victim.postMessage(new Uint8Array([0x91, 0x93, 0xcf, 0x5f, 0xc4, 0x08, 0x96, 0x02, 0x02, 0x12, 0x01, 0x05, 0xa1, 0x61]));
  victim.postMessage(packExact([[7, 6, 'a'], [2, 7, ''], [2, 8, 'k'.repeat(2000)]]));
  await answered;
  t.deepEqual(Object.fromEntries(replies), {
    5: { ok: false, code: 'MALFORMED_REQUEST' },
    6: { ok: false, code: 'MALFORMED_REQUEST' },
    7: { ok: false, code: 'INVALID_KEY' },
    8: { ok: false, code: 'INVALID_KEY' },
  });
  const kv = cluster.client();
  await kv.put('still', 'alive');
  t.is(await kv.get('still'), 'alive');
  t.true(cluster.status().nodes.every((n) => n.alive), 'no node crashed');
});

test.serial('a program writing raw frames cannot name another client\'s session: a wrong secret is SESSION_MISMATCH, a frame without one MALFORMED_COMMAND, and the victim\'s retry is still answered from its session', async (t) => {
  // README's "Not yet" until the thirty-first session: a session id is the log index that
  // registered it, so a raw frame naming it with a high ackedBelow pushed its floor up,
  // and its client's retries became STALE_REQUEST.
  const { cluster } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(10_000);
  const hub = rawHub(cluster);
  t.teardown(() => hub.close());
  const write = (command: Uint8Array) => hub.request(cluster.status().leaderId || leader, { t: 'w', command }, 5000);
  const secret = 0x9e37_79b9;
  const registered = await write(encodeCommand({ type: 'register', clientId: 'victim', secret }));
  const session = registered.ok ? registered.value : null;
  if (typeof session !== 'number') return t.fail(`register answered ${JSON.stringify(registered)}`);
  const victimPut = (seq: number) => encodeCommand({ type: 'request', session, secret, seq, ackedBelow: 0, operation: { op: 'put', key: 'v', value: `put ${seq}` } });
  for (let seq = 1; seq <= 3; seq++) t.like(await write(victimPut(seq)), { ok: true });

  const push = { seq: 100_000, ackedBelow: 100_000, operation: { op: 'put', key: 'v', value: 'hijacked' } } as const;
  for (const wrong of [1, secret - 1, secret + 1]) {
    t.like(await write(encodeCommand({ type: 'request', session, secret: wrong, ...push })), { ok: false, code: 'SESSION_MISMATCH' }, `secret ${wrong}`);
  }
  t.like(await write(encodeCommand({ type: 'request', session, ...push })), { ok: false, code: 'MALFORMED_COMMAND' }, 'a request without a secret (as written before them)');
  t.like(await write(encodeCommand({ type: 'request', session: 0, clientId: 'victim', ...push })), { ok: false, code: 'MALFORMED_COMMAND' }, 'a request naming the client id (as written before session ids)');
  t.like(await write(encodeCommand({ type: 'register', clientId: 'victim' })), { ok: false, code: 'MALFORMED_COMMAND' }, 'a register without a secret');
  t.like(await write(encodeCommand({ type: 'register', clientId: 'victim', secret: 1 })), { ok: false, code: 'SESSION_MISMATCH' }, 'the victim\'s client id under another secret');

  t.like(await write(victimPut(1)), { ok: true, value: null }, 'the victim\'s retry of its first write: answered from its session, not STALE_REQUEST');
  const kv = cluster.client();
  t.is(await kv.get('v'), 'put 3', 'nothing of the intruder applied, and no write twice');
  t.like(await write(victimPut(4)), { ok: true });
  t.is(await kv.get('v'), 'put 4');
});

test.serial('a write frame shorter than maxValueBytes whose value encodes to more (invalid UTF-8, float32s) is VALUE_TOO_LARGE, not stored', async (t) => {
  // From the KV audit (thirtieth session): the leader measured only commands longer than
  // the limit, and a frame from elsewhere than a KvClient stored a value 2.7 times over it,
  // which no KvClient could write back.
  const limit = 1000;
  const { cluster } = await startCluster(t, { nodes: 1, maxValueBytes: limit });
  const leader = await cluster.waitForLeader(10_000);
  const hub = rawHub(cluster);
  t.teardown(() => hub.close());
  const write = (command: Uint8Array) => hub.request(leader, { t: 'w', command }, 5000);
  const registered = await write(encodeCommand({ type: 'register', clientId: 'raw-writer', secret: 1 }));
  const session = registered.ok ? registered.value : null;
  if (typeof session !== 'number') return t.fail(`register answered ${JSON.stringify(registered)}`);
  // A put of 900 bytes of 0xff: each reads as U+FFFD, three bytes.
  const text = encodeCommand({ type: 'request', session, secret: 1, seq: 1, ackedBelow: 0, operation: { op: 'put', key: 'text', value: 'x'.repeat(900) } });
  text.fill(0xff, text.length - 900);
  // A put of 180 float32s: each a float64, nine bytes, once decoded.
  const floats = encodeCommand({ type: 'request', session, secret: 1, seq: 2, ackedBelow: 0, operation: { op: 'put', key: 'floats', value: [] } });
  const float32s = new Uint8Array(floats.length - 1 + 3 + 180 * 5);
  float32s.set(floats.subarray(0, floats.length - 1));
  float32s.set([0xdc, 0, 180], floats.length - 1);
  for (let i = 0; i < 180; i++) float32s.set([0xca, 0x3f, 0xc0, 0, 0], floats.length + 2 + i * 5);
  for (const [name, command] of [['text', text], ['floats', float32s]] as const) {
    t.true(command.length < limit, `the ${name} frame is shorter than the limit`);
    const reply = await write(command);
    t.like(reply, { ok: false, code: 'VALUE_TOO_LARGE' }, name);
  }
  const kv = cluster.client();
  t.deepEqual([await kv.get('text'), await kv.get('floats')], [null, null], 'nothing stored');
  // The same kinds of value within the limit are taken.
  const shorter = encodeCommand({ type: 'request', session, secret: 1, seq: 3, ackedBelow: 0, operation: { op: 'put', key: 'text', value: 'x'.repeat(300) } });
  shorter.fill(0xff, shorter.length - 300);
  t.like(await write(shorter), { ok: true });
  t.is(await kv.get('text'), '\uFFFD'.repeat(300));
});

test.serial('a get proposed through the log is refused INVALID_ARGUMENT and appends nothing; a read frame reads', async (t) => {
  // From the KV audit (thirtieth session): each stored a copy of the value it read in its
  // session (4,096 replies kept per session) on every replica and in every snapshot: 10-byte
  // frames kept a MiB each.
  const { cluster } = await startCluster(t, { nodes: 3 });
  const leader = await cluster.waitForLeader(10_000);
  const kv = cluster.client();
  await kv.put('big', 'x'.repeat(100_000));
  const hub = rawHub(cluster);
  t.teardown(() => hub.close());
  const registered = await hub.request(leader, { t: 'w', command: encodeCommand({ type: 'register', clientId: 'log-reader', secret: 1 }) }, 5000);
  const session = registered.ok ? registered.value : null;
  if (typeof session !== 'number') return t.fail(`register answered ${JSON.stringify(registered)}`);
  const lastLogIndex = () => cluster.status().nodes.find((node) => node.id === leader)!.lastLogIndex;
  // At least up to the register (its index is the session id): a status taken before the
  // register's entry reached the leader's log also shows its log applied (a loaded run
  // read `before` there, and then the register's entry as appended).
  await cluster.waitFor((s) => {
    const status = s.nodes.find((node) => node.id === leader)!;
    return status.appliedIndex >= session && status.appliedIndex === status.lastLogIndex;
  }, 10_000, 'the leader to apply its log');
  const before = lastLogIndex();
  const replies = await Promise.all(
    Array.from({ length: 8 }, (_, i) => hub.request(leader, { t: 'w', command: encodeCommand({ type: 'request', session, secret: 1, seq: i + 1, ackedBelow: 0, operation: { op: 'get', key: 'big' } }) }, 5000)),
  );
  for (const reply of replies) t.like(reply, { ok: false, code: 'INVALID_ARGUMENT' });
  t.is(lastLogIndex(), before, 'nothing was appended');
  const read = await hub.request(leader, { t: 'r', key: 'big' }, 5000);
  t.like(read, { ok: true, value: 'x'.repeat(100_000) });
});

test.serial('at the session bound a retried append is answered from its session; one session more evicts the least recently active, whose retry is SESSION_EXPIRED and applies nothing', async (t) => {
  // From the KV audit (thirtieth session), through a real cluster: KV_LIMITS.maxSessions sessions exactly.
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(10_000);
  const hub = rawHub(cluster);
  t.teardown(() => hub.close());
  // Sent to the leader until a final answer (registering and retrying are both what is tested to be harmless).
  const passing = new Set(['NOT_LEADER', 'LEADERSHIP_LOST', 'LEADERSHIP_TRANSFER_IN_PROGRESS', 'PROPOSAL_QUEUE_FULL', 'ATTEMPT_TIMEOUT', 'CONNECTION_LOST', 'NOT_SENT']);
  const write = async (command: Uint8Array) => {
    for (let attempt = 0; ; attempt++) {
      const reply = await hub.request(await cluster.waitForLeader(10_000), { t: 'w', command }, 5000);
      if (reply.ok) return { ok: true, value: reply.value };
      if (!passing.has(reply.code) || attempt === 20) return { ok: false, code: reply.code };
    }
  };
  const register = async (clientId: string): Promise<number> => {
    const reply = await write(encodeCommand({ type: 'register', clientId, secret: 1 }));
    if (!reply.ok || typeof reply.value !== 'number') throw new Error(`registering ${clientId} answered ${JSON.stringify(reply)}`);
    return reply.value;
  };
  const a = await register('client-a');
  const b = await register('client-b');
  const appendOf = (session: number, key: string) => encodeCommand({ type: 'request', session, secret: 1, seq: 1, ackedBelow: 1, operation: { op: 'append', key, value: 'once' } });
  t.like(await write(appendOf(a, 'list-a')), { ok: true });
  t.like(await write(appendOf(b, 'list-b')), { ok: true });
  // Fill the table to the bound: A is now the least recently active, B the next.
  for (let next = 0; next < KV_LIMITS.maxSessions - 2; ) {
    const chunk = Array.from({ length: Math.min(500, KV_LIMITS.maxSessions - 2 - next) }, () => register(`filler-${next++}`));
    await Promise.all(chunk);
  }
  t.like(await write(appendOf(b, 'list-b')), { ok: true }, 'at the bound: B is kept, its retry answered from the session');
  await register('one-too-many');
  t.like(await write(appendOf(a, 'list-a')), { ok: false, code: 'SESSION_EXPIRED' }, 'A, the least recently active, was evicted');
  const kv = cluster.client();
  t.deepEqual([await kv.get('list-a'), await kv.get('list-b')], [['once'], ['once']], 'neither retry applied again');
});

test.serial('stopping the cluster ends the client calls in flight at once with CLUSTER_STOPPED, not at their deadline', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3 });
  await cluster.waitForLeader(10_000);
  const kv = cluster.client({ timeoutMs: 60_000 });
  await kv.put('before', 1);
  // Writes in flight as the cluster stops (stop() closes the clients' connections at once):
  // some answered, some sent and cut off, some not sent yet.
  const calls = Array.from({ length: 64 }, (_, i) => kv.put(`k${i}`, i).then(() => null, (error: unknown) => error));
  await new Promise((resolve) => setImmediate(resolve));
  const stopping = cluster.stop();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([Promise.all(calls), new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), 20_000)))]);
  clearTimeout(timer);
  await stopping;
  if (settled === 'deadline') return t.fail('the calls were still waiting 20 s after the stop (their deadline is 60 s)');
  for (const error of settled.filter((result) => result !== null)) {
    t.true(error instanceof RaftlabError && error.code === ErrorCode.ClusterStopped, String(error));
  }
  // A call made after the stop fails at once, and was not applied.
  const late = await t.throwsAsync(() => kv.put('late', 1), { instanceOf: RaftlabError, code: ErrorCode.ClusterStopped });
  t.false(late?.indeterminate, late?.message);
  await t.throwsAsync(() => kv.get('before'), { instanceOf: RaftlabError, code: ErrorCode.ClusterStopped });
});
