import test from 'ava';
import { pack, unpack } from 'msgpackr';
import { createPrng, testSeed } from './helpers/seed.js';
import { encodeCommand, KvError, type JsonValue, type KvOperation, type KvReply } from '../lib/kv/command.js';
import { Packr } from 'msgpackr';
import { KvStateMachine, ReplyWindow } from '../lib/kv/state-machine.js';

/** A session id no register returned in these tests: its requests are SESSION_EXPIRED. */
const NEVER_REGISTERED = 999_999;

/** A client's session secret in these tests: fixed per client id (KvClient draws one at random). */
function secretOf(clientId: string): number {
  let hash = 2_166_136_261;
  for (let i = 0; i < clientId.length; i++) hash = Math.imul(hash ^ clientId.charCodeAt(i), 16_777_619) >>> 0;
  return hash === 0 ? 1 : hash;
}

/**
 * Feeds a state machine entries at consecutive indexes, like a node's apply loop. Clients
 * are named by client id; a request goes out under the session id the client's last
 * register returned, with its secret (secretOf), as KvClient does.
 */
class Feeder {
  readonly machine: KvStateMachine;
  readonly seqs = new Map<string, number>();
  readonly sessionIds = new Map<string, number>();
  constructor(machine = new KvStateMachine()) {
    this.machine = machine;
  }
  raw(data: Uint8Array | null): KvReply | null {
    return this.machine.apply(this.machine.appliedIndex + 1, data);
  }
  register(clientId: string): KvReply {
    const applied = this.raw(encodeCommand({ type: 'register', clientId, secret: secretOf(clientId) }));
    if (applied === null || !applied.ok || typeof applied.value !== 'number') throw new Error(`register yielded ${JSON.stringify(applied)}`);
    this.sessionIds.set(clientId, applied.value);
    return applied;
  }
  request(clientId: string, seq: number, operation: KvOperation, ackedBelow = 0): KvReply {
    const session = this.sessionIds.get(clientId) ?? NEVER_REGISTERED;
    const applied = this.raw(encodeCommand({ type: 'request', session, secret: secretOf(clientId), seq, ackedBelow, operation }));
    if (applied === null) throw new Error('request yielded null');
    return applied;
  }
  /** One client issuing one operation with the next seq. */
  op(operation: KvOperation, clientId = 'c1'): KvReply {
    if (!this.seqs.has(clientId)) {
      this.register(clientId);
      this.seqs.set(clientId, 0);
    }
    const seq = (this.seqs.get(clientId) ?? 0) + 1;
    this.seqs.set(clientId, seq);
    return this.request(clientId, seq, operation);
  }
}

const ok = (value: JsonValue): KvReply => ({ ok: true, value });

test('put, get, delete; an absent key reads as null', (t) => {
  const feeder = new Feeder();
  t.deepEqual(feeder.op({ op: 'get', key: 'x' }), ok(null));
  t.deepEqual(feeder.op({ op: 'put', key: 'x', value: { a: [1, 2] } }), ok(null));
  t.deepEqual(feeder.op({ op: 'get', key: 'x' }), ok({ a: [1, 2] }));
  t.deepEqual(feeder.machine.read('x'), { a: [1, 2] });
  t.deepEqual(feeder.op({ op: 'put', key: 'x', value: 'overwritten' }), ok(null));
  t.is(feeder.machine.read('x'), 'overwritten');
  t.deepEqual(feeder.op({ op: 'delete', key: 'x' }), ok(null));
  t.is(feeder.machine.read('x'), null);
  t.deepEqual(feeder.op({ op: 'delete', key: 'never-there' }), ok(null));
  t.deepEqual(feeder.op({ op: 'put', key: 'n', value: null }), ok(null));
  t.is(feeder.machine.read('n'), null);
});

test('append: creates a list, pushes one element, refuses a non-list with NOT_A_LIST', (t) => {
  const feeder = new Feeder();
  t.deepEqual(feeder.op({ op: 'append', key: 'log', value: 'a' }), ok(null));
  t.deepEqual(feeder.op({ op: 'append', key: 'log', value: ['b'] }), ok(null));
  t.deepEqual(feeder.machine.read('log'), ['a', ['b']]);
  feeder.op({ op: 'put', key: 's', value: 'string' });
  const reply = feeder.op({ op: 'append', key: 's', value: 1 });
  t.false(reply.ok);
  t.is(reply.ok ? '' : reply.code, 'NOT_A_LIST');
  t.is(feeder.machine.read('s'), 'string');
  feeder.op({ op: 'put', key: 'o', value: { 0: 'x' } });
  t.is((feeder.op({ op: 'append', key: 'o', value: 1 }) as { code?: string }).code, 'NOT_A_LIST');
});

/** As lib/kv packs values: what a value's encoded size is. */
const kvPackr = new Packr({ useRecords: false, variableMapSize: true });
const encodedSize = (value: JsonValue): number => kvPackr.pack(value).length;

/** An append of `clientId`'s next seq carrying `limit` (undefined: one from before the bound). */
function boundedAppend(feeder: Feeder, key: string, value: JsonValue, limit: number | undefined, clientId = 'c1'): KvReply {
  if (!feeder.seqs.has(clientId)) {
    feeder.register(clientId);
    feeder.seqs.set(clientId, 0);
  }
  const seq = (feeder.seqs.get(clientId) ?? 0) + 1;
  feeder.seqs.set(clientId, seq);
  return boundedAppendAt(feeder, clientId, seq, key, value, limit);
}

function boundedAppendAt(feeder: Feeder, clientId: string, seq: number, key: string, value: JsonValue, limit: number | undefined): KvReply {
  const session = feeder.sessionIds.get(clientId) ?? NEVER_REGISTERED;
  const operation: KvOperation = { op: 'append', key, value };
  const bytes =
    limit === undefined
      ? encodeCommand({ type: 'request', session, seq, ackedBelow: 0, operation })
      : encodeCommand({ type: 'request', session, seq, ackedBelow: 0, operation, maxValueBytes: limit });
  const reply = feeder.raw(bytes);
  if (reply === null) throw new Error('append yielded null');
  return reply;
}

const codeOfReply = (reply: KvReply | null): string => (reply === null ? 'null' : reply.ok ? 'OK' : reply.code);

