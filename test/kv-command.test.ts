import test from 'ava';
import { createPrng, testSeed } from './helpers/seed.js';
import { pack, Packr } from 'msgpackr';
import {
  putPrefix,
  writePutHead,
  decodeCommand,
  describeCommand,
  encodeCommand,
  isCertainlyValidPut,
  isVettedPut,
  plainPut,
  KV_LIMITS,
  KvError,
  validateKey,
  validateOperation,
  validateValue,
  jsonEncodedSize,
  type Command,
  type JsonValue,
  type KvOperation,
  writeCommand,
} from '../lib/kv/command.js';
import { MsgpackWriter } from '../lib/transport/msgpack-writer.js';
import { ClientBatchWriter, decodeClientBatch } from '../lib/cluster/protocol.js';

const MAX_VALUE_BYTES = KV_LIMITS.defaultMaxValueBytes;

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof KvError) {
      if (error.indeterminate) throw new Error('a KvError must be definite');
      return error.code;
    }
    throw error;
  }
  return 'NO_ERROR';
}

const commands: Command[] = [
  { type: 'register', clientId: 'c7f2' },
  { type: 'request', session: 1, seq: 1, ackedBelow: 0, operation: { op: 'put', key: 'x', value: 1 } },
  { type: 'request', session: 2 ** 32, seq: 2, ackedBelow: 2, operation: { op: 'delete', key: 'x' } },
  { type: 'request', session: Number.MAX_SAFE_INTEGER, seq: 3, ackedBelow: 1, operation: { op: 'append', key: 'log', value: 'a' } },
  {
    type: 'request',
    session: 300,
    seq: 4,
    ackedBelow: 1,
    operation: { op: 'cas', key: 'x', expected: { a: [1, null, true] }, value: [2.5, 'ü', {}] },
  },
  { type: 'request', session: 70_000, seq: Number.MAX_SAFE_INTEGER, ackedBelow: 0, operation: { op: 'get', key: 'k' } },
  // As a raftlab from before session ids wrote them: the request names its client id.
  { type: 'request', session: 0, clientId: 'c7f2', seq: 5, ackedBelow: 2, operation: { op: 'put', key: 'x', value: 'legacy' } },
  // An append carries the limit on the list it grows.
  { type: 'request', session: 9, seq: 6, ackedBelow: 0, operation: { op: 'append', key: 'log', value: ['b', 2] }, maxValueBytes: 1 << 20 },
  { type: 'request', session: 0, clientId: 'c7f2', seq: 7, ackedBelow: 0, operation: { op: 'append', key: 'log', value: 'c' }, maxValueBytes: 1 },
  // What clients send since session secrets: the register and every request carry one.
  { type: 'register', clientId: 'c7f2', secret: 1 },
  { type: 'register', clientId: 'c7f2', secret: 2 ** 32 - 1 },
  { type: 'request', session: 1, secret: 77, seq: 1, ackedBelow: 0, operation: { op: 'put', key: 'x', value: 1 } },
  { type: 'request', session: 2 ** 32, secret: 2 ** 32 - 1, seq: 2, ackedBelow: 2, operation: { op: 'delete', key: 'x' } },
  { type: 'request', session: 300, secret: 128, seq: 4, ackedBelow: 1, operation: { op: 'cas', key: 'x', expected: { a: [1, null, true] }, value: [2.5, 'ü', {}] } },
  { type: 'request', session: 70_000, secret: 65_536, seq: Number.MAX_SAFE_INTEGER, ackedBelow: 0, operation: { op: 'get', key: 'k' } },
  { type: 'request', session: 9, secret: 3, seq: 6, ackedBelow: 0, operation: { op: 'append', key: 'log', value: ['b', 2] }, maxValueBytes: 1 << 20 },
  { type: 'request', session: 9, secret: 3, seq: 8, ackedBelow: 0, operation: { op: 'append', key: 'log', value: 'd' } },
];

