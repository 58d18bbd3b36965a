// A list grown by appends is bounded by maxValueBytes, and every replica decides each
// append alike: the limit travels in the append's entry, so nodes started with different
// limits, and a cluster restarted with another one, replay the same log to the same list.
// Each node's state is read through it as the leader (ReadIndex answers from the leader's
// own state machine). Waits are on status and events, with bounded timeouts.

import { rmSync } from 'node:fs';
import test from 'ava';
import type { Cluster } from '../lib/cluster/cluster.js';
import { ClientHub, type KvClient } from '../lib/cluster/client.js';
import { encodeCommand } from '../lib/kv/command.js';
import type { RaftlabError } from '../lib/cluster/errors.js';
import { eventually, lead, startCluster, tempDir } from './helpers/cluster.js';
import { testSeed } from './helpers/seed.js';

const WAIT_MS = 15_000;
/** 48 bytes encoded (str8: 2 + 46): a list of n of them is 1 + 48n bytes (n < 16). */
const ELEMENT = 'x'.repeat(46);

async function appendOutcome(kv: KvClient, value: string, key = 'log'): Promise<string> {
  try {
    await kv.append(key, value);
    return 'ok';
  } catch (error) {
    const failure = error as RaftlabError;
    return `${failure.code}/${failure.indeterminate ? 'indeterminate' : 'definite'}`;
  }
}

/** The list as each node holds it, read through that node as the leader. */
async function listOnEveryNode(cluster: Cluster, kv: KvClient): Promise<Map<number, unknown>> {
  const lists = new Map<number, unknown>();
  for (const id of cluster.nodeIds) {
    await lead(cluster, id, WAIT_MS);
    lists.set(id, await kv.get('log'));
  }
  return lists;
}

test.serial('nodes restarted with different maxValueBytes replay the same appends to the same list, and refuse the same ones', async (t) => {
  const dataDir = tempDir();
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const seed = testSeed('LIST_BOUND_SEED');

  // 1. Every node and the client at 400 bytes: 8 elements fit (385 bytes), the 9th (433) does not.
  const first = await startCluster(t, { nodes: 3, dataDir, seed, maxValueBytes: 400 });
  const kv = first.cluster.client({ timeoutMs: WAIT_MS });
  await lead(first.cluster, 1, WAIT_MS);
  const outcomes: string[] = [];
  for (let i = 0; i < 12; i++) outcomes.push(await appendOutcome(kv, `${i}`.padEnd(46, '.')));
  t.deepEqual(outcomes, [...Array(8).fill('ok'), ...Array(4).fill('VALUE_TOO_LARGE/definite')], 'appends past 400 bytes are refused, definitely');
  const expected = Array.from({ length: 8 }, (_, i) => `${i}`.padEnd(46, '.'));
  t.deepEqual(await kv.get('log'), expected);
  await first.cluster.stop();

  // 2. Restarted on the same files, node 2 at 100 bytes and node 3 at 1000: each replays
  //    the entries above (limit 400 in each), and holds the same 8 elements. Deciding by
  //    its own limit, node 2 would have kept 2 of them and node 3 all 12.
  const second = await startCluster(t, { nodes: 3, dataDir, seed: seed + 1, maxValueBytes: 400, testOnly: { maxValueBytesOf: { 2: 100, 3: 1000 } } });
  const kv2 = second.cluster.client({ timeoutMs: WAIT_MS });
  const lists = await listOnEveryNode(second.cluster, kv2);
  for (const [id, list] of lists) t.deepEqual(list, expected, `node ${id} replayed the log to the same list`);
  t.is(lists.size, 3);

  // New appends: under node 2 (100 bytes: it puts its lower limit in the entry) and node 3
  // (1000 bytes: the client's 400 stands) alike refused, on every node alike.
  await lead(second.cluster, 2, WAIT_MS);
  t.is(await appendOutcome(kv2, ELEMENT), 'VALUE_TOO_LARGE/definite', 'refused under node 2');
  t.is(await appendOutcome(kv2, ''), 'VALUE_TOO_LARGE/definite', 'under node 2 even 1 byte more is refused (385 > 100)');
  await lead(second.cluster, 3, WAIT_MS);
  t.is(await appendOutcome(kv2, ELEMENT), 'VALUE_TOO_LARGE/definite', 'refused under node 3 (433 > 400)');
  const kvOther = second.cluster.client({ timeoutMs: WAIT_MS });
  await kvOther.put('other', []);
  t.is(await appendOutcome(kvOther, ELEMENT, 'other'), 'ok', 'a short list still grows');
  await second.cluster.stop();

  // 3. The whole cluster restarted at 1000 bytes: the old entries still apply as they did;
  //    new ones carry 1000, and the list grows to 20 elements (3 + 960 bytes), on every node.
  const third = await startCluster(t, { nodes: 3, dataDir, seed: seed + 2, maxValueBytes: 1000 });
  const kv3 = third.cluster.client({ timeoutMs: WAIT_MS });
  await third.cluster.waitForLeader(WAIT_MS);
  const more: string[] = [];
  for (let i = 0; i < 14; i++) more.push(await appendOutcome(kv3, ELEMENT));
  t.deepEqual(more, [...Array(12).fill('ok'), ...Array(2).fill('VALUE_TOO_LARGE/definite')]);
  const grown = [...expected, ...Array(12).fill(ELEMENT)];
  for (const [id, list] of await listOnEveryNode(third.cluster, kv3)) t.deepEqual(list, grown, `node ${id} after the restart at 1000 bytes`);
  // The list that reached the limit can be written back whole and compared by cas.
  t.true(await kv3.cas('log', grown, grown));
  await kv3.put('log', grown);
});