test('a bounded append that would make the list encode to more than the limit in its entry is refused with VALUE_TOO_LARGE, and nothing changes', (t) => {
  const feeder = new Feeder();
  // 'abcd' encodes to 5 bytes; a list of n < 16 of them to 1 + 5n.
  for (let n = 1; n <= 7; n++) t.deepEqual(boundedAppend(feeder, 'log', 'abcd', 40), ok(null), `element ${n}: ${1 + 5 * n} bytes`);
  t.is(feeder.machine.listEncodedSize('log'), 36);
  const refused = boundedAppend(feeder, 'log', 'abcd', 40);
  t.is(codeOfReply(refused), 'VALUE_TOO_LARGE');
  t.regex(refused.ok ? '' : refused.message, /"log" would make the list 41 bytes encoded, limit 40/);
  t.deepEqual(feeder.machine.read('log'), Array.from({ length: 7 }, () => 'abcd'), 'nothing was appended');
  t.is(feeder.machine.listEncodedSize('log'), 36);
  // A smaller element still fits; then exactly the limit is allowed.
  t.deepEqual(boundedAppend(feeder, 'log', 'ab', 40), ok(null));
  t.is(feeder.machine.listEncodedSize('log'), 39);
  t.deepEqual(boundedAppend(feeder, 'log', 0, 40), ok(null));
  t.is(feeder.machine.listEncodedSize('log'), 40);
  t.is(encodedSize(feeder.machine.read('log')), 40, 'the size the bound sees is the size the log encodes the list to');
  t.is(codeOfReply(boundedAppend(feeder, 'log', 0, 40)), 'VALUE_TOO_LARGE');
  // A larger limit in a later entry lets the list grow on: the entry decides, not the list.
  t.deepEqual(boundedAppend(feeder, 'log', 0, 41), ok(null));
  // On an absent key the list's header counts too: an element of exactly the limit does not fit.
  const element = 'x'.repeat(30); // 31 bytes
  t.is(codeOfReply(boundedAppend(feeder, 'fresh', element, 31)), 'VALUE_TOO_LARGE');
  t.is(feeder.machine.read('fresh'), null, 'the key stays absent');
  t.deepEqual(boundedAppend(feeder, 'fresh', element, 32), ok(null));
  // NOT_A_LIST comes first: the value is not a list, whatever its size.
  feeder.op({ op: 'put', key: 's', value: 'a string' });
  t.is(codeOfReply(boundedAppend(feeder, 's', 1, 1)), 'NOT_A_LIST');
});

test('a refused append\'s reply is stored in the session like any other: a retry is answered VALUE_TOO_LARGE, never applied', (t) => {
  const feeder = new Feeder();
  feeder.register('c1');
  t.deepEqual(boundedAppendAt(feeder, 'c1', 1, 'log', 'x'.repeat(10), 20), ok(null));
  const refused = boundedAppendAt(feeder, 'c1', 2, 'log', 'y'.repeat(10), 20);
  t.is(codeOfReply(refused), 'VALUE_TOO_LARGE');
  // The list is emptied: the same append would fit now, but its retry is answered from the session.
  t.deepEqual(feeder.request('c1', 3, { op: 'put', key: 'log', value: [] }), ok(null));
  t.deepEqual(boundedAppendAt(feeder, 'c1', 2, 'log', 'y'.repeat(10), 20), refused);
  t.deepEqual(feeder.machine.read('log'), [], 'the retry was not applied');
  // And a restored machine answers the retry alike (the reply is in the snapshot).
  const restored = new Feeder(KvStateMachine.restore(feeder.machine.snapshot()));
  restored.sessionIds.set('c1', 1);
  t.deepEqual(boundedAppendAt(restored, 'c1', 2, 'log', 'y'.repeat(10), 20), refused);
  t.deepEqual(restored.machine.read('log'), []);
});

test('an append from before the bound (no limit in its entry) is applied unbounded, as it was; the size stays known through it', (t) => {
  const feeder = new Feeder();
  t.deepEqual(boundedAppend(feeder, 'log', 'abcd', 12), ok(null));
  t.deepEqual(boundedAppend(feeder, 'log', 'abcd', 12), ok(null));
  t.is(codeOfReply(boundedAppend(feeder, 'log', 'abcd', 12)), 'VALUE_TOO_LARGE');
  for (let i = 0; i < 20; i++) t.deepEqual(boundedAppend(feeder, 'log', 'abcd', undefined), ok(null), 'an old entry has no bound');
  t.is(feeder.machine.read('log') instanceof Array ? (feeder.machine.read('log') as JsonValue[]).length : 0, 22);
  t.true(feeder.machine.listSizeKept('log'), 'the size a bounded append measured is kept up to date by the old ones');
  t.is(feeder.machine.listEncodedSize('log'), encodedSize(feeder.machine.read('log')));
  t.is(codeOfReply(boundedAppend(feeder, 'log', 1, encodedSize(feeder.machine.read('log')))), 'VALUE_TOO_LARGE');
  t.deepEqual(boundedAppend(feeder, 'log', 1, encodedSize(feeder.machine.read('log')) + 1), ok(null));
  // A list nobody bounded is not measured by an unbounded append.
  t.deepEqual(boundedAppend(feeder, 'other', 1, undefined), ok(null));
  t.false(feeder.machine.listSizeKept('other'));
});

test('the size a bounded append sees is exactly the list\'s encoded size, across header boundaries (16 and 65,536 elements) and element kinds (seeded)', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const feeder = new Feeder();
  const model = new Map<string, JsonValue>();
  const elements: JsonValue[] = [0, 127, 128, -1, -33, 70_000, 2 ** 40, 1.5, null, true, '', 'abc', 'é'.repeat(20), 'x'.repeat(40), [1, [2]], { a: 'b', c: [] }, '😀'];
  for (let step = 0; step < 6000; step++) {
    const key = `list-${Math.floor(random() * 5)}`;
    const roll = random();
    if (roll < 0.02) {
      t.deepEqual(feeder.op({ op: 'put', key, value: pick<JsonValue>([[], [1, 2, 3], 'not a list']) }), ok(null));
      model.set(key, feeder.machine.read(key));
      continue;
    }
    const element = pick(elements);
    const current = model.get(key);
    const grown = current === undefined ? [element] : Array.isArray(current) ? [...current, element] : null;
    const size = grown === null ? 0 : encodedSize(grown);
    // A limit around the size the list would have, so that both answers come up.
    const limit = roll < 0.1 ? undefined : Math.max(1, size + pick([-9, -1, 0, 0, 5, 100]));
    const reply = boundedAppend(feeder, key, element, limit);
    const expected = grown === null ? 'NOT_A_LIST' : limit !== undefined && size > limit ? 'VALUE_TOO_LARGE' : 'OK';
    t.is(codeOfReply(reply), expected, `seed ${seed} step ${step}: ${key} of ${current === undefined ? 'absent' : encodedSize(current)} bytes + ${JSON.stringify(element)}, limit ${limit}`);
    if (expected === 'OK') model.set(key, grown);
  }
  for (const [key, value] of model) {
    t.deepEqual(feeder.machine.read(key), value);
    if (Array.isArray(value)) t.is(feeder.machine.listEncodedSize(key), encodedSize(value), key);
  }
  // The 3-byte header of 65,535 elements becomes 5 bytes at 65,536.
  const long = new Feeder();
  for (let i = 0; i < 65_535; i++) boundedAppend(long, 'long', 1, 65_538);
  t.is(long.machine.listEncodedSize('long'), 65_538);
  t.is(codeOfReply(boundedAppend(long, 'long', 1, 65_540)), 'VALUE_TOO_LARGE', '5 + 65,536 > 65,540');
  t.deepEqual(boundedAppend(long, 'long', 1, 65_541), ok(null));
  t.is(long.machine.listEncodedSize('long'), encodedSize(long.machine.read('long')));
});