test('every command round-trips through encode/decode, as an exact-size buffer', (t) => {
  for (const command of commands) {
    const bytes = encodeCommand(command);
    t.is(bytes.constructor, Uint8Array);
    t.is(bytes.byteOffset, 0);
    t.is(bytes.buffer.byteLength, bytes.length, 'the buffer is an exact-size copy (transferable)');
    t.deepEqual(decodeCommand(bytes), command);
  }
});

test('encodeCommand refuses a secret that is not one (0, past 2^32-1, fractional), and a secured request naming its session by client id', (t) => {
  for (const secret of [0, -1, 1.5, 2 ** 32]) {
    t.throws(() => encodeCommand({ type: 'request', session: 1, secret, seq: 1, ackedBelow: 0, operation: { op: 'get', key: 'k' } }), { message: /not a session secret/ });
    t.throws(() => encodeCommand({ type: 'register', clientId: 'c', secret }), { message: /not a session secret/ });
    t.throws(() => putPrefix(1, secret), { message: /not a session secret/ });
  }
  t.throws(() => encodeCommand({ type: 'request', session: 0, clientId: 'c', secret: 5, seq: 1, ackedBelow: 0, operation: { op: 'get', key: 'k' } }), { message: /names its session by id/ });
});

test('encodeCommand refuses a request whose session is not a session id (0: never registered)', (t) => {
  for (const session of [0, -1, 1.5]) {
    t.throws(() => encodeCommand({ type: 'request', session, seq: 1, ackedBelow: 0, operation: { op: 'get', key: 'k' } }), { message: /not a session id/ });
  }
});

test('encodeCommand results do not alias each other (msgpackr reuses its scratch buffer)', (t) => {
  const first = encodeCommand(commands[1] as Command);
  const snapshot = Uint8Array.from(first);
  encodeCommand(commands[4] as Command);
  t.deepEqual(first, snapshot);
});

test('decodeCommand leaves the entry bytes untouched (msgpackr would cache a dataView on them)', (t) => {
  const bytes = encodeCommand(commands[1] as Command);
  decodeCommand(bytes);
  t.deepEqual(Object.keys(bytes), Object.keys(Uint8Array.from(bytes)));
});

test('decodeCommand refuses garbage and wrong shapes with MALFORMED_COMMAND', (t) => {
  const garbage: Uint8Array[] = [
    new Uint8Array([]),
    new Uint8Array([0xc1]),
    new Uint8Array([0x92, 0x01]), // truncated array
    encodeCommand(commands[1] as Command).subarray(0, 5),
  ];
  for (const bytes of garbage) t.is(codeOf(() => decodeCommand(bytes)), 'MALFORMED_COMMAND');
  // Hand-made tuples with the right framing but bad content.
  const badTuples: unknown[][] = [
    [1, ''], // empty client id
    [1, 7], // a register names a client id, not a session
    [1, 'c', 'extra'],
    [3, 'c'], // unknown tag
    [2, '', 1, 0, 1, 'x', 1], // a legacy request's empty client id
    [2, 0, 1, 0, 1, 'x', 1], // session 0 (log indexes start at 1)
    [2, 1.5, 1, 0, 1, 'x', 1],
    [2, -3, 1, 0, 1, 'x', 1],
    [2, 7, 0, 0, 1, 'x', 1], // seq 0
    [2, 7, 1.5, 0, 1, 'x', 1],
    [2, 7, 2, 3, 1, 'x', 1], // ackedBelow > seq
    [2, 7, 1, 0, 9, 'x'], // unknown op
    [2, 7, 1, 0, 1, '', 1], // empty key
    [2, 7, 1, 0, 1, 'x'], // put without value
    [2, 7, 1, 0, 2, 'x', 1], // delete with a value
    [2, 7, 1, 0, 4, 'x', 1], // cas without new value
    [2, 7, 1, 0, 1, 'x', new Uint8Array([1])], // binary is not JSON
    [2, 7, 1, 0, 1, 'x', new Date(0)],
  ];
  for (const tuple of badTuples) {
    t.is(codeOf(() => decodeCommand(packTuple(tuple))), 'MALFORMED_COMMAND', JSON.stringify(tuple));
  }
});

