// Seeded garbage on the client ports of a real cluster (from the KV audit, thirtieth
// session): batches of write and read frames whose commands are mutated (bytes changed,
// inserted, removed, cut short), or lie about their lengths, or whose whole batch is
// mutated. Every frame of a batch a node can read gets an answer with a known code,
// nothing crashes, the replicas apply whatever got into the log alike, and the cluster
// serves on. Rerun a failure with CLIENT_FUZZ_SEED=<seed>.

import test from 'ava';
import type { Cluster } from '../lib/cluster/cluster.js';
import { ErrorCode } from '../lib/cluster/errors.js';
import { decodeReplyBatch, encodeClientBatch, NodeReplyCode } from '../lib/cluster/protocol.js';
import type { ClientFrame, Reply } from '../lib/cluster/protocol.js';
import { encodeCommand } from '../lib/kv/command.js';
import type { KvOperation } from '../lib/kv/command.js';
import { eventually, lead, startCluster } from './helpers/cluster.js';
import { createPrng, testSeed } from './helpers/seed.js';

const WAIT_MS = 15_000;
const BATCHES = 240;
const KEYS = ['k0', 'k1', 'k2', 'l0', 'l1', 'é-ключ', '𝄞'];

const KNOWN_CODES = new Set<string>([...Object.values(ErrorCode), ...Object.values(NodeReplyCode)]);