test('a snapshot and its restore keep the bound: a restored machine decides every later append as the original does', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  const feeder = new Feeder();
  const log: Uint8Array[] = [];
  const limits = [20, 50, 200];
  const appendAt = (seq: number): Uint8Array =>
    encodeCommand({
      type: 'request',
      session: 1,
      seq,
      ackedBelow: 0,
      operation: { op: 'append', key: `k${Math.floor(random() * 4)}`, value: 'v'.repeat(Math.floor(random() * 12)) },
      maxValueBytes: limits[Math.floor(random() * limits.length)]!,
    });
  feeder.register('c1');
  for (let seq = 1; seq <= 600; seq++) log.push(appendAt(seq));
  // The original applies the first half, measuring its lists as it goes.
  for (const bytes of log.slice(0, 300)) feeder.raw(bytes);
  t.true(feeder.machine.listSizeKept('k0'));
  const restored = KvStateMachine.restore(feeder.machine.snapshot());
  const adopted = new KvStateMachine();
  adopted.restoreFrom(feeder.machine.snapshot());
  for (const key of ['k0', 'k1', 'k2', 'k3']) {
    t.false(restored.listSizeKept(key), 'a restored list is measured again only when an append needs it');
    t.is(restored.listEncodedSize(key), feeder.machine.listEncodedSize(key), key);
  }
  let refusals = 0;
  for (const [i, bytes] of log.slice(300).entries()) {
    const index = feeder.machine.appliedIndex + 1;
    const reply = feeder.machine.apply(index, bytes);
    if (codeOfReply(reply) === 'VALUE_TOO_LARGE') refusals++;
    t.deepEqual(restored.apply(index, bytes), reply, `seed ${seed} entry ${300 + i}`);
    t.deepEqual(adopted.apply(index, bytes), reply, `seed ${seed} entry ${300 + i} (restoreFrom)`);
  }
  t.true(refusals > 0, 'some appends were refused');
  t.deepEqual(restored.snapshot(), feeder.machine.snapshot());
  t.deepEqual(adopted.snapshot(), feeder.machine.snapshot());
  for (const key of ['k0', 'k1', 'k2', 'k3']) t.is(restored.listEncodedSize(key), encodedSize(feeder.machine.read(key)));
});

test('values handed out never change with later appends (read and get copies)', (t) => {
  const feeder = new Feeder();
  feeder.op({ op: 'append', key: 'log', value: 1 });
  const read = feeder.machine.read('log');
  const viaLog = feeder.op({ op: 'get', key: 'log' });
  feeder.op({ op: 'append', key: 'log', value: 2 });
  t.deepEqual(read, [1]);
  t.deepEqual(viaLog, ok([1]));
  (read as JsonValue[]).push(99);
  t.deepEqual(feeder.machine.read('log'), [1, 2], 'mutating a read result does not touch the store');
});

test('cas: deep JSON equality against the current value (null if absent)', (t) => {
  const feeder = new Feeder();
  t.deepEqual(feeder.op({ op: 'cas', key: 'x', expected: 1, value: 2 }), ok(false));
  t.is(feeder.machine.read('x'), null);
  t.deepEqual(feeder.op({ op: 'cas', key: 'x', expected: null, value: { b: 1, a: [1, { c: null }] } }), ok(true));
  t.deepEqual(feeder.op({ op: 'cas', key: 'x', expected: { a: [1, { c: null }], b: 1 }, value: 3 }), ok(true));
  t.is(feeder.machine.read('x'), 3);
  const mismatches: JsonValue[] = ['3', [3], { 3: 3 }, true, null, 3.0000001];
  for (const expected of mismatches) {
    t.deepEqual(feeder.op({ op: 'cas', key: 'x', expected, value: 4 }), ok(false), JSON.stringify(expected));
  }
  feeder.op({ op: 'put', key: 'o', value: { a: 1, b: 2 } });
  t.deepEqual(feeder.op({ op: 'cas', key: 'o', expected: { a: 1 }, value: 0 }), ok(false));
  t.deepEqual(feeder.op({ op: 'cas', key: 'o', expected: { a: 1, b: 2, c: 3 }, value: 0 }), ok(false));
  t.deepEqual(feeder.op({ op: 'cas', key: 'o', expected: { a: 1, c: 2 }, value: 0 }), ok(false));
  feeder.op({ op: 'put', key: 'l', value: [1, 2] });
  t.deepEqual(feeder.op({ op: 'cas', key: 'l', expected: { 0: 1, 1: 2 }, value: 0 }), ok(false));
  t.deepEqual(feeder.op({ op: 'cas', key: 'l', expected: [1, 2, 3], value: 0 }), ok(false));
  t.deepEqual(feeder.op({ op: 'cas', key: 'l', expected: [1, 2], value: 0 }), ok(true));
  feeder.op({ op: 'delete', key: 'x' });
  t.deepEqual(feeder.op({ op: 'cas', key: 'x', expected: null, value: 'back' }), ok(true));
});

test('no-op entries yield null; applies must be consecutive', (t) => {
  const machine = new KvStateMachine();
  t.is(machine.apply(1, null), null);
  t.is(machine.appliedIndex, 1);
  t.throws(() => machine.apply(3, null), { message: /consecutively/ });
  t.throws(() => machine.apply(1, null), { message: /consecutively/ });
  t.is(machine.appliedIndex, 1);
});

test('malformed entries reply MALFORMED_COMMAND deterministically and never throw', (t) => {
  const machine = new KvStateMachine();
  const applied = machine.apply(1, new Uint8Array([0x92, 0x01]));
  t.is(applied?.ok, false);
  t.is(applied?.ok === false ? applied.code : '', 'MALFORMED_COMMAND');
  t.is(machine.appliedIndex, 1);
});

test('register returns the session id: the index of the entry that opened the session; registering again returns it again', (t) => {
  const feeder = new Feeder(new KvStateMachine({ maxSessions: 2 }));
  feeder.raw(null);
  t.deepEqual(feeder.register('a'), ok(2));
  t.deepEqual(feeder.register('b'), ok(3));
  t.deepEqual(feeder.register('a'), ok(2), 'an open session keeps its id');
  t.deepEqual(feeder.register('c'), ok(5), 'a new one (evicting b, the least recently active)');
  const stale = feeder.request('b', 1, { op: 'put', key: 'x', value: 1 });
  t.is(stale.ok ? '' : stale.code, 'SESSION_EXPIRED');
  t.deepEqual(feeder.register('b'), ok(7), 'b registers again: a new id (evicting a), never its old one');
  t.deepEqual(feeder.request('b', 1, { op: 'put', key: 'x', value: 1 }), ok(null));
  const oldSession = feeder.raw(encodeCommand({ type: 'request', session: 3, seq: 2, ackedBelow: 0, operation: { op: 'put', key: 'x', value: 2 } }));
  t.is(oldSession?.ok === false ? oldSession.code : '', 'SESSION_EXPIRED', "b's evicted session stays unknown though b is registered again");
  t.is(feeder.machine.read('x'), 1);
});