function packTuple(tuple: unknown[]): Uint8Array {
  return Uint8Array.from(pack(tuple));
}

test('validateKey: non-empty string of at most 1 KiB of UTF-8', (t) => {
  t.is(codeOf(() => validateKey('x')), 'NO_ERROR');
  t.is(codeOf(() => validateKey('k'.repeat(1024))), 'NO_ERROR');
  t.is(codeOf(() => validateKey('é'.repeat(512))), 'NO_ERROR'); // 1024 bytes
  t.is(codeOf(() => validateKey('k'.repeat(1025))), 'INVALID_KEY');
  t.is(codeOf(() => validateKey('é'.repeat(513))), 'INVALID_KEY'); // 1026 bytes, 513 chars
  t.is(codeOf(() => validateKey('😀'.repeat(257))), 'INVALID_KEY'); // 1028 bytes
  t.is(codeOf(() => validateKey('')), 'INVALID_KEY');
  t.is(codeOf(() => validateKey(1)), 'INVALID_KEY');
  t.is(codeOf(() => validateKey(null)), 'INVALID_KEY');
  t.is(codeOf(() => validateKey('a\ud800')), 'INVALID_KEY');
});

test('validateValue: JSON values only, bounded size', (t) => {
  const good: unknown[] = [null, true, 0, -1.5, 'text', [], {}, [1, [2, { a: 'b' }]], { nested: { list: [null] } }, '😀'];
  for (const value of good) t.is(codeOf(() => validateValue(value, MAX_VALUE_BYTES)), 'NO_ERROR', String(value));
  const shared = { a: 1 };
  t.is(codeOf(() => validateValue([shared, shared], MAX_VALUE_BYTES)), 'NO_ERROR', 'a shared sub-value is not a cycle');
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  class Point {
    x = 1;
  }
  const bad: unknown[] = [
    undefined,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    () => 1,
    Symbol('s'),
    10n,
    [undefined],
    { a: undefined },
    new Array(3), // holes
    cyclic,
    new Date(0),
    new Map(),
    new Point(),
    new Uint8Array(1),
    'lone \udc00 surrogate',
    { ['\ud800']: 1 },
    JSON.parse('{"__proto__": 1}'),
  ];
  for (const value of bad) t.is(codeOf(() => validateValue(value, MAX_VALUE_BYTES)), 'INVALID_VALUE', String(value));
  let deep: unknown = 0;
  for (let i = 0; i < KV_LIMITS.maxValueDepth + 1; i++) deep = [deep];
  t.is(codeOf(() => validateValue(deep, MAX_VALUE_BYTES)), 'INVALID_VALUE');
  t.is(codeOf(() => validateValue('x'.repeat(100), 50)), 'VALUE_TOO_LARGE');
  t.is(codeOf(() => validateValue('x'.repeat(MAX_VALUE_BYTES), MAX_VALUE_BYTES)), 'VALUE_TOO_LARGE');
  t.is(codeOf(() => validateValue('x'.repeat(40), 50)), 'NO_ERROR');
});

