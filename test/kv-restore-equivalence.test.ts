// A replica restored from a snapshot must be indistinguishable from one that applied the
// log: the same values (byte for byte, -0 and all), the same sessions (so the same
// deduplication), the same replies from then on. Seeded: a failure prints its seed
// (KV_TEST_SEED=<seed> replays it).

import test from 'ava';
import { Packr, unpack } from 'msgpackr';
import { createPrng, testSeed } from './helpers/seed.js';
import { encodeCommand, isCertainlyValidPut, type JsonValue, type KvOperation } from '../lib/kv/command.js';
import { KvStateMachine } from '../lib/kv/state-machine.js';
import { MsgpackWriter } from '../lib/transport/msgpack-writer.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });

/** A deterministic text of a value in which every difference shows: -0, key order, types. */
export function canonical(value: unknown): string {
  if (typeof value === 'number') return Object.is(value, -0) ? 'n:-0' : `n:${value}`;
  if (typeof value === 'string') return `s:${JSON.stringify(value)}`;
  if (value === null) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return `{${Object.keys(value)
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return `?${typeof value}:${Object.prototype.toString.call(value)}:${String(value)}`;
}

/** The whole state of a machine, in an order that does not depend on how it was built. */
function stateOf(machine: KvStateMachine): string {
  const [, index, data, sessions] = unpack(machine.snapshot()) as [number, number, [string, unknown][], unknown[]];
  const keys = data.map(([key]) => key).sort();
  const values = keys.map((key) => `${JSON.stringify(key)}=${canonical(machine.read(key))}`);
  return [`index ${index} applied ${machine.appliedIndex} keys ${machine.size} sessions ${machine.sessionCount}`, ...values, canonical(sessions)].join('\n');
}

/** The first line where two states differ, for a readable failure. */
function firstDifference(a: string, b: string): string {
  const left = a.split('\n');
  const right = b.split('\n');
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    if (left[i] !== right[i]) return `line ${i}: ${left[i]?.slice(0, 200)} vs ${right[i]?.slice(0, 200)}`;
  }
  return 'none';
}

/** [securedRequest, session, secret, seq, ackedBelow, put, key] followed by `value`'s raw msgpack bytes. */
function rawPut(session: number, secret: number, seq: number, ackedBelow: number, key: string, value: readonly number[], tag = 1): Uint8Array {
  const out = new MsgpackWriter(64);
  out.arrayHeader(8);
  out.uint(3);
  out.uint(session);
  out.uint(secret);
  out.uint(seq);
  out.uint(ackedBelow);
  out.uint(tag);
  out.str(key);
  out.raw(Uint8Array.from(value));
  return out.take();
}

const F64_MINUS_ZERO = [0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0];

/** Values a client may send, and some only a crafted entry holds (as raw msgpack bytes). */
function randomValue(random: () => number, depth = 0): JsonValue {
  const roll = random();
  if (roll < 0.15) return Math.floor(random() * 10);
  if (roll < 0.2) return [0.5, -1.25, 1e300, -(2 ** 53) + 1, 2 ** 53 + 2, 2 ** 40, -7][Math.floor(random() * 7)]!;
  if (roll < 0.35) return ['a', 'ascii value', 'é', '日本語', '😀 astral', 'q'.repeat(80), '', 'e\u0301'][Math.floor(random() * 8)]!;
  if (roll < 0.42) return [null, true, false][Math.floor(random() * 3)]!;
  if (depth >= 3) return 'leaf';
  if (roll < 0.7) return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
  const object: Record<string, JsonValue> = {};
  for (let i = Math.floor(random() * 4); i > 0; i--) object[['b', 'a', '1', '0', 'constructor', 'toString', 'é'][Math.floor(random() * 7)]!] = randomValue(random, depth + 1);
  return object;
}

/** Crafted put values (raw msgpack) that no client sends but a committed entry may hold. */
const CRAFTED_VALUES: readonly (readonly number[])[] = [
  F64_MINUS_ZERO, // -0
  [0x92, ...F64_MINUS_ZERO, 0x01], // [-0, 1]
  [0x81, 0xa1, 0x61, ...F64_MINUS_ZERO], // {a: -0}
  [0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02], // {a: 1, a: 2}: a duplicate key
  [0x81, 0x01, 0x02], // {1: 2}: an integer map key
  [0xd4, 0x72, 0x40, 0x91, 0xa1, 0x61, 0x05], // a msgpackr record definition
  [0xa2, 0xc3, 0x28], // invalid UTF-8
  [0xcd, 0x00, 0x05], // 5 as uint16 (not the smallest form)
  [0xca, 0x3d, 0xcc, 0xcc, 0xcd], // float32
  [0xcf, 0, 0, 0, 0, 0, 0, 0, 5], // uint64: a BigInt, not a JSON value
  [0xd4, 0x00, 0x00], // msgpackr's undefined
  [0xd6, 0xff, 0, 0, 0, 1], // a Date
  [0xc4, 0x01, 0x01], // bin: a Buffer
  [0x91, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], // [NaN]
];

interface Run {
  readonly log: (Uint8Array | null)[];
  readonly replies: string[];
  /** Snapshots taken as the log was applied: [index, bytes]. */
  readonly snapshots: [number, Uint8Array][];
  readonly final: string;
}

interface Limits {
  readonly maxSessions: number;
  readonly maxRepliesPerSession: number;
}

/** Tight limits (evictions, replies dropped), and looser ones under which a slow-acking client's reply ring grows past its first 8 slots. */
const LIMITS: readonly Limits[] = [
  { maxSessions: 3, maxRepliesPerSession: 4 },
  { maxSessions: 4, maxRepliesPerSession: 40 },
];

/** Applies a random log to one machine, as it is made, taking snapshots (whole and incremental) at random points. */
function run(seed: number, length: number, limits: Limits): Run {
  const random = createPrng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const machine = new KvStateMachine(limits);
  // Another replica: it takes no snapshot, and applies a put the way a leader applies its
  // own (vetted: isCertainlyValidPut was true on arrival, its text not scanned again).
  const replica = new KvStateMachine(limits);
  const log: (Uint8Array | null)[] = [];
  const replies: string[] = [];
  const snapshots: [number, Uint8Array][] = [];
  const clients = Array.from({ length: 5 }, (_, i) => `client-${i}`);
  const sessions = new Map<string, number>();
  const seqs = new Map<string, number>();
  const keys = ['a', 'b', 'list', 'é', '日本', 'x'.repeat(30)];
  let incremental = false;
  const next = (): Uint8Array | null => {
    const roll = random();
    const clientId = pick(clients);
    if (roll < 0.03) return null;
    if (roll < 0.05) return Uint8Array.from([pick([0x92, 0x93, 0xc1, 0x97]), 0x02, Math.floor(random() * 256)]);
    // Each client's secret is its number + 1; now and then one goes out under another
    // (SESSION_MISMATCH), or from before secrets (a WAL of that time: no check).
    const secret = random() < 0.05 ? 1 + Math.floor(random() * 6) : clients.indexOf(clientId) + 1;
    if (roll < 0.15) return encodeCommand(random() < 0.1 ? { type: 'register', clientId } : { type: 'register', clientId, secret });
    const session = sessions.get(clientId) ?? 1 + Math.floor(random() * (log.length + 1));
    const last = seqs.get(clientId) ?? 0;
    // Retries (of recent and older seqs), a seq reused for another operation, new seqs.
    const seq = last > 0 && random() < 0.25 ? Math.max(1, last - Math.floor(random() * 6)) : last + 1;
    seqs.set(clientId, Math.max(last, seq));
    // client-0 acknowledges late: its session holds dozens of replies.
    const lag = clientId === 'client-0' ? 30 : Math.floor(random() * 6);
    const ackedBelow = random() < 0.1 ? seq : Math.max(0, seq - 1 - lag);
    const key = pick(keys);
    if (roll < 0.25) return rawPut(session, secret, seq, ackedBelow, key, pick(CRAFTED_VALUES), random() < 0.7 ? 1 : 3);
    if (roll < 0.27) return encodeCommand({ type: 'request', session: 0, clientId, seq, ackedBelow, operation: { op: 'get', key } });
    const operation: KvOperation = pick<() => KvOperation>([
      () => ({ op: 'put', key, value: randomValue(random) }),
      () => ({ op: 'put', key, value: `plain ascii ${Math.floor(random() * 100)}` }),
      () => ({ op: 'delete', key }),
      () => ({ op: 'append', key, value: randomValue(random) }),
      () => ({ op: 'cas', key, expected: pick<JsonValue>([null, 0, 'a', [0], { a: 0 }]), value: randomValue(random) }),
      () => ({ op: 'get', key }),
    ])();
    return encodeCommand(random() < 0.05 ? { type: 'request', session, seq, ackedBelow, operation } : { type: 'request', session, secret, seq, ackedBelow, operation });
  };
  for (let index = 1; index <= length; index++) {
    const data = next();
    log.push(data);
    const reply = machine.apply(index, data);
    replies.push(canonical(reply));
    const replicaReply = canonical(replica.apply(index, data, data !== null && isCertainlyValidPut(data)));
    if (replicaReply !== replies[index - 1]) throw new Error(`seed ${seed}: another replica answered ${replicaReply} at ${index}, not ${replies[index - 1]}`);
    if (data !== null && (data[0] === 0x92 || data[0] === 0x93) && data[1] === 1 && reply?.ok === true) {
      const clientId = (unpack(data) as [number, string])[1];
      if (sessions.get(clientId) !== reply.value) seqs.delete(clientId);
      sessions.set(clientId, reply.value as number);
    }
    if (incremental) {
      const bytes = machine.snapshotStep(1 + Math.floor(random() * 3));
      if (bytes !== null) {
        const [, at] = unpack(bytes) as [number, number];
        snapshots.push([at, Uint8Array.from(bytes)]);
        incremental = false;
      }
    } else if (random() < 0.02) {
      snapshots.push([index, machine.snapshot()]);
    } else if (random() < 0.02) {
      machine.beginSnapshot();
      incremental = true;
    }
  }
  const final = stateOf(machine);
  if (stateOf(replica) !== final) throw new Error(`seed ${seed}: another replica ended elsewhere: ${firstDifference(stateOf(replica), final)}`);
  return { log, replies, snapshots, final };
}

/** Restores `bytes` (taken at `index`) and applies the rest of the log, checking every reply against the original run's. */
function replayFrom(t: import('ava').ExecutionContext, seed: number, original: Run, limits: Limits, index: number, bytes: Uint8Array): KvStateMachine {
  const restored = KvStateMachine.restore(bytes, limits);
  t.is(restored.appliedIndex, index, `seed ${seed}`);
  for (let i = index; i < original.log.length; i++) {
    const reply = canonical(restored.apply(i + 1, original.log[i]!));
    if (reply !== original.replies[i]) {
      t.fail(`seed ${seed}: restored at ${index}, the reply at ${i + 1} differs: ${reply} vs ${original.replies[i]}`);
      break;
    }
  }
  return restored;
}

test('a machine restored from any snapshot (whole or incremental) answers and ends exactly as the one that applied the log (seeded)', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const seen = new Set<string>();
  for (let round = 0; round < 6; round++) {
    const limits = LIMITS[round % LIMITS.length]!;
    const original = run(seed + round, 1500, limits);
    for (const reply of original.replies) seen.add(/"(SESSION_EXPIRED|SESSION_MISMATCH|STALE_REQUEST|MALFORMED_COMMAND|NOT_A_LIST)"/.exec(reply)?.[1] ?? (reply.startsWith('{"ok":true') ? 'ok' : reply));
    t.true(original.snapshots.length > 0, `seed ${seed + round}: no snapshot taken`);
    const mostReplies = Math.max(...original.snapshots.map(([, bytes]) => Math.max(0, ...(unpack(bytes) as [0, 0, 0, unknown[][]])[3].map((row) => (row[5] as unknown[]).length))));
    t.true(mostReplies <= limits.maxRepliesPerSession, `seed ${seed + round}`);
    if (limits.maxRepliesPerSession > 8) t.true(mostReplies > 8, `seed ${seed + round}: no session held more than 8 replies (${mostReplies})`);
    for (const [index, bytes] of original.snapshots) {
      const restored = replayFrom(t, seed + round, original, limits, index, bytes);
      const state = stateOf(restored);
      t.true(state === original.final, `seed ${seed + round}: restored at ${index}: ${firstDifference(state, original.final)}`);
      // A snapshot of the restored machine restores the same state again.
      const again = KvStateMachine.restore(restored.snapshot(), limits);
      const stateAgain = stateOf(again);
      t.true(stateAgain === original.final, `seed ${seed + round}: restored twice: ${firstDifference(stateAgain, original.final)}`);
    }
  }
  // The log exercised what it is meant to: evictions, stale retries, refusals, garbage.
  for (const outcome of ['ok', 'null', 'SESSION_EXPIRED', 'SESSION_MISMATCH', 'STALE_REQUEST', 'MALFORMED_COMMAND', 'NOT_A_LIST']) t.true(seen.has(outcome), `seed ${seed}: never ${outcome}`);
});

test('-0 in a committed entry is stored as 0, so a restored replica holds what a live one does', (t) => {
  const machine = new KvStateMachine();
  machine.apply(1, encodeCommand({ type: 'register', clientId: 'c', secret: 7 }));
  machine.apply(2, rawPut(1, 7, 1, 0, 'top', F64_MINUS_ZERO));
  machine.apply(3, rawPut(1, 7, 2, 0, 'nested', [0x92, ...F64_MINUS_ZERO, 0x81, 0xa1, 0x61, ...F64_MINUS_ZERO]));
  const get = machine.apply(4, encodeCommand({ type: 'request', session: 1, secret: 7, seq: 3, ackedBelow: 0, operation: { op: 'get', key: 'nested' } }));
  const restored = KvStateMachine.restore(machine.snapshot());
  for (const which of [machine, restored]) {
    t.true(Object.is(which.read('top'), 0));
    t.is(canonical(which.read('nested')), canonical([0, { a: 0 }]));
  }
  t.is(canonical(get), canonical({ ok: true, value: [0, { a: 0 }] }));
  // The stored reply of the get is answered again, the same on both.
  const retry = encodeCommand({ type: 'request', session: 1, secret: 7, seq: 3, ackedBelow: 0, operation: { op: 'get', key: 'nested' } });
  t.is(canonical(restored.apply(5, retry)), canonical(machine.apply(5, retry)));
  t.is(packr.pack(0).length, 1);
});

/** A snapshot (format 2, at index 5) of one [key, value] pair given as raw msgpack, and these session rows; `pairHeader` 0xdc writes the pair's array header as an array16 (the bytes restore declines to read in place). */
function snapshotOf(key: readonly number[], value: readonly number[], sessions: readonly number[] = [0x90], pairHeader = 0x92): Uint8Array {
  const out = new MsgpackWriter(64);
  out.arrayHeader(4);
  out.uint(2);
  out.uint(5);
  out.arrayHeader(1);
  out.raw(Uint8Array.from(pairHeader === 0x92 ? [0x92] : [0xdc, 0x00, 0x02]));
  out.raw(Uint8Array.from(key));
  out.raw(Uint8Array.from(value));
  out.raw(Uint8Array.from(sessions));
  return out.take();
}

const strBytes = (text: string): number[] => [...packr.pack(text)];

test('restore refuses a snapshot holding what no command can store (Date, BigInt, undefined, NaN, Buffer, too deep; an empty or too long key) with MALFORMED_SNAPSHOT', (t) => {
  const notJson: Record<string, readonly number[]> = {
    date: [0xd6, 0xff, 0, 0, 0, 1],
    undefined: [0xd4, 0x00, 0x00],
    uint64: [0xcf, 0, 0, 0, 0, 0, 0, 0, 5],
    // A BigInt beyond 64 bits: packing it (a reply, the next snapshot) throws.
    bigIntExtension: [0xc7, 9, 0x42, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    bin: [0xc4, 1, 1],
    nan: [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0],
    nestedDate: [0x91, 0xd6, 0xff, 0, 0, 0, 1],
    tooDeep: [...Array<number>(200).fill(0x91), 1],
  };
  for (const pairHeader of [0x92, 0xdc]) {
    for (const [name, value] of Object.entries(notJson)) {
      t.throws(() => KvStateMachine.restore(snapshotOf(strBytes('k'), value, [0x90], pairHeader)), { code: 'MALFORMED_SNAPSHOT' }, `${name} (${pairHeader.toString(16)})`);
      t.throws(() => KvStateMachine.restore(snapshotOf(strBytes('ключ'), value, [0x90], pairHeader)), { code: 'MALFORMED_SNAPSHOT' }, `${name}, non-ASCII key (${pairHeader.toString(16)})`);
    }
    for (const key of ['', 'k'.repeat(1025), 'é'.repeat(513)]) {
      t.throws(() => KvStateMachine.restore(snapshotOf(strBytes(key), strBytes('v'), [0x90], pairHeader)), { code: 'MALFORMED_SNAPSHOT' }, `a key of ${key.length} characters`);
    }
    // What a command can store still restores, by both readers.
    for (const key of ['k', 'k'.repeat(1024), 'é'.repeat(512)]) {
      t.is(KvStateMachine.restore(snapshotOf(strBytes(key), strBytes('v'), [0x90], pairHeader)).read(key), 'v');
    }
    t.deepEqual(KvStateMachine.restore(snapshotOf(strBytes('k'), [...packr.pack({ a: [1, null, 'x'] })], [0x90], pairHeader)).read('k'), { a: [1, null, 'x'] });
    const restored = KvStateMachine.restore(snapshotOf(strBytes('k'), [0x92, ...F64_MINUS_ZERO, 0x81, 0xa1, 0x61, ...F64_MINUS_ZERO], [0x90], pairHeader));
    t.is(canonical(restored.read('k')), canonical([0, { a: 0 }]), '-0 is restored as 0, as a command stores it');
  }
  // A stored reply's value is checked too: [clientId, id, lastActivity, floor, [[seq, reply]]].
  const session = (reply: readonly number[]): number[] => [0x91, 0x95, ...strBytes('c'), 1, 2, 0, 0x91, 0x92, 1, ...reply];
  const reply = (value: readonly number[]): number[] => [0x82, ...strBytes('ok'), 0xc3, ...strBytes('value'), ...value];
  t.throws(() => KvStateMachine.restore(snapshotOf(strBytes('k'), strBytes('v'), session(reply([0xd6, 0xff, 0, 0, 0, 1])))), { code: 'MALFORMED_SNAPSHOT' });
  t.throws(() => KvStateMachine.restore(snapshotOf(strBytes('k'), strBytes('v'), session(reply([0xc7, 9, 0x42, 1, 0, 0, 0, 0, 0, 0, 0, 0])))), { code: 'MALFORMED_SNAPSHOT' });
  t.throws(() => KvStateMachine.restore(snapshotOf(strBytes('k'), strBytes('v'), session([0x81, ...strBytes('ok'), 0xc3]))), { code: 'MALFORMED_SNAPSHOT' }, 'a reply without a value');
  const good = KvStateMachine.restore(snapshotOf(strBytes('k'), strBytes('v'), session(reply([0x92, ...F64_MINUS_ZERO, 0x05]))));
  t.is(good.sessionCount, 1);
  // The stored reply is answered to a retry of seq 1 of session 1: -0 made 0 there too.
  const retry = good.apply(6, encodeCommand({ type: 'request', session: 1, seq: 1, ackedBelow: 0, operation: { op: 'get', key: 'k' } }));
  t.is(canonical(retry), canonical({ ok: true, value: [0, 5] }));
});

test('restore refuses a session active after the snapshot\'s index (it would outlive its eviction on the replicas that applied the log)', (t) => {
  // [clientId, id, lastActivityIndex, floorSeq, replies] at a snapshot of index 5.
  const row = (lastActivity: number): number[] => [0x91, 0x95, ...strBytes('c'), 2, lastActivity, 0, 0x90];
  t.is(KvStateMachine.restore(snapshotOf(strBytes('k'), strBytes('v'), row(5))).sessionCount, 1);
  t.throws(() => KvStateMachine.restore(snapshotOf(strBytes('k'), strBytes('v'), row(6))), { code: 'MALFORMED_SNAPSHOT' });
});