test('a legacy log (requests naming their client id, as raftlab wrote them before session ids) replays with exactly-once', (t) => {
  const feeder = new Feeder();
  feeder.raw(encodeCommand({ type: 'register', clientId: 'old' }));
  const legacy = (seq: number, value: string): Uint8Array =>
    encodeCommand({ type: 'request', session: 0, clientId: 'old', seq, ackedBelow: 0, operation: { op: 'append', key: 'log', value } });
  t.deepEqual(feeder.raw(legacy(1, 'a')), ok(null));
  t.deepEqual(feeder.raw(legacy(1, 'a')), ok(null), 'a retry is answered from the session');
  t.deepEqual(feeder.raw(legacy(2, 'b')), ok(null));
  t.deepEqual(feeder.machine.read('log'), ['a', 'b']);
  const ghost = feeder.raw(encodeCommand({ type: 'request', session: 0, clientId: 'never', seq: 1, ackedBelow: 0, operation: { op: 'put', key: 'x', value: 1 } }));
  t.is(ghost?.ok === false ? ghost.code : '', 'SESSION_EXPIRED');
  // The same session answers its id-carrying requests too: it is one session.
  const viaId = feeder.raw(encodeCommand({ type: 'request', session: 1, seq: 2, ackedBelow: 0, operation: { op: 'append', key: 'log', value: 'b' } }));
  t.deepEqual(viaId, ok(null));
  t.deepEqual(feeder.machine.read('log'), ['a', 'b'], 'seq 2 was not applied again');
});

test('a version 1 snapshot (before session ids) restores: its sessions get their last activity index as id', (t) => {
  const okNull = { ok: true, value: null };
  const legacy = Uint8Array.from(pack([1, 40, [['k', 'v'], ['log', ['a']]], [['old', 37, 1, [[1, okNull], [2, okNull]]], ['older', 12, 0, []]]]));
  const machine = KvStateMachine.restore(legacy);
  t.is(machine.appliedIndex, 40);
  t.is(machine.read('k'), 'v');
  t.is(machine.sessionCount, 2);
  const feeder = new Feeder(machine);
  const retry = feeder.raw(encodeCommand({ type: 'request', session: 0, clientId: 'old', seq: 2, ackedBelow: 0, operation: { op: 'append', key: 'log', value: 'b' } }));
  t.deepEqual(retry, ok(null));
  t.deepEqual(machine.read('log'), ['a'], 'a legacy retry is answered from the restored session, not applied again');
  t.deepEqual(feeder.raw(encodeCommand({ type: 'register', clientId: 'old' })), ok(37), 'registering again (from before secrets, as its WAL holds it) returns the id it was given');
  t.like(feeder.raw(encodeCommand({ type: 'register', clientId: 'old', secret: 5 })), { ok: false, code: 'SESSION_MISMATCH' }, 'a register with a secret does not take over a session without one');
  t.deepEqual(feeder.register('new'), ok(44));
  const [version, , , sessions] = unpack(machine.snapshot()) as [number, number, unknown, unknown[][]];
  t.is(version, 3);
  t.deepEqual(sessions.map((row) => row.slice(0, 4)), [['old', 37, 0, 42], ['older', 12, 0, 12], ['new', 44, secretOf('new'), 44]], 'restored sessions have no secret (0)');
  const bad = Uint8Array.from(pack([1, 40, [], [['old', 37, 1, [], 'extra']]]));
  const error = t.throws(() => KvStateMachine.restore(bad), { instanceOf: KvError });
  t.is(error?.code, 'MALFORMED_SNAPSHOT');
});

test('session dedup: the same clientId+seq twice is applied once and answered with the same reply', (t) => {
  const feeder = new Feeder();
  feeder.register('c1');
  t.deepEqual(feeder.request('c1', 1, { op: 'append', key: 'log', value: 'a' }), ok(null));
  t.deepEqual(feeder.request('c1', 1, { op: 'append', key: 'log', value: 'a' }), ok(null));
  t.deepEqual(feeder.machine.read('log'), ['a']);
  // A retry is answered from the session even if the world changed since.
  t.deepEqual(feeder.request('c1', 2, { op: 'cas', key: 'x', expected: null, value: 1 }), ok(true));
  t.deepEqual(feeder.request('c1', 3, { op: 'put', key: 'x', value: 5 }), ok(null));
  t.deepEqual(feeder.request('c1', 2, { op: 'cas', key: 'x', expected: null, value: 1 }), ok(true));
  t.is(feeder.machine.read('x'), 5);
  // Errors are stored replies too.
  feeder.request('c1', 4, { op: 'append', key: 'x', value: 1 });
  const retried = feeder.request('c1', 4, { op: 'append', key: 'x', value: 1 });
  t.is(retried.ok ? '' : retried.code, 'NOT_A_LIST');
  // Out-of-order seqs (pipelined requests) are each applied once.
  t.deepEqual(feeder.request('c1', 6, { op: 'append', key: 'log', value: 'c' }), ok(null));
  t.deepEqual(feeder.request('c1', 5, { op: 'append', key: 'log', value: 'b' }), ok(null));
  feeder.request('c1', 6, { op: 'append', key: 'log', value: 'c' });
  feeder.request('c1', 5, { op: 'append', key: 'log', value: 'b' });
  t.deepEqual(feeder.machine.read('log'), ['a', 'c', 'b']);
  // Registering again is idempotent and keeps the replies.
  feeder.register('c1');
  t.is(feeder.machine.sessionCount, 1);
  feeder.request('c1', 6, { op: 'append', key: 'log', value: 'c' });
  t.deepEqual(feeder.machine.read('log'), ['a', 'c', 'b']);
});

test('ackedBelow discards replies: a retry below it is STALE_REQUEST, not applied', (t) => {
  const feeder = new Feeder();
  feeder.register('c1');
  feeder.request('c1', 1, { op: 'append', key: 'log', value: 1 });
  feeder.request('c1', 2, { op: 'append', key: 'log', value: 2 }, 2);
  const stale = feeder.request('c1', 1, { op: 'append', key: 'log', value: 1 });
  t.is(stale.ok ? '' : stale.code, 'STALE_REQUEST');
  t.deepEqual(feeder.machine.read('log'), [1, 2]);
  // seq 2 (not acknowledged yet) is still answered from the session.
  t.deepEqual(feeder.request('c1', 2, { op: 'append', key: 'log', value: 2 }), ok(null));
  t.deepEqual(feeder.machine.read('log'), [1, 2]);
  // The floor never moves back.
  feeder.request('c1', 3, { op: 'append', key: 'log', value: 3 }, 3);
  feeder.request('c1', 4, { op: 'append', key: 'log', value: 4 }, 0);
  const stillStale = feeder.request('c1', 2, { op: 'append', key: 'log', value: 2 });
  t.is(stillStale.ok ? '' : stillStale.code, 'STALE_REQUEST');
  t.deepEqual(feeder.machine.read('log'), [1, 2, 3, 4]);
});