test('validateOperation: full shape check and a fresh operation back', (t) => {
  const put = { op: 'put', key: 'x', value: { a: 1 } };
  const checked = validateOperation(put, MAX_VALUE_BYTES);
  t.deepEqual(checked, put);
  t.not(checked, put);
  t.deepEqual(validateOperation({ op: 'cas', key: 'x', expected: null, value: 2 }, MAX_VALUE_BYTES), {
    op: 'cas',
    key: 'x',
    expected: null,
    value: 2,
  });
  t.deepEqual(validateOperation({ op: 'get', key: 'x' }, MAX_VALUE_BYTES), { op: 'get', key: 'x' });
  t.deepEqual(validateOperation({ op: 'delete', key: 'x' }, MAX_VALUE_BYTES), { op: 'delete', key: 'x' });
  t.deepEqual(validateOperation({ op: 'append', key: 'l', value: 'a' }, MAX_VALUE_BYTES), {
    op: 'append',
    key: 'l',
    value: 'a',
  });
  const cases: [unknown, string][] = [
    [null, 'INVALID_ARGUMENT'],
    ['put', 'INVALID_ARGUMENT'],
    [[], 'INVALID_ARGUMENT'],
    [{ op: 'increment', key: 'x' }, 'INVALID_ARGUMENT'],
    [{ op: 'toString', key: 'x' }, 'INVALID_ARGUMENT'],
    [{ key: 'x', value: 1 }, 'INVALID_ARGUMENT'],
    [{ op: 'put', key: 'x' }, 'INVALID_ARGUMENT'],
    [{ op: 'put', key: 'x', value: undefined }, 'INVALID_ARGUMENT'],
    [{ op: 'put', key: 'x', value: 1, extra: true }, 'INVALID_ARGUMENT'],
    [{ op: 'cas', key: 'x', value: 2 }, 'INVALID_ARGUMENT'],
    [{ op: 'cas', key: 'x', expected: 1 }, 'INVALID_ARGUMENT'],
    [{ op: 'cas', key: 'x', expected: 1, value: 2, new: 3 }, 'INVALID_ARGUMENT'],
    [{ op: 'delete', key: 'x', value: 1 }, 'INVALID_ARGUMENT'],
    [{ op: 'put', key: '', value: 1 }, 'INVALID_KEY'],
    [{ op: 'get', key: 7 }, 'INVALID_KEY'],
    [{ op: 'put', key: 'x', value: Number.NaN }, 'INVALID_VALUE'],
    [{ op: 'cas', key: 'x', expected: () => 1, value: 1 }, 'INVALID_VALUE'],
    [{ op: 'append', key: 'x', value: 'y'.repeat(100) }, 'VALUE_TOO_LARGE'],
    [{ op: 'cas', key: 'x', expected: 'y'.repeat(100), value: 1 }, 'VALUE_TOO_LARGE'],
  ];
  for (const [operation, code] of cases) {
    t.is(codeOf(() => validateOperation(operation, 64)), code, JSON.stringify(operation) ?? String(operation));
  }
});

test('describeCommand: short lines for the dashboard, never throws', (t) => {
  const request = (operation: KvOperation): Uint8Array =>
    encodeCommand({ type: 'request', session: 5, seq: 1, ackedBelow: 0, operation });
  t.is(describeCommand(null), 'no-op');
  t.is(describeCommand(encodeCommand({ type: 'register', clientId: 'c7f2' })), 'register c7f2');
  t.is(describeCommand(request({ op: 'put', key: 'x', value: 1 })), 'put x=1');
  t.is(describeCommand(request({ op: 'append', key: 'log', value: 'a' })), 'append log+"a"');
  t.is(describeCommand(request({ op: 'cas', key: 'x', expected: 1, value: 2 })), 'cas x 1→2');
  t.is(describeCommand(request({ op: 'delete', key: 'x' })), 'delete x');
  t.is(describeCommand(request({ op: 'get', key: 'x' })), 'get x');
  const long = describeCommand(request({ op: 'put', key: 'k'.repeat(500), value: 'v'.repeat(10_000) }));
  t.true(long.length < 100, long);
  t.is(describeCommand(new Uint8Array([1, 2, 3])), 'malformed (3 bytes)');
  t.is(describeCommand('junk' as unknown as Uint8Array), 'malformed (0 bytes)');
});