test.serial('the leader holds every append to its own limit: one with no limit (a writer from before the bound) or a larger one gets the leader\'s', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3, seed: testSeed('LIST_BOUND_SEED'), maxValueBytes: 400 });
  await lead(cluster, 1, WAIT_MS);
  // A client claiming 64 MiB: the leader puts its 400 in the entry instead.
  const hub = new ClientHub(cluster.nodeIds, { maxValueBytes: 64 << 20 });
  t.teardown(() => hub.close());
  for (const [id, port] of cluster.connectClientPorts()) hub.connect(id, port);
  const greedy = hub.client({ timeoutMs: WAIT_MS });
  const outcomes: string[] = [];
  for (let i = 0; i < 10; i++) outcomes.push(await appendOutcome(greedy, ELEMENT, 'greedy'));
  t.deepEqual(outcomes, [...Array(8).fill('ok'), ...Array(2).fill('VALUE_TOO_LARGE/definite')]);

  // An append as written before the bound (no limit in it), straight to the leader.
  const send = async (command: Uint8Array): Promise<string> => {
    const reply = await hub.request(1, { t: 'w', command }, WAIT_MS);
    return reply.ok ? `ok:${JSON.stringify(reply.value)}` : reply.code;
  };
  const registered = await send(encodeCommand({ type: 'register', clientId: 'writer-from-before', secret: 1 }));
  const session = Number(registered.slice(3));
  t.true(Number.isSafeInteger(session) && session > 0, registered);
  const raw: string[] = [];
  for (let seq = 1; seq <= 10; seq++) {
    raw.push(await send(encodeCommand({ type: 'request', session, secret: 1, seq, ackedBelow: 0, operation: { op: 'append', key: 'old', value: ELEMENT } })));
  }
  t.deepEqual(raw, [...Array(8).fill('ok:null'), ...Array(2).fill('VALUE_TOO_LARGE')]);
  const kv = cluster.client({ timeoutMs: WAIT_MS });
  t.deepEqual(await kv.get('old'), Array(8).fill(ELEMENT));
});

test.serial('a follower that installs a snapshot of a bounded list decides the next appends as the nodes that applied them', async (t) => {
  const snapshotEntries = 20;
  const { cluster, events } = await startCluster(t, { nodes: 3, seed: testSeed('LIST_BOUND_SEED'), maxValueBytes: 400, snapshotEntries });
  await lead(cluster, 1, WAIT_MS);
  const kv = cluster.client({ timeoutMs: WAIT_MS });
  await kv.put('warm-up', true);
  await cluster.crash(3);
  // 8 elements fill 385 of the 400 bytes; the 9th is refused. Puts then push the leader to compact past node 3.
  const outcomes: string[] = [];
  for (let i = 0; i < 9; i++) outcomes.push(await appendOutcome(kv, ELEMENT));
  t.deepEqual(outcomes, [...Array(8).fill('ok'), 'VALUE_TOO_LARGE/definite']);
  for (let i = 0; i < 4 * snapshotEntries; i++) await kv.put(`k${i}`, i);
  await eventually(() => (cluster.status().nodes.find((status) => status.id === 1)?.snapshotIndex ?? 0) > snapshotEntries, WAIT_MS, 'node 1 to compact');
  await cluster.restart(3);
  await eventually(() => events.find((event) => event.kind === 'snapshot-installed' && event.node === 3), WAIT_MS, 'node 3 to install a snapshot');
  // Node 3 leads, from the list it restored: 15 more bytes fit exactly (400), then not one.
  await lead(cluster, 3, WAIT_MS);
  t.deepEqual(await kv.get('log'), Array(8).fill(ELEMENT));
  t.is(await appendOutcome(kv, 'y'.repeat(14)), 'ok', '385 + 15 = 400 bytes: at the limit');
  t.is(await appendOutcome(kv, ''), 'VALUE_TOO_LARGE/definite', '401 bytes');
  const final = [...Array(8).fill(ELEMENT), 'y'.repeat(14)];
  for (const id of [1, 2, 3]) {
    await lead(cluster, id, WAIT_MS);
    t.deepEqual(await kv.get('log'), final, `node ${id}`);
  }
});