test('maxRepliesPerSession: the oldest reply is dropped and its retry is stale, never re-applied', (t) => {
  const feeder = new Feeder(new KvStateMachine({ maxRepliesPerSession: 3 }));
  feeder.register('c1');
  for (let seq = 1; seq <= 5; seq++) feeder.request('c1', seq, { op: 'append', key: 'log', value: seq });
  for (let seq = 1; seq <= 2; seq++) {
    const reply = feeder.request('c1', seq, { op: 'append', key: 'log', value: seq });
    t.is(reply.ok ? '' : reply.code, 'STALE_REQUEST');
  }
  for (let seq = 3; seq <= 5; seq++) {
    t.deepEqual(feeder.request('c1', seq, { op: 'append', key: 'log', value: seq }), ok(null));
  }
  t.deepEqual(feeder.machine.read('log'), [1, 2, 3, 4, 5]);
});

test('a request naming a session under another secret is SESSION_MISMATCH and changes nothing (floor, replies, LRU order, data); so is a register of its client id under another secret', (t) => {
  const feeder = new Feeder();
  feeder.register('victim');
  const session = feeder.sessionIds.get('victim')!;
  for (let seq = 1; seq <= 3; seq++) t.deepEqual(feeder.request('victim', seq, { op: 'put', key: 'x', value: `v${seq}` }), ok(null));
  const state = (): unknown => {
    const [, , data, sessions] = unpack(feeder.machine.snapshot()) as [number, number, unknown, unknown];
    return { data, sessions };
  };
  const before = state();
  const wrong = secretOf('victim') === 1 ? 2 : secretOf('victim') - 1;
  const intruder = (operation: KvOperation, seq: number): KvReply | null =>
    feeder.raw(encodeCommand({ type: 'request', session, secret: wrong, seq, ackedBelow: seq, operation }));
  // An ASCII put (applied from its bytes), then decoded operations: each would push the
  // victim's floor to its seq, making the victim's retries STALE_REQUEST.
  for (const [operation, seq] of [
    [{ op: 'put', key: 'x', value: 'hijacked' }, 10_000],
    [{ op: 'put', key: 'x', value: { not: 'plain' } }, 10_001],
    [{ op: 'cas', key: 'x', expected: 'v3', value: 'hijacked' }, 10_002],
    [{ op: 'delete', key: 'x' }, 10_003],
    [{ op: 'append', key: 'log', value: 1 }, 2],
  ] as const) {
    t.like(intruder(operation, seq), { ok: false, code: 'SESSION_MISMATCH' }, operation.op);
  }
  t.like(feeder.raw(encodeCommand({ type: 'register', clientId: 'victim', secret: wrong })), { ok: false, code: 'SESSION_MISMATCH' });
  t.deepEqual(state(), before, 'the data and the session (its floor, replies and last activity) are as they were');
  t.deepEqual(feeder.request('victim', 2, { op: 'put', key: 'x', value: 'v2' }), ok(null), 'the victim\'s retry is answered from its session, not STALE_REQUEST');
  t.is(feeder.machine.read('x'), 'v3', 'and not applied again');
  t.deepEqual(feeder.register('victim'), ok(session), 'its own register still returns its session');
  // A request from before secrets (only a WAL of that time holds one) is not checked.
  t.deepEqual(feeder.raw(encodeCommand({ type: 'request', session, seq: 4, ackedBelow: 0, operation: { op: 'put', key: 'y', value: 1 } })), ok(null));
});

test('a request from an unknown session gets SESSION_EXPIRED and is not applied', (t) => {
  const feeder = new Feeder();
  const reply = feeder.request('ghost', 1, { op: 'put', key: 'x', value: 1 });
  t.is(reply.ok ? '' : reply.code, 'SESSION_EXPIRED');
  t.is(feeder.machine.read('x'), null);
});

test('the session table is bounded: a new client evicts the least recently active session', (t) => {
  const feeder = new Feeder(new KvStateMachine({ maxSessions: 3 }));
  feeder.register('a');
  feeder.register('b');
  feeder.register('c');
  feeder.request('a', 1, { op: 'put', key: 'x', value: 1 }); // a is now the most recent
  feeder.register('b'); // re-registering counts as activity
  feeder.register('d'); // evicts c, the least recently active
  t.is(feeder.machine.sessionCount, 3);
  const fromC = feeder.request('c', 1, { op: 'put', key: 'x', value: 2 });
  t.is(fromC.ok ? '' : fromC.code, 'SESSION_EXPIRED');
  t.deepEqual(feeder.request('a', 1, { op: 'put', key: 'x', value: 1 }), ok(null), 'a kept its replies');
  t.deepEqual(feeder.request('b', 1, { op: 'put', key: 'y', value: 1 }), ok(null));
  t.deepEqual(feeder.request('d', 1, { op: 'put', key: 'z', value: 1 }), ok(null));
  t.is(feeder.machine.read('x'), 1);
});

/**
 * A random log of registers, requests (with retries and acks), no-ops and garbage. A
 * request goes out under the session id its client's last register returned (a machine
 * with `maxSessions` applies the log as it is made, to learn them), or one never
 * registered.
 */
function randomLog(seed: number, length: number, maxSessions: number): (Uint8Array | null)[] {
  const random = createPrng(seed);
  const learner = new KvStateMachine({ maxSessions });
  const sessionIds = new Map<string, number>();
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const clients = Array.from({ length: 12 }, (_, i) => `client-${i}`);
  const keys = ['a', 'b', 'c', 'list'];
  const nextSeq = new Map<string, number>();
  const log: (Uint8Array | null)[] = [];
  for (let i = 0; i < length; i++) {
    const roll = random();
    const clientId = pick(clients);
    if (roll < 0.05) log.push(null);
    else if (roll < 0.07) log.push(new Uint8Array([Math.floor(random() * 256), 0x01]));
    else if (roll < 0.2) log.push(encodeCommand({ type: 'register', clientId }));
    else {
      const session = sessionIds.get(clientId) ?? NEVER_REGISTERED;
      const last = nextSeq.get(clientId) ?? 0;
      const retry = random() < 0.2 && last > 0;
      const seq = retry ? Math.max(1, last - Math.floor(random() * 3)) : last + 1;
      nextSeq.set(clientId, Math.max(last, seq));
      const key = pick(keys);
      const operation: KvOperation = pick<KvOperation>([
        { op: 'put', key, value: Math.floor(random() * 5) },
        { op: 'delete', key },
        { op: 'append', key, value: i },
        { op: 'cas', key, expected: Math.floor(random() * 5), value: Math.floor(random() * 5) },
        { op: 'get', key },
      ]);
      const ackedBelow = Math.max(0, seq - 1 - Math.floor(random() * 4));
      log.push(encodeCommand({ type: 'request', session, seq, ackedBelow, operation }));
    }
    const reply = learner.apply(i + 1, log[i]!);
    if (roll >= 0.07 && roll < 0.2 && reply?.ok === true && typeof reply.value === 'number') sessionIds.set(clientId, reply.value);
  }
  return log;
}