test('fuzz: mutated commands decode to a valid command or fail with MALFORMED_COMMAND, never anything else', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  const valid = commands.map(encodeCommand);
  let decoded = 0;
  for (let iteration = 0; iteration < 10_000; iteration++) {
    const input = Uint8Array.from(valid[Math.floor(random() * valid.length)] as Uint8Array);
    const mutations = 1 + Math.floor(random() * 3);
    for (let m = 0; m < mutations; m++) input[Math.floor(random() * input.length)] = Math.floor(random() * 256);
    let command: Command;
    try {
      command = decodeCommand(input);
    } catch (error) {
      if (!(error instanceof KvError) || error.code !== 'MALFORMED_COMMAND') {
        t.fail(`seed ${seed} iteration ${iteration}: threw ${String(error)}`);
        return;
      }
      continue;
    }
    decoded++;
    // Whatever decodes is a real command: it survives its own round trip and describes itself.
    try {
      t.deepEqual(decodeCommand(encodeCommand(command)), command, `seed ${seed} iteration ${iteration}`);
      if (command.type === 'request') validateOperation(command.operation, Number.MAX_SAFE_INTEGER);
    } catch (error) {
      t.fail(`seed ${seed} iteration ${iteration}: decoded ${JSON.stringify(command)} is not valid: ${String(error)}`);
      return;
    }
    if (describeCommand(input).length === 0) t.fail(`seed ${seed}: empty description`);
  }
  t.log(`seed ${seed}: 10000 mutated commands, ${decoded} still decodable`);
});

test('writeCommand writes what decodes to the same command as encodeCommand, the same bytes every time', (t) => {
  for (const command of commands) {
    const first = new MsgpackWriter(8);
    writeCommand(first, command);
    const again = new MsgpackWriter(8);
    writeCommand(again, command);
    t.deepEqual([...first.written()], [...again.written()], 'deterministic: a retry resends the same bytes');
    t.deepEqual(decodeCommand(first.written()), decodeCommand(encodeCommand(command)), JSON.stringify(command).slice(0, 60));
  }
});

test('a client batch frame with its command encoded in place carries exactly writeCommand bytes', (t) => {
  const batcher = new ClientBatchWriter();
  const command = commands.find((candidate) => candidate.type === 'request')!;
  batcher.writeCommand(42, command);
  const { frames, malformed } = decodeClientBatch(batcher.take());
  t.is(malformed, 0);
  const frame = frames[0]!;
  t.true(frame.t === 'w' && frame.rid === 42);
  const reference = new MsgpackWriter(8);
  writeCommand(reference, command);
  t.deepEqual(frame.t === 'w' ? [...frame.command] : [], [...reference.written()]);
  t.deepEqual(decodeCommand(frame.t === 'w' ? frame.command : new Uint8Array()), command);
});

test('a put written as putPrefix + writePutHead + key + value is writeCommand\'s put, byte for byte (seeded)', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  const writer = new MsgpackWriter(8);
  for (let i = 0; i < 300; i++) {
    // Session ids of every uint form (fixint to uint64).
    const session = 1 + Math.floor(random() * 2 ** (1 + Math.floor(random() * 52)));
    const seq = Math.floor(random() * 2 ** (1 + Math.floor(random() * 52)));
    const ackedBelow = Math.floor(random() * (seq + 1));
    const key = `key-${Math.floor(random() * 1e9)}`;
    const value = random() < 0.5 ? 'v'.repeat(Math.floor(random() * 300)) : Math.floor(random() * 1e6);
    const secret = 1 + Math.floor(random() * 2 ** (1 + Math.floor(random() * 31)));
    const command: Command = { type: 'request', session, secret, seq, ackedBelow, operation: { op: 'put', key, value } };
    writer.reset();
    writePutHead(writer, putPrefix(session, secret), seq, ackedBelow);
    writer.str(key);
    if (typeof value === 'string') writer.str(value);
    else writer.uint(value);
    t.deepEqual([...writer.written()], [...encodeCommand(command)], `seed ${seed}, case ${i}`);
  }
});