test.serial('mutated, lying and truncated client frames are each answered with a known code; no node crashes and the replicas agree', async (t) => {
  const seed = testSeed('CLIENT_FUZZ_SEED');
  t.log(`seed ${seed} (CLIENT_FUZZ_SEED=${seed} replays it)`);
  const random = createPrng(seed);
  const below = (n: number): number => Math.floor(random() * n);
  const { cluster } = await startCluster(t, { nodes: 3, seed, snapshotEntries: 200 });
  await cluster.waitForLeader(WAIT_MS);
  const ports = cluster.connectClientPorts();
  t.teardown(() => {
    for (const port of ports.values()) port.close();
  });
  const answers = new Map<string, Reply>();
  for (const [id, port] of ports) {
    port.on('message', (bytes: unknown) => {
      for (const reply of decodeReplyBatch(bytes)) answers.set(`${id}:${reply.rid}`, reply);
    });
  }

  // Sessions for the fuzz's requests, registered first, so that what survives mutation applies.
  const leader = await cluster.waitForLeader(WAIT_MS);
  const registrations: ClientFrame[] = Array.from({ length: 4 }, (_, i) => ({ t: 'w', rid: 1_000_000 + i, command: encodeCommand({ type: 'register', clientId: `fuzz-session-${i}`, secret: 1 }) }));
  ports.get(leader)!.postMessage(encodeClientBatch(registrations));
  const sessions = await eventually(
    () => {
      const ids = registrations.map((frame) => answers.get(`${leader}:${frame.rid}`)).map((reply) => (reply?.ok === true ? reply.value : null));
      return ids.every((id) => typeof id === 'number') ? (ids as number[]) : null;
    },
    WAIT_MS,
    'the fuzz sessions to register',
  );
  const command = (): Uint8Array => {
    if (below(6) === 0) return encodeCommand({ type: 'register', clientId: `fuzz-${below(40)}`, secret: 1 + below(3) });
    const key = KEYS[below(KEYS.length)]!;
    const operations: KvOperation[] = [
      { op: 'put', key, value: below(2) === 0 ? 'x'.repeat(below(40)) : { a: [below(9), null, true, 'é'] } },
      { op: 'append', key, value: below(100) },
      { op: 'cas', key, expected: null, value: below(3) },
      { op: 'delete', key },
      { op: 'get', key },
    ];
    const operation = operations[below(operations.length)]!;
    const seq = 1 + below(30);
    const session = sessions[below(sessions.length)]!;
    return operation.op === 'append' && below(2) === 0
      ? encodeCommand({ type: 'request', session, secret: 1, seq, ackedBelow: below(seq + 1), operation, maxValueBytes: 1 + below(2000) })
      : encodeCommand({ type: 'request', session, secret: 1, seq, ackedBelow: below(seq + 1), operation });
  };
  const mutate = (bytes: Uint8Array): Uint8Array => {
    const mutated = Array.from(bytes);
    for (let m = 1 + below(3); m > 0; m--) {
      const at = below(mutated.length + 1);
      switch (below(6)) {
        case 0:
          if (mutated.length > 0) mutated[at % mutated.length] = below(256);
          break;
        case 1:
          mutated.splice(at, 0, below(256));
          break;
        case 2:
          mutated.splice(at, 1);
          break;
        case 3:
          mutated.length = Math.min(mutated.length, at);
          break;
        case 4: // a header that lies about its length: an array32, str32 or map32 of up to 2^32 - 1
          mutated.splice(at, 0, [0xdd, 0xdb, 0xdf, 0xc6][below(4)]!, below(256), below(256), below(256), below(256));
          break;
        default:
          if (mutated.length > 0) mutated[at % mutated.length]! ^= 1 << below(8);
      }
    }
    return Uint8Array.from(mutated);
  };

  const expected: string[] = [];
  let rid = 1;
  for (let batch = 0; batch < BATCHES; batch++) {
    const frames: ClientFrame[] = [];
    for (let i = 1 + below(8); i > 0; i--) {
      if (below(4) === 0) frames.push({ t: 'r', rid: rid++, key: below(3) === 0 ? String.fromCodePoint(below(0x11000)) : KEYS[below(KEYS.length)]! });
      else frames.push({ t: 'w', rid: rid++, command: below(3) === 0 ? command() : mutate(command()) });
    }
    const node = cluster.nodeIds[below(cluster.nodeIds.length)]!;
    const wholeMutated = below(6) === 0;
    ports.get(node)!.postMessage(wholeMutated ? mutate(encodeClientBatch(frames)) : encodeClientBatch(frames));
    // A batch mutated whole may be read in part or not at all: only the others are owed answers.
    if (!wholeMutated) for (const frame of frames) expected.push(`${node}:${frame.rid}`);
    if (batch % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
  }
  await cluster.waitFor(() => expected.every((key) => answers.has(key)), WAIT_MS, `answers to all ${expected.length} frames of the batches sent whole (seed ${seed})`);
  const unknown = [...answers.values()].filter((reply) => !reply.ok && !KNOWN_CODES.has(reply.code));
  t.deepEqual(unknown, [], `seed ${seed}: answers with codes no caller knows`);
  t.true(cluster.status().nodes.every((node) => node.alive), `seed ${seed}: every node still runs`);
  // Counted in the nodes' status reports, which come every 100 ms: waited for, not read at once
  // (CI saw none yet for seed 245178, which passes when replayed).
  const reported = await cluster.waitFor((status) => status.nodes.some((node) => node.malformedMessages > 0), WAIT_MS, `a status counting malformed frames (seed ${seed})`);
  t.true(reported.nodes.some((node) => node.malformedMessages > 0), 'some frames were refused as malformed');

  // Serves on, and every replica holds what the others do.
  const kv = cluster.client({ timeoutMs: WAIT_MS });
  await kv.put('after', seed);
  const readings = await readingsAtEveryNode(cluster, kv);
  t.is(new Set(readings).size, 1, `seed ${seed}: the replicas disagree:\n${readings.join('\n')}`);
  t.log(`${answers.size} answers; every node, leading in turn, reads ${readings[0]}`);
});

/** The keys' values read at each node in turn, as the leader: one JSON line per node. */
async function readingsAtEveryNode(cluster: Cluster, kv: ReturnType<Cluster['client']>): Promise<string[]> {
  const readings: string[] = [];
  for (const id of cluster.nodeIds) {
    await lead(cluster, id, WAIT_MS);
    const values: unknown[] = [];
    for (const key of [...KEYS, 'after']) values.push(await kv.get(key));
    readings.push(JSON.stringify(values));
  }
  return readings;
}