test('determinism: two machines fed the same log (with evictions) end with identical snapshots', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const log = randomLog(seed, 3000, 5);
  const replies: string[][] = [[], []];
  const machines = [new KvStateMachine({ maxSessions: 5 }), new KvStateMachine({ maxSessions: 5 })];
  machines.forEach((machine, which) => {
    log.forEach((data, i) => replies[which]?.push(JSON.stringify(machine.apply(i + 1, data))));
  });
  const [first, second] = machines as [KvStateMachine, KvStateMachine];
  t.deepEqual(replies[0], replies[1], `seed ${seed}`);
  t.deepEqual(first.snapshot(), second.snapshot(), `seed ${seed}`);
  t.true(first.sessionCount <= 5, `seed ${seed}`);
  t.is(first.appliedIndex, log.length);
});

test('snapshot/restore round trip: data, sessions (and their LRU order), appliedIndex', (t) => {
  const seed = testSeed('KV_TEST_SEED') + 1;
  const log = randomLog(seed, 2000, 6);
  const split = 1200;
  const original = new KvStateMachine({ maxSessions: 6 });
  log.slice(0, split).forEach((data, i) => original.apply(i + 1, data));
  const bytes = original.snapshot();
  t.is(bytes.buffer.byteLength, bytes.length);
  const restored = KvStateMachine.restore(bytes, { maxSessions: 6 });
  t.is(restored.appliedIndex, split, `seed ${seed}`);
  t.is(restored.sessionCount, original.sessionCount);
  t.deepEqual(restored.snapshot(), bytes, `seed ${seed}`);
  for (const key of ['a', 'b', 'c', 'list']) t.deepEqual(restored.read(key), original.read(key), `seed ${seed}`);
  // Both continue identically: same replies (dedup included) and same final state.
  log.slice(split).forEach((data, i) => {
    const index = split + i + 1;
    t.deepEqual(restored.apply(index, data), original.apply(index, data), `seed ${seed} index ${index}`);
  });
  t.deepEqual(restored.snapshot(), original.snapshot(), `seed ${seed}`);
});

test('restoreFrom: a retried request after a restore is answered from the session, not applied again (exactly-once)', (t) => {
  const leader = new Feeder(new KvStateMachine({ maxSessions: 3 }));
  leader.register('c1');
  leader.register('c2');
  const first = leader.request('c1', 1, { op: 'append', key: 'log', value: 'a' });
  leader.request('c2', 1, { op: 'cas', key: 'x', expected: null, value: 1 });
  const follower = new KvStateMachine({ maxSessions: 3 });
  follower.apply(1, null);
  follower.restoreFrom(leader.machine.snapshot());
  t.is(follower.appliedIndex, leader.machine.appliedIndex);
  t.deepEqual(follower.snapshot(), leader.machine.snapshot(), 'the same state, byte for byte');
  // The client retries seq 1 (its reply was lost): the restored machine answers it without applying it again.
  const next = new Feeder(follower);
  // The clients keep the session ids the leader's machine gave them.
  for (const [clientId, session] of leader.sessionIds) next.sessionIds.set(clientId, session);
  const retried = next.request('c1', 1, { op: 'append', key: 'log', value: 'a' });
  t.deepEqual(retried, first);
  t.deepEqual(follower.read('log'), ['a'], 'appended once');
  // The LRU order came across: after c1's retry, c2 is the least recently active, so the
  // fourth session evicts it.
  next.register('c3');
  next.register('c4');
  t.is(follower.sessionCount, 3);
  const evicted = next.request('c2', 2, { op: 'get', key: 'x' });
  t.false(evicted.ok, 'c2 was evicted');
  if (!evicted.ok) t.is(evicted.code, 'SESSION_EXPIRED');
  t.deepEqual(next.request('c1', 2, { op: 'get', key: 'log' }), { ok: true, value: ['a'] }, 'c1 survived');
});

test('restoreFrom refuses a malformed snapshot and leaves the machine unchanged', (t) => {
  const feeder = new Feeder(new KvStateMachine());
  feeder.register('c1');
  feeder.request('c1', 1, { op: 'put', key: 'k', value: 'v' });
  const before = feeder.machine.snapshot();
  const error = t.throws(() => feeder.machine.restoreFrom(new Uint8Array([0x93, 1, 2, 3])), { instanceOf: KvError });
  t.is(error?.code, 'MALFORMED_SNAPSHOT');
  t.deepEqual(feeder.machine.snapshot(), before);
});

test('restoredFrom checks and restores into a new machine, leaving this one as it is; adoptState then swaps the state in', (t) => {
  const leader = new Feeder(new KvStateMachine({ maxSessions: 3 }));
  leader.register('c1');
  leader.request('c1', 1, { op: 'put', key: 'k', value: 'leader' });
  const follower = new Feeder(new KvStateMachine({ maxSessions: 3 }));
  follower.register('c1');
  follower.request('c1', 1, { op: 'put', key: 'k', value: 'follower' });
  const before = follower.machine.snapshot();
  const error = t.throws(() => follower.machine.restoredFrom(Uint8Array.of(1, 2, 3)), { instanceOf: KvError });
  t.is(error?.code, 'MALFORMED_SNAPSHOT');
  const restored = follower.machine.restoredFrom(leader.machine.snapshot());
  t.deepEqual(follower.machine.snapshot(), before, 'unchanged until adopted');
  t.is(follower.machine.read('k'), 'follower');
  follower.machine.adoptState(restored);
  t.is(follower.machine.read('k'), 'leader');
  t.deepEqual(follower.machine.snapshot(), leader.machine.snapshot(), 'the same state, byte for byte');
  // Only a machine with the same limits, and not itself, may be adopted.
  t.throws(() => follower.machine.adoptState(follower.machine));
  t.throws(() => follower.machine.adoptState(KvStateMachine.restore(leader.machine.snapshot(), { maxSessions: 4 })));
});

test('restore refuses bytes that are not a snapshot with MALFORMED_SNAPSHOT', (t) => {
  const good = new KvStateMachine().snapshot();
  for (const bytes of [new Uint8Array([]), new Uint8Array([0x93, 1, 2, 3]), good.subarray(0, good.length - 1)]) {
    const error = t.throws(() => KvStateMachine.restore(bytes), { instanceOf: KvError });
    t.is(error?.code, 'MALFORMED_SNAPSHOT');
  }
});