test('isCertainlyValidPut: plain ASCII puts pass without decoding; whatever it passes decodeCommand accepts as that put (seeded fuzz)', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const values = [null, true, false, 0, 127, 128, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, -1, 1.5, '', 'v', 'x'.repeat(40), 'y'.repeat(300), 'é', [1], { a: 1 }];
  let passed = 0;
  let plainPassed = 0;
  let plain = 0;
  for (let iteration = 0; iteration < 20_000; iteration++) {
    const session = pick([1, 127, 128, 65_536, 2 ** 32 - 1, 2 ** 32 + 5]);
    const secret = pick([1, 127, 128, 65_536, 2 ** 32 - 1]);
    const seq = pick([1, 2, 127, 128, 70_000, 2 ** 32 + 5]);
    const ackedBelow = Math.min(seq, pick([0, 1, 126, 70_000]));
    const key = pick(['k1', 'key-é', 'k'.repeat(KV_LIMITS.maxKeyBytes), 'k'.repeat(40)]);
    const value = pick(values);
    const bytes = Uint8Array.from(encodeCommand({ type: 'request', session, secret, seq, ackedBelow, operation: { op: 'put', key, value } }));
    const isPlain = /^[\x00-\x7f]*$/.test(key) && session <= 2 ** 32 - 1 && seq <= 2 ** 32 - 1 &&
      (value === null || typeof value === 'boolean' || (typeof value === 'string' && /^[\x00-\x7f]*$/.test(value)) || (Number.isInteger(value) && (value as number) >= 0 && (value as number) < 2 ** 32));
    const mutate = random() < 0.5;
    if (mutate) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    const verdict = isCertainlyValidPut(bytes);
    if (verdict) {
      // What the leader applies its own vetted entries with finds the same parts.
      const found = { ...plainPut };
      t.true(isVettedPut(bytes), `seed ${seed} iteration ${iteration}`);
      t.deepEqual({ ...plainPut }, found, `seed ${seed} iteration ${iteration}: the vetted reading agrees`);
    }
    if (!mutate && isPlain) {
      plain++;
      if (verdict) plainPassed++;
    }
    if (!verdict) continue;
    passed++;
    let command: Command;
    try {
      command = decodeCommand(bytes);
    } catch (error) {
      t.fail(`seed ${seed} iteration ${iteration}: passed, but decodeCommand refused it: ${String(error)}`);
      return;
    }
    if (command.type !== 'request' || command.operation.op !== 'put' || command.secret !== plainPut.secret || command.session !== plainPut.session) {
      t.fail(`seed ${seed} iteration ${iteration}: passed, but decodes to ${describeCommand(bytes)}`);
      return;
    }
  }
  t.is(plainPassed, plain, `seed ${seed}: every unmutated plain put passes`);
  t.true(passed > 1000, `seed ${seed}: ${passed} passed`);
  t.log(`seed ${seed}: ${passed} of 20000 (half mutated) passed, all decoded as puts; ${plain} plain puts all passed`);
});

test('isCertainlyValidPut declines what it cannot vouch for: other operations, registers, empty keys, trailing bytes', (t) => {
  const put = (operation: KvOperation): Uint8Array => encodeCommand({ type: 'request', session: 9, secret: 70_000, seq: 3, ackedBelow: 1, operation });
  t.true(isCertainlyValidPut(put({ op: 'put', key: 'k', value: 'v' })));
  t.like(plainPut, { session: 9, secret: 70_000, seq: 3, ackedBelow: 1 });
  // A value of over 64 KiB is a str32: still a plain put, its text where decodeCommand finds it.
  const long = 'w'.repeat(70_000);
  const longPut = put({ op: 'put', key: 'k', value: long });
  t.true(isCertainlyValidPut(longPut));
  t.is(Buffer.from(longPut.subarray(plainPut.valueTextStart, plainPut.valueEnd)).toString('latin1'), long);
  t.deepEqual(decodeCommand(longPut), { type: 'request', session: 9, secret: 70_000, seq: 3, ackedBelow: 1, operation: { op: 'put', key: 'k', value: long } });
  t.false(isCertainlyValidPut(put({ op: 'delete', key: 'k' })));
  t.false(isCertainlyValidPut(put({ op: 'append', key: 'k', value: 'v' })));
  t.false(isCertainlyValidPut(encodeCommand({ type: 'register', clientId: 'c' })));
  t.false(isCertainlyValidPut(encodeCommand({ type: 'register', clientId: 'c', secret: 5 })));
  // A put from before session secrets (a WAL of that time) is decoded, never vouched for.
  const unsecured = encodeCommand({ type: 'request', session: 9, seq: 3, ackedBelow: 1, operation: { op: 'put', key: 'k', value: 'v' } });
  t.false(isCertainlyValidPut(unsecured));
  t.deepEqual(decodeCommand(unsecured), { type: 'request', session: 9, seq: 3, ackedBelow: 1, operation: { op: 'put', key: 'k', value: 'v' } });
  const secretZero = Uint8Array.from(pack([3, 9, 0, 3, 1, 1, 'k', 'v']));
  t.false(isCertainlyValidPut(secretZero));
  t.throws(() => decodeCommand(secretZero), { message: /secret must be an integer from 1 to 2\^32-1/ });
  t.throws(() => decodeCommand(Uint8Array.from(pack([3, 9, 2 ** 32, 3, 1, 1, 'k', 'v']))), { message: /secret/ });
  t.throws(() => decodeCommand(Uint8Array.from(pack([3, 'c', 5, 3, 1, 1, 'k', 'v']))), { message: /session must be/ }, 'a secured request names its session by id');
  t.throws(() => decodeCommand(Uint8Array.from(pack([1, 'c', 0]))), { message: /secret/ });
  t.false(isCertainlyValidPut(Uint8Array.from([...put({ op: 'put', key: 'k', value: 'v' }), 0xc0])));
  const emptyKey = Uint8Array.from(pack([2, 9, 3, 1, 1, '', 'v']));
  t.false(isCertainlyValidPut(emptyKey));
  t.throws(() => decodeCommand(emptyKey));
  const ackedAboveSeq = Uint8Array.from(pack([2, 9, 3, 4, 1, 'k', 'v']));
  const sessionZero = Uint8Array.from(pack([2, 0, 3, 1, 1, 'k', 'v']));
  t.false(isCertainlyValidPut(sessionZero));
  t.throws(() => decodeCommand(sessionZero));
  // A legacy request (it names its client id) is decoded, never vouched for by the scan.
  const legacy = Uint8Array.from(pack([2, 'c', 3, 1, 1, 'k', 'v']));
  t.false(isCertainlyValidPut(legacy));
  t.like(decodeCommand(legacy), { type: 'request', session: 0, clientId: 'c', seq: 3 });
  t.false(isCertainlyValidPut(ackedAboveSeq));
  t.throws(() => decodeCommand(ackedAboveSeq));
  t.false(isCertainlyValidPut(new Uint8Array(0)));
});