test('restore reads a snapshot as msgpackr reads it, mutated and truncated ones included: the same state, or MALFORMED_SNAPSHOT (seeded)', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  const feeder = new Feeder();
  const keys = ['a', 'key-1', 'é-clé', '日本', 'k'.repeat(40), 'x'.repeat(300), ''];
  const values: JsonValue[] = ['v', '', 'w'.repeat(70), 'ü'.repeat(20), 7, -3.5, null, true, [1, 'x', { y: 'z' }], { a: ['b'] }, 'q'.repeat(70_000)];
  for (let i = 0; i < 300; i++) {
    const key = random() < 0.5 ? keys[Math.floor(random() * keys.length)]! : `n${Math.floor(random() * 100)}`;
    feeder.op({ op: 'put', key, value: values[Math.floor(random() * values.length)]! }, `c${i % 3}`);
  }
  const good = feeder.machine.snapshot();
  const restored = KvStateMachine.restore(good);
  t.deepEqual(restored.snapshot(), good, `seed ${seed}: restored exactly`);
  let accepted = 0;
  let refused = 0;
  for (let round = 0; round < 400; round++) {
    const bytes = Uint8Array.from(good);
    const mutation = round % 3;
    if (mutation === 0) for (let i = 1 + Math.floor(random() * 3); i > 0; i--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    // What msgpackr makes of the bytes is the reference: a 4-array with the data as [key, value] pairs.
    const mutated = mutation === 1 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : mutation === 2 ? bytes.subarray(0, bytes.length - 1 - Math.floor(random() * 50)) : bytes;
    let reference: unknown;
    try {
      reference = unpack(Uint8Array.from(mutated));
    } catch {
      reference = undefined;
    }
    let machine: KvStateMachine;
    try {
      machine = KvStateMachine.restore(mutated);
    } catch (error) {
      t.true(error instanceof KvError && error.code === 'MALFORMED_SNAPSHOT', `seed ${seed} round ${round}: ${String(error)}`);
      refused++;
      continue;
    }
    accepted++;
    t.true(Array.isArray(reference), `seed ${seed} round ${round}: restored what msgpackr cannot read`);
    const expected = new Map<string, unknown>();
    for (const [key, value] of (reference as unknown[][])[2] as [string, unknown][]) expected.set(key, value);
    t.is(machine.size, expected.size, `seed ${seed} round ${round}`);
    for (const [key, value] of expected) t.deepEqual(machine.read(key), value, `seed ${seed} round ${round}: ${key.slice(0, 20)}`);
  }
  t.true(accepted > 0 && refused > 0, `seed ${seed}: ${accepted} accepted, ${refused} refused`);
});

test('disableSessions (test-only broken variant) applies a retried request twice', (t) => {
  const feeder = new Feeder(new KvStateMachine({ disableSessions: true }));
  feeder.request('c1', 1, { op: 'append', key: 'log', value: 'a' });
  feeder.request('c1', 1, { op: 'append', key: 'log', value: 'a' });
  t.deepEqual(feeder.machine.read('log'), ['a', 'a']);
});

test('apply throughput (printed, not asserted)', (t) => {
  const machine = new KvStateMachine();
  const count = 50_000;
  const entries: Uint8Array[] = [encodeCommand({ type: 'register', clientId: 'bench' })];
  for (let seq = 1; seq < count; seq++) {
    const key = `k${seq % 1000}`;
    const operation: KvOperation = seq % 2 === 0 ? { op: 'put', key, value: 'v'.repeat(100) } : { op: 'get', key };
    // Session 1: the register above, at index 1.
    entries.push(encodeCommand({ type: 'request', session: 1, seq, ackedBelow: seq, operation }));
  }
  const started = performance.now();
  entries.forEach((data, i) => machine.apply(i + 1, data));
  const elapsedMs = performance.now() - started;
  t.log(`applied ${count} commands in ${elapsedMs.toFixed(0)} ms: ${Math.round(count / (elapsedMs / 1000))} commands/s`);
  t.is(machine.appliedIndex, count);
});

test('ReplyWindow behaves as the Map<seq, reply> in applied order it replaced (seeded model check)', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  const window = new ReplyWindow();
  const model = new Map<number, KvReply>();
  let nextSeq = 1;
  for (let step = 0; step < 20_000; step++) {
    const roll = random();
    // Drops keep pace with pushes, so the window stays small and its front is reclaimed often.
    if (roll < 0.4) {
      // New seqs, sometimes out of order (a pipelined request overtaken by a later one).
      const seq = random() < 0.1 && nextSeq > 3 ? nextSeq - 1 - Math.floor(random() * 3) : nextSeq++;
      if (model.has(seq)) continue;
      const reply: KvReply = { ok: true, value: seq };
      window.push(seq, reply);
      model.set(seq, reply);
    } else if (roll < 0.6) {
      const seq = 1 + Math.floor(random() * nextSeq);
      t.is(window.get(seq), model.get(seq), `seed ${seed} step ${step}: get(${seq})`);
    } else if (model.size > 0) {
      const oldest = model.keys().next().value as number;
      t.is(window.oldestSeq(), oldest, `seed ${seed} step ${step}: oldest`);
      window.dropOldest();
      model.delete(oldest);
    }
    if (window.size !== model.size) {
      t.fail(`seed ${seed} step ${step}: size ${window.size}, model ${model.size}`);
      return;
    }
  }
  t.deepEqual(window.entries(), [...model], `seed ${seed}: entries in applied order`);
  while (window.size > 0) window.dropOldest();
  t.is(window.oldestSeq(), -1);
  t.is(window.get(1), undefined);
});

test('an incremental snapshot, stepped while entries go on being applied, restores exactly the state at its index (seeded)', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const log: Uint8Array[] = [];
  const seqs = new Map<string, number>();
  const clients = ['a', 'b', 'c'];
  for (const client of clients) log.push(encodeCommand({ type: 'register', clientId: client }));
  const nextCommand = (): Uint8Array => {
    const client = Math.floor(random() * clients.length);
    const clientId = clients[client]!;
    // Sessions 1, 2, 3: the registers above, at indexes 1 to 3.
    const session = client + 1;
    const seq = (seqs.get(clientId) ?? 0) + 1;
    seqs.set(clientId, seq);
    const key = pick(keys);
    const roll = random();
    const operation: KvOperation =
      roll < 0.4 ? { op: 'put', key, value: Math.floor(random() * 1000) }
        : roll < 0.6 ? { op: 'delete', key }
          : roll < 0.85 ? { op: 'append', key: `list-${key}`, value: seq }
            : { op: 'cas', key, expected: null, value: 'cas' };
    // Half the appends carry a limit the list soon reaches: refusals happen mid-snapshot too.
    const limit = operation.op === 'append' && random() < 0.5 ? 3 + Math.floor(random() * 40) : undefined;
    if (limit !== undefined) return encodeCommand({ type: 'request', session, seq, ackedBelow: Math.max(0, seq - 4), operation, maxValueBytes: limit });
    return encodeCommand({ type: 'request', session, seq, ackedBelow: Math.max(0, seq - 4), operation });
  };
  const contents = (bytes: Uint8Array): unknown => {
    const [version, index, data, sessions] = unpack(bytes) as [number, number, [string, unknown][], unknown[]];
    return { version, index, data: [...data].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)), sessions };
  };
  for (let round = 0; round < 30; round++) {
    const machine = new KvStateMachine();
    const before = 50 + Math.floor(random() * 400);
    while (log.length < before + 1000) log.push(nextCommand());
    for (let i = 0; i < before; i++) machine.apply(i + 1, log[i]!);
    const reference = new KvStateMachine();
    for (let i = 0; i < before; i++) reference.apply(i + 1, log[i]!);
    t.is(machine.beginSnapshot(), before);
    let applied = before;
    let bytes: Uint8Array | null = null;
    while (bytes === null) {
      // Apply a few entries between steps: puts, deletes (also of keys not written yet),
      // in-place appends and re-created keys all happen mid-snapshot.
      const burst = Math.floor(random() * 8);
      for (let i = 0; i < burst; i++, applied++) machine.apply(applied + 1, log[applied]!);
      bytes = machine.snapshotStep(1 + Math.floor(random() * 5));
    }
    t.is(machine.snapshotInProgress, null);
    t.deepEqual(contents(bytes), contents(reference.snapshot()), `seed ${seed} round ${round}: snapshot at ${before}, ${applied - before} entries applied while it was written`);
    // It restores, and the restored machine carries on exactly as the reference does.
    const restored = KvStateMachine.restore(bytes);
    for (let i = before; i < before + 200; i++) t.deepEqual(restored.apply(i + 1, log[i]!), reference.apply(i + 1, log[i]!), `seed ${seed} round ${round} index ${i + 1}`);
  }
});

test('string values in the arena read back as a plain map holds them, through overwrites of every length, deletes, type changes, compaction and snapshots (seeded model check)', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  const feeder = new Feeder();
  const model = new Map<string, JsonValue>();
  const keys = Array.from({ length: 400 }, (_, i) => `key-${i}`);
  const text = (): string => {
    const length = pick([0, 1, 5, 20, 64, 65, 200, 2000]);
    const alphabet = random() < 0.2 ? ['é', '日', '😀', 'a'] : ['a', 'b', 'c', 'd', 'e', 'f'];
    let out = '';
    while (out.length < length) out += alphabet[Math.floor(random() * alphabet.length)];
    return out;
  };
  function pick<T>(items: readonly T[]): T {
    return items[Math.floor(random() * items.length)]!;
  }
  for (let step = 0; step < 20_000; step++) {
    const key = pick(keys);
    const roll = random();
    if (roll < 0.6) {
      const value: JsonValue = random() < 0.85 ? text() : pick<JsonValue>([null, 7, true, [1, 'x'], { a: 'b' }]);
      t.deepEqual(feeder.op({ op: 'put', key, value }), ok(null));
      model.set(key, value);
    } else if (roll < 0.75) {
      feeder.op({ op: 'delete', key });
      model.delete(key);
    } else if (roll < 0.85) {
      const expected = random() < 0.5 ? (model.get(key) ?? null) : 'no such value';
      const value = text();
      const swapped = JSON.stringify(expected) === JSON.stringify(model.get(key) ?? null);
      t.deepEqual(feeder.op({ op: 'cas', key, expected, value }), ok(swapped));
      if (swapped) model.set(key, value);
    } else {
      t.deepEqual(feeder.machine.read(key), model.get(key) ?? null, `seed ${seed} step ${step}: read ${key}`);
    }
  }
  for (const key of keys) t.deepEqual(feeder.machine.read(key), model.get(key) ?? null, `seed ${seed}: final read ${key}`);
  t.is(feeder.machine.size, model.size);
  const restored = KvStateMachine.restore(feeder.machine.snapshot());
  for (const key of keys) t.deepEqual(restored.read(key), model.get(key) ?? null, `seed ${seed}: read ${key} after restore`);
  const copy = new KvStateMachine();
  copy.restoreFrom(feeder.machine.snapshot());
  t.deepEqual(copy.snapshot(), feeder.machine.snapshot(), `seed ${seed}: restoreFrom keeps everything, in order`);
});

/** An incremental snapshot of the feeder's machine, 6 keys a step, `between` run between steps. */
function incrementalSnapshot(feeder: Feeder, between: () => void): Uint8Array {
  feeder.machine.beginSnapshot();
  for (;;) {
    const bytes = feeder.machine.snapshotStep(6);
    if (bytes !== null) return bytes;
    between();
  }
}

test("an incremental snapshot's bytes stay as they were while later snapshots are written and the machine goes on", (t) => {
  // Each snapshot's bytes are its writer's own buffer (no copy at the end): the next
  // snapshot, sized from this one, must write somewhere else.
  const feeder = new Feeder();
  const takeSnapshot = (): Uint8Array => incrementalSnapshot(feeder, () => feeder.op({ op: 'put', key: 'during', value: 'x'.repeat(50) }));
  const taken: { bytes: Uint8Array; copy: Uint8Array; index: number }[] = [];
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 300; i++) feeder.op({ op: 'put', key: `k${round}-${i}`, value: 'v'.repeat(100 + round) });
    const index = feeder.machine.appliedIndex;
    const bytes = takeSnapshot();
    taken.push({ bytes, copy: Uint8Array.from(bytes), index });
  }
  t.true(taken[3]!.bytes.byteLength > taken[0]!.bytes.byteLength, 'later snapshots hold more keys');
  for (const [round, { bytes, copy, index }] of taken.entries()) {
    t.deepEqual(bytes, copy, `snapshot ${round} changed after it was taken`);
    const restored = KvStateMachine.restore(bytes);
    t.is(restored.appliedIndex, index);
    t.deepEqual(restored.read(`k${round}-299`), 'v'.repeat(100 + round));
  }
});

test('a snapshot handed back is written over by the next one, which is still exact; anything else is refused', (t) => {
  const feeder = new Feeder();
  const reference = new KvStateMachine();
  const takeSnapshot = (): Uint8Array => incrementalSnapshot(feeder, () => undefined);
  for (let i = 0; i < 200; i++) feeder.op({ op: 'put', key: `k${i}`, value: 'v'.repeat(60) });
  const first = takeSnapshot();
  const firstCopy = Uint8Array.from(first);
  t.throws(() => feeder.machine.recycleSnapshot(Uint8Array.from(first)), { message: /not the bytes of a snapshot/ });
  feeder.machine.recycleSnapshot(first);
  t.throws(() => feeder.machine.recycleSnapshot(first), { message: /already handed back/ });
  for (let i = 0; i < 150; i++) feeder.op({ op: 'put', key: `k${i}`, value: 'w'.repeat(40) });
  const second = takeSnapshot();
  t.is(second.buffer, first.buffer, 'the second snapshot went into the memory handed back');
  t.notDeepEqual(first, firstCopy, 'so the first is gone, as its owner said it may be');
  reference.restoreFrom(second);
  t.deepEqual(reference.snapshot(), feeder.machine.snapshot(), 'the second snapshot restores the state exactly');
  t.is(reference.read('k0'), 'w'.repeat(40));
  t.is(reference.read('k199'), 'v'.repeat(60));
});