test('an append carries its limit as an 8th field; one from before the bound (7 fields) still decodes, with no limit', (t) => {
  const bounded = encodeCommand({ type: 'request', session: 3, seq: 2, ackedBelow: 1, operation: { op: 'append', key: 'log', value: 'a' }, maxValueBytes: 300 });
  t.deepEqual(bounded, Uint8Array.from(pack([2, 3, 2, 1, 3, 'log', 'a', 300])), 'as msgpackr packs the tuple');
  // Bytes as raftlab wrote an append before the bound, made by msgpackr rather than by this code.
  const old = Uint8Array.from(pack([2, 3, 2, 1, 3, 'log', 'a']));
  const decoded = decodeCommand(old);
  t.deepEqual(decoded, { type: 'request', session: 3, seq: 2, ackedBelow: 1, operation: { op: 'append', key: 'log', value: 'a' } });
  t.false('maxValueBytes' in decoded, 'no limit: applied unbounded, as it was');
  t.deepEqual(encodeCommand(decoded), old, 'and encodes back to the same bytes');
  t.deepEqual((decodeCommand(Uint8Array.from(pack([2, 3, 2, 1, 3, 'log', { a: [1] }]))) as { operation: KvOperation }).operation, { op: 'append', key: 'log', value: { a: [1] } });
  const legacyClient = Uint8Array.from(pack([2, 'c7f2', 1, 0, 3, 'log', 'x']));
  t.deepEqual(decodeCommand(legacyClient), { type: 'request', session: 0, clientId: 'c7f2', seq: 1, ackedBelow: 0, operation: { op: 'append', key: 'log', value: 'x' } });
  for (const limit of [0, -1, 1.5, 2 ** 53, 'x', null, [1]]) {
    t.is(codeOf(() => decodeCommand(Uint8Array.from(pack([2, 3, 2, 1, 3, 'log', 'a', limit])))), 'MALFORMED_COMMAND', `limit ${JSON.stringify(limit)}`);
  }
  t.is(codeOf(() => decodeCommand(Uint8Array.from(pack([2, 3, 2, 1, 3, 'log', 'a', 300, 1])))), 'MALFORMED_COMMAND', 'a 9th field');
  t.is(codeOf(() => decodeCommand(Uint8Array.from(pack([2, 3, 2, 1, 1, 'x', 'a', 300])))), 'MALFORMED_COMMAND', 'a put has no limit');
  // The caller's bugs are thrown at once, never proposed.
  t.throws(() => encodeCommand({ type: 'request', session: 3, seq: 1, ackedBelow: 0, operation: { op: 'put', key: 'x', value: 1 }, maxValueBytes: 10 }), { message: /an append's/ });
  t.throws(() => encodeCommand({ type: 'request', session: 3, seq: 1, ackedBelow: 0, operation: { op: 'append', key: 'x', value: 1 }, maxValueBytes: 0 }), { message: /positive safe integer/ });
});

test('jsonEncodedSize is the size msgpackr packs a value to, for every kind and every header boundary (seeded)', (t) => {
  // As lib/kv packs values: plain maps of the smallest header.
  const packr = new Packr({ useRecords: false, variableMapSize: true });
  const pack = (value: JsonValue): Uint8Array => packr.pack(value);
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const lengths = [0, 1, 15, 16, 31, 32, 33, 255, 256, 257, 65_535, 65_536, 70_000];
  const text = (long: boolean): string => {
    const length = long ? pick(lengths) : pick(lengths.slice(0, 9));
    const alphabet = pick([['a'], ['é', 'a'], ['日'], ['😀', 'a'], ['\ud800', 'a'], ['\udc00']]);
    let out = '';
    while (out.length < length) out += pick(alphabet);
    return out;
  };
  const numbers = [0, -0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 2 ** 32, 2 ** 53 - 1, -1, -0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -(2 ** 31), -(2 ** 31) - 1, 0.5, -2.25, 1e300, Number.MIN_VALUE];
  const value = (depth: number): JsonValue => {
    const roll = random();
    if (roll < 0.3 || depth > 2) return pick<JsonValue>([null, true, false, pick(numbers), text(false).slice(0, pick([0, 5, 40, 300]))]);
    if (roll < 0.6) return text(depth === 0);
    const count = pick([0, 1, 15, 16, 17]);
    if (roll < 0.8) return Array.from({ length: count }, () => value(depth + 1));
    const object: { [key: string]: JsonValue } = {};
    for (let i = 0; i < count; i++) object[`${text(false).slice(0, pick([1, 3, 40]))}${i}`] = value(depth + 1);
    return object;
  };
  for (let i = 0; i < 2000; i++) {
    const v = value(0);
    t.is(jsonEncodedSize(v), pack(v).length, `seed ${seed}: ${JSON.stringify(v).slice(0, 200)}`);
  }
  for (const count of [15, 16, 65_535, 65_536]) {
    const list = Array.from({ length: count }, (_, i) => i);
    t.is(jsonEncodedSize(list), pack(list).length, `a list of ${count}`);
  }
});
