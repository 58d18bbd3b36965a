import test, { type ExecutionContext } from 'ava';
import { createPrng, testSeed } from './helpers/seed.js';
import { pack, unpack } from 'msgpackr';
import { decodeRaftBatch, decodeRaftBatchWithMsgpackr, encodeRaftBatch, MAX_WIRE_INDEX, MAX_WIRE_TERM, validateRaftMessage, WIRE_FORMAT_VERSION, type DecodedBatch } from '../lib/transport/codec.js';
import { MessageType, type Entry, type Message, type NodeId } from '../lib/raft/types.js';

const SELF: NodeId = 2;
const PEERS: readonly NodeId[] = [1, 2, 3, 4, 5];

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

/** One message of every type (and both shapes of AppendEntries), all addressed to SELF. */
const samples: readonly Message[] = [
  {
    type: MessageType.RequestVote,
    term: 7,
    from: 1,
    to: SELF,
    preVote: true,
    lastLogIndex: 12,
    lastLogTerm: 6,
    transfer: false,
  },
  { type: MessageType.RequestVoteResponse, term: 7, from: 3, to: SELF, preVote: false, voteGranted: true },
  {
    type: MessageType.AppendEntries,
    term: 9,
    from: 5,
    to: SELF,
    prevLogIndex: 10,
    prevLogTerm: 4,
    entries: [
      { index: 11, term: 4, data: bytes(1, 2, 3) },
      { index: 12, term: 9, data: null },
      { index: 13, term: 9, data: new Uint8Array(0) },
      { index: 14, term: 9, data: new Uint8Array(70_000).fill(7) },
    ],
    leaderCommit: 11,
  },
  {
    type: MessageType.AppendEntries,
    term: 1,
    from: 1,
    to: SELF,
    prevLogIndex: 0,
    prevLogTerm: 0,
    entries: [],
    leaderCommit: 0,
  },
  {
    type: MessageType.AppendEntriesResponse,
    term: 9,
    from: 4,
    to: SELF,
    success: false,
    index: 10,
    conflictTerm: 3,
    conflictIndex: 8,
  },
  // The largest term and a large commit index: both past 32 bits.
  { type: MessageType.Heartbeat, term: MAX_WIRE_TERM, from: 1, to: SELF, leaderCommit: 2 ** 40, context: 3 },
  { type: MessageType.HeartbeatResponse, term: 2, from: 3, to: SELF, context: 0 },
  { type: MessageType.TimeoutNow, term: 2, from: 1, to: SELF },
  {
    type: MessageType.InstallSnapshot,
    term: 9,
    from: 3,
    to: SELF,
    lastIncludedIndex: 4096,
    lastIncludedTerm: 8,
    // The last of several chunks (Figure 13).
    offset: 65_536,
    totalBytes: 65_836,
    data: Uint8Array.from({ length: 300 }, (_, i) => i % 251),
    done: true,
    membership: { voters: [1, 2, 3], learners: [4, 5] },
  },
  // An acknowledgement of a chunk: index 0, the snapshot and how much of it the follower holds.
  { type: MessageType.InstallSnapshotResponse, term: 9, from: 4, to: SELF, index: 0, snapshotIndex: 4096, received: 70_000 },
  // Last, so the positions above stay: a configuration entry between a no-op and a command.
  {
    type: MessageType.AppendEntries,
    term: 4,
    from: 1,
    to: SELF,
    prevLogIndex: 20,
    prevLogTerm: 3,
    entries: [
      { index: 21, term: 4, data: null },
      { index: 22, term: 4, data: null, membership: { voters: [1, 2, 3, 5], learners: [4] } },
      { index: 23, term: 4, data: bytes(9) },
    ],
    leaderCommit: 20,
  },
];

test('every message type round-trips through one batch; entry data survive as exact bytes', (t) => {
  const encoded = encodeRaftBatch(samples);
  t.is(encoded.constructor, Uint8Array);
  t.is(encoded.byteOffset, 0);
  // A batch with a snapshot chunk (samples has one) is written into a buffer of its own,
  // sized for it up front: a little room may be left at its end.
  const entries = samples.reduce((sum, message) => sum + (message.type === MessageType.AppendEntries ? message.entries.length : 0), 0);
  t.true(encoded.buffer.byteLength - encoded.length <= (samples.length + 1) * 256 + entries * 32, 'its own buffer: it can be transferred');
  const plain = encodeRaftBatch(samples.filter((message) => message.type !== MessageType.InstallSnapshot));
  t.is(plain.byteOffset, 0);
  t.is(plain.buffer.byteLength, plain.length, 'exact-size copy: its buffer can be transferred');
  const decoded = decodeRaftBatch(encoded, SELF, PEERS);
  t.deepEqual(decoded.reasons, []);
  t.is(decoded.malformed, 0);
  t.deepEqual(decoded.messages, samples);
  const append = decoded.messages[2];
  if (append?.type !== MessageType.AppendEntries) throw new Error('expected AppendEntries');
  for (const entry of append.entries) if (entry.data !== null) t.is(entry.data.constructor, Uint8Array);
  // Entry data stay intact after the next encode reuses msgpackr's scratch buffer.
  encodeRaftBatch([samples[2] as Message]);
  t.deepEqual(append.entries[0]?.data, bytes(1, 2, 3));
  t.deepEqual(Object.keys(encoded), Object.keys(Uint8Array.from(encoded)), 'decode does not decorate the input');
});

test('each message type round-trips alone, and an empty batch too', (t) => {
  for (const message of samples) {
    t.deepEqual(decodeRaftBatch(encodeRaftBatch([message]), SELF, PEERS).messages, [message]);
  }
  t.deepEqual(decodeRaftBatch(encodeRaftBatch([]), SELF, PEERS), { messages: [], malformed: 0, reasons: [] });
});

test('encoded batches do not alias each other', (t) => {
  const first = encodeRaftBatch(samples);
  const copy = Uint8Array.from(first);
  encodeRaftBatch([samples[0] as Message, samples[0] as Message]);
  t.deepEqual(first, copy);
});

test('a batch survives postMessage with its buffer transferred', async (t) => {
  const { MessageChannel } = await import('node:worker_threads');
  const channel = new MessageChannel();
  try {
    const encoded = encodeRaftBatch(samples);
    const received = new Promise<unknown>((resolve) => channel.port2.once('message', resolve));
    channel.port1.postMessage(encoded, [encoded.buffer as ArrayBuffer]);
    t.is(encoded.byteLength, 0, 'the buffer was transferred, not copied');
    const decoded = decodeRaftBatch(await received, SELF, PEERS);
    t.deepEqual(decoded.messages, samples);
  } finally {
    channel.port1.close();
    channel.port2.close();
  }
});

test('validateRaftMessage accepts objects and returns fresh ones with exactly the known fields', (t) => {
  for (const message of samples) {
    const checked = validateRaftMessage({ ...message, extra: 'dropped' }, SELF, PEERS);
    t.deepEqual(checked, message);
    t.not(checked, message);
  }
});

function withField(message: Message, field: string, value: unknown): unknown {
  return { ...message, [field]: value };
}

test('validateRaftMessage refuses bad fields with a reason', (t) => {
  const [requestVote, , appendEntries, , appendResponse, heartbeat] = samples as [
    Message,
    Message,
    Message,
    Message,
    Message,
    Message,
  ];
  const appendWith = (entries: unknown, extra: Record<string, unknown> = {}): unknown => ({
    ...appendEntries,
    entries,
    ...extra,
  });
  const refused: [string, unknown][] = [
    ['not an object', 42],
    ['null', null],
    ['array', [1, 2]],
    ['unknown type', withField(heartbeat, 'type', 'Gossip')],
    ['inherited type name', withField(heartbeat, 'type', 'toString')],
    ['negative term', withField(heartbeat, 'term', -1)],
    ['fractional term', withField(heartbeat, 'term', 1.5)],
    ['unsafe term', withField(heartbeat, 'term', 2 ** 53)],
    ['string term', withField(heartbeat, 'term', '3')],
    ['bigint term', withField(heartbeat, 'term', 3n)],
    ['from a stranger', withField(heartbeat, 'from', 9)],
    ['from self', withField(heartbeat, 'from', SELF)],
    ['to someone else', withField(heartbeat, 'to', 3)],
    ['missing to', withField(heartbeat, 'to', undefined)],
    ['non-boolean preVote', withField(requestVote, 'preVote', 1)],
    ['missing transfer', withField(requestVote, 'transfer', undefined)],
    ['lastLogTerm above term', withField(requestVote, 'lastLogTerm', 8)],
    ['lastLogTerm without entries', { ...requestVote, lastLogIndex: 0, lastLogTerm: 1 }],
    ['negative index', withField(appendResponse, 'index', -1)],
    ['NaN conflictIndex', withField(appendResponse, 'conflictIndex', Number.NaN)],
    ['missing context', withField(heartbeat, 'context', undefined)],
    ['entries not an array', appendWith({ length: 0 })],
    ['entry not an object', appendWith([7])],
    ['gap in indexes', appendWith([{ index: 12, term: 4, data: null }])],
    [
      'repeated index',
      appendWith([
        { index: 11, term: 4, data: null },
        { index: 11, term: 4, data: null },
      ]),
    ],
    ['term below prevLogTerm', appendWith([{ index: 11, term: 3, data: null }])],
    [
      'terms decreasing',
      appendWith([
        { index: 11, term: 5, data: null },
        { index: 12, term: 4, data: null },
      ]),
    ],
    ['entry term above the leader term', appendWith([{ index: 11, term: 10, data: null }])],
    ['data a string', appendWith([{ index: 11, term: 4, data: 'abc' }])],
    ['data an array', appendWith([{ index: 11, term: 4, data: [1, 2] }])],
    ['data missing', appendWith([{ index: 11, term: 4 }])],
    ['prevLogTerm without prevLogIndex', appendWith([], { prevLogIndex: 0, prevLogTerm: 1 })],
    ['prevLogTerm above term', appendWith([], { prevLogTerm: 10 })],
    ['negative leaderCommit', appendWith([], { leaderCommit: -3 })],
  ];
  for (const [name, value] of refused) {
    const result = validateRaftMessage(value, SELF, PEERS);
    t.is(typeof result, 'string', name);
    if (typeof result === 'string') t.true(result.length > 0, name);
  }
  // The reasons for a refused entry are built out of the checking loop: each names its fault.
  const reason = (name: string): string => validateRaftMessage(refused.find(([label]) => label === name)![1], SELF, PEERS) as string;
  t.regex(reason('entry not an object'), /entry 0 is a number, not an object/);
  t.regex(reason('gap in indexes'), /entry 0 has index 12, expected 11/);
  t.regex(reason('repeated index'), /entry 1 has index 11, expected 12/);
  t.regex(reason('term below prevLogTerm'), /entry 11 has term 3, below the term 4 before it/);
  t.regex(reason('terms decreasing'), /entry 12 has term 4, below the term 5 before it/);
  t.regex(reason('entry term above the leader term'), /entry 11 has term 10, above the leader's term/);
  t.regex(reason('data a string'), /entry 11 data is a string/);
  const throwing = Object.defineProperty({ ...heartbeat }, 'term', {
    get() {
      throw new Error('boom');
    },
  });
  t.regex(validateRaftMessage(throwing, SELF, PEERS) as string, /could not be read/);
});

test('InstallSnapshot and its response: the snapshot bytes survive exactly; malformed ones are refused with a reason', (t) => {
  const snapshot = samples.find((message) => message.type === MessageType.InstallSnapshot)!;
  const response = samples.find((message) => message.type === MessageType.InstallSnapshotResponse)!;
  const decoded = decodeRaftBatch(encodeRaftBatch([snapshot, response]), SELF, PEERS);
  t.deepEqual(decoded.messages, [snapshot, response]);
  const data = (decoded.messages[0] as Extract<Message, { type: 'InstallSnapshot' }>).data;
  t.is(data.constructor, Uint8Array);
  t.is(data.byteLength, 300);
  // Tuples: [8, term, from, to, lastIncludedIndex, lastIncludedTerm, offset, totalBytes, data, done, [voters, learners]]
  // and [9, term, from, to, index, snapshotIndex, received].
  const members = [[1, 2, 3], []];
  const refusedTuples: [string, unknown[], RegExp][] = [
    ['data not bytes', [8, 9, 3, SELF, 4, 2, 0, 3, 'abc', true, members], /data .* is not bytes/],
    ['data missing (short tuple)', [8, 9, 3, SELF, 4, 2, 0, 1, true, members], /has 10 fields, expected 11/],
    ['membership missing (short tuple)', [8, 9, 3, SELF, 4, 2, 0, 1, bytes(1), true], /has 10 fields, expected 11/],
    ['lastIncludedIndex 0', [8, 9, 3, SELF, 0, 2, 0, 1, bytes(1), true, members], /lastIncludedIndex .* must be at least 1/],
    ['lastIncludedTerm 0', [8, 9, 3, SELF, 4, 0, 0, 1, bytes(1), true, members], /lastIncludedTerm .* must be at least 1/],
    ['lastIncludedTerm above the term', [8, 9, 3, SELF, 4, 10, 0, 1, bytes(1), true, members], /above the message term 9/],
    ['negative lastIncludedIndex', [8, 9, 3, SELF, -4, 2, 0, 1, bytes(1), true, members], /not a non-negative integer/],
    ['fractional term', [8, 9.5, 3, SELF, 4, 2, 0, 1, bytes(1), true, members], /term 9.5/],
    ['from a stranger', [8, 9, 6, SELF, 4, 2, 0, 1, bytes(1), true, members], /is not a peer/],
    ['response index a string', [9, 9, 3, SELF, 'x', 0, 0], /index "x" is not a non-negative integer/],
    ['response with an extra field', [9, 9, 3, SELF, 1, 2, 3, 4], /has 8 fields, expected 7/],
    ...chunkRefusals(members),
  ];
  for (const [name, tuple, reason] of refusedTuples) {
    for (const [path, decode] of [['hand-read path', decodeRaftBatch], ['msgpackr path', decodeRaftBatchWithMsgpackr]] as const) {
      let result: DecodedBatch;
      try {
        result = decode(Uint8Array.from(pack([WIRE_FORMAT_VERSION, [tuple]])), SELF, PEERS);
      } catch (error) {
        t.fail(`${name} (${path}): threw ${String(error)}`);
        continue;
      }
      t.deepEqual(result.messages, [], `${name} (${path})`);
      t.is(result.malformed, 1, `${name} (${path})`);
      t.regex(result.reasons[0] ?? '', reason, `${name} (${path})`);
    }
  }
  t.regex(validateRaftMessage({ ...snapshot, data: [1, 2, 3] }, SELF, PEERS) as string, /data/);
});

/** Malformed chunk fields (Figure 13's offset and done, the snapshot's totalBytes; the response's snapshotIndex and received) and what the refusal must say. */
function chunkRefusals(members: unknown[]): [string, unknown[], RegExp][] {
  const chunk = (offset: unknown, data: unknown, done: unknown, totalBytes?: unknown): unknown[] => [
    8, 9, 3, SELF, 4, 2, offset,
    totalBytes ?? (typeof offset === 'number' && data instanceof Uint8Array ? offset + data.byteLength + (done === false ? 1 : 0) : 1),
    data, done, members,
  ];
  const answer = (index: unknown, snapshotIndex: unknown, received: unknown): unknown[] => [9, 9, 3, SELF, index, snapshotIndex, received];
  return [
    ['negative offset', chunk(-1, bytes(1), false), /InstallSnapshot from 3: offset -1 is not a non-negative integer/],
    ['fractional offset', chunk(1.5, bytes(1), false), /offset 1.5 is not a non-negative integer/],
    ['offset a string', chunk('0', bytes(1), false), /offset "0" is not a non-negative integer/],
    ['offset null', chunk(null, bytes(1), false), /offset null is not a non-negative integer/],
    ['unsafe offset', chunk(2 ** 53, bytes(1), false), /offset 9007199254740992 is not a non-negative integer/],
    ['offset plus the chunk past the safe integers', chunk(Number.MAX_SAFE_INTEGER, bytes(1, 2), true, 1), /offset 9007199254740991 plus the chunk's 2 bytes runs past the largest safe integer/],
    ['done a number', chunk(0, bytes(1), 1), /done 1 is not a boolean/],
    ['done a string', chunk(0, bytes(1), 'true'), /done "true" is not a boolean/],
    ['done null', chunk(0, bytes(1), null), /done null is not a boolean/],
    ['done missing (short tuple)', [8, 9, 3, SELF, 4, 2, 0, 1, bytes(1), members], /has 10 fields, expected 11/],
    ['totalBytes missing (wire format 3)', [8, 9, 3, SELF, 4, 2, 0, bytes(1), true, members], /has 10 fields, expected 11/],
    ['totalBytes negative', chunk(0, bytes(1), true, -1), /totalBytes -1 is not a non-negative integer/],
    ['totalBytes a string', chunk(0, bytes(1), true, '1'), /totalBytes "1" is not a non-negative integer/],
    ['totalBytes below the chunk\'s end', chunk(4, bytes(1, 2), false, 5), /totalBytes 5 .*is below the chunk's end, 6/],
    ['totalBytes above 4 GiB', chunk(0, bytes(1), false, 2 ** 32 + 1), /totalBytes 4294967297 .*is above the largest snapshot, 4294967296 bytes/],
    ['done on a chunk that leaves the snapshot short', chunk(0, bytes(1), true, 2), /done true .*is set on a chunk ending at 1 of 2 bytes/],
    ['done not set on the chunk that ends the snapshot', chunk(1, bytes(1), false, 2), /done false .*is not set on the chunk that ends the snapshot's 2 bytes/],
    ['offset and done swapped', chunk(true, bytes(1), 0), /offset true is not a non-negative integer/],
    ['negative snapshotIndex', answer(0, -1, 0), /InstallSnapshotResponse from 3: snapshotIndex -1 is not a non-negative integer/],
    ['snapshotIndex a boolean', answer(0, true, 0), /snapshotIndex true is not a non-negative integer/],
    ['fractional received', answer(0, 4, 0.5), /received 0.5 is not a non-negative integer/],
    ['received negative', answer(0, 4, -100), /received -100 is not a non-negative integer/],
    ['received unsafe', answer(0, 4, 2 ** 60), /received \d+n? is not a non-negative integer/],
    ['response without the chunk fields (wire format 2)', [9, 9, 3, SELF, 4], /has 5 fields, expected 7/],
  ];
}

test('InstallSnapshot chunks: first, middle and last chunks and every kind of response round-trip on both decode paths and through validateRaftMessage', (t) => {
  const snapshot = samples.find((message) => message.type === MessageType.InstallSnapshot)!;
  const response = samples.find((message) => message.type === MessageType.InstallSnapshotResponse)!;
  const messages: Message[] = [
    { ...snapshot, offset: 0, totalBytes: 70_010, data: bytes(1, 2, 3, 4), done: false },
    { ...snapshot, offset: 4, totalBytes: 70_010, data: new Uint8Array(70_000).fill(9), done: false },
    // A snapshot of no bytes is one chunk, first and last.
    { ...snapshot, offset: 0, totalBytes: 0, data: new Uint8Array(0), done: true },
    // A size beyond 32 bits (msgpack uint64 or float64; the hand-read path leaves it to msgpackr).
    { ...snapshot, offset: 2 ** 32 - 1, totalBytes: 2 ** 32, data: bytes(7), done: true },
    { ...response, index: 0, snapshotIndex: 4096, received: 0 },
    // Installed: index is the snapshot's, whatever the chunk fields say.
    { ...response, index: 4096, snapshotIndex: 4096, received: 70_004 },
    // A refusal of a stale term.
    { ...response, index: 0, snapshotIndex: 0, received: 0 },
    { ...response, index: 0, snapshotIndex: MAX_WIRE_INDEX, received: Number.MAX_SAFE_INTEGER },
  ];
  for (const message of messages) {
    const encoded = encodeRaftBatch([message]);
    for (const [path, decode] of [['hand-read path', decodeRaftBatch], ['msgpackr path', decodeRaftBatchWithMsgpackr]] as const) {
      const decoded = decode(encoded.slice(), SELF, PEERS);
      t.deepEqual(decoded.reasons, [], path);
      t.deepEqual(decoded.messages, [message], path);
    }
    const checked = validateRaftMessage({ ...message, extra: 1 }, SELF, PEERS);
    t.deepEqual(checked, message);
  }
  // All in one batch, in order.
  t.deepEqual(decodeRaftBatch(encodeRaftBatch(messages), SELF, PEERS).messages, messages);
  // A chunk's fields keep the wire order: [..., lastIncludedTerm, offset, totalBytes, data, done, membership].
  const chunk = messages[0] as Extract<Message, { type: 'InstallSnapshot' }>;
  const tuple = [8, chunk.term, chunk.from, chunk.to, chunk.lastIncludedIndex, chunk.lastIncludedTerm, 0, 70_010, chunk.data, false, [[1, 2, 3], [4, 5]]];
  t.deepEqual([...encodeRaftBatch([chunk])], [...pack([WIRE_FORMAT_VERSION, [tuple]])]);
  t.deepEqual([...encodeRaftBatch([response])], [...pack([WIRE_FORMAT_VERSION, [[9, 9, 4, SELF, 0, 4096, 70_000]]])]);
});

/** `message` decoded by both paths and checked by validateRaftMessage: the reason each gives, or null where it was accepted as it is. */
function verdicts(t: ExecutionContext, message: Message): (string | null)[] {
  const encoded = encodeRaftBatch([message]);
  const results: (string | null)[] = [];
  for (const decode of [decodeRaftBatch, decodeRaftBatchWithMsgpackr]) {
    const decoded = decode(encoded.slice(), SELF, PEERS);
    t.is(decoded.messages.length + decoded.malformed, 1);
    if (decoded.malformed === 0) t.deepEqual(decoded.messages, [message]);
    results.push(decoded.reasons[0] ?? null);
  }
  const checked = validateRaftMessage(message, SELF, PEERS);
  results.push(typeof checked === 'string' ? checked : null);
  return results;
}

test('terms above MAX_WIRE_TERM and log indexes above MAX_WIRE_INDEX are refused as malformed on both decode paths; the bounds themselves pass', (t) => {
  // Room for the increments the protocol makes (a candidate's term + 1, an index + 1): as
  // many again as the bound itself, at least, before the safe integers end.
  t.true(MAX_WIRE_TERM <= MAX_WIRE_INDEX && Number.isSafeInteger(2 * MAX_WIRE_INDEX - 1));
  // The audit's message (peer-fuzz P6): one RequestVote at the largest safe integer made
  // every node adopt and persist a term no election could ever follow.
  const poison: Message = { type: MessageType.RequestVote, term: 2 ** 53 - 1, from: 1, to: SELF, preVote: false, lastLogIndex: 1e12, lastLogTerm: 2 ** 53 - 1, transfer: true };
  for (const reason of verdicts(t, poison)) t.regex(reason ?? 'accepted', /RequestVote: term 9007199254740991 is above the largest term, 281474976710656/);

  const [requestVote, , appendEntries, , appendResponse, heartbeat] = samples as [Message, Message, Message, Message, Message, Message];
  const snapshot = samples.find((message) => message.type === MessageType.InstallSnapshot)!;
  const snapshotResponse = samples.find((message) => message.type === MessageType.InstallSnapshotResponse)!;
  const atTerm = (message: Message, term: number): Message => ({ ...message, term }) as Message;
  for (const message of [requestVote, appendEntries, appendResponse, heartbeat, snapshot, snapshotResponse] as Message[]) {
    t.deepEqual(verdicts(t, atTerm(message, MAX_WIRE_TERM)), [null, null, null], `${message.type} at the largest term`);
    for (const reason of verdicts(t, atTerm(message, MAX_WIRE_TERM + 1))) t.regex(reason ?? 'accepted', /is above the largest term/, `${message.type} past it`);
  }

  // Every field that names a position in a log. RequestVote's lastLogTerm and
  // AppendEntries' prevLogTerm need a non-zero index, which the samples have.
  const indexFields: [Message, string][] = [
    [requestVote, 'lastLogIndex'],
    [{ ...appendEntries, entries: [] } as Message, 'prevLogIndex'],
    [appendEntries, 'leaderCommit'],
    [appendResponse, 'index'],
    [appendResponse, 'conflictIndex'],
    [heartbeat, 'leaderCommit'],
    [snapshot, 'lastIncludedIndex'],
    [snapshotResponse, 'index'],
    [snapshotResponse, 'snapshotIndex'],
  ];
  for (const [message, field] of indexFields) {
    t.deepEqual(verdicts(t, { ...message, [field]: MAX_WIRE_INDEX } as Message), [null, null, null], `${message.type}.${field} at the largest index`);
    for (const reason of verdicts(t, { ...message, [field]: MAX_WIRE_INDEX + 1 } as Message)) {
      t.regex(reason ?? 'accepted', new RegExp(`${field} ${MAX_WIRE_INDEX + 1} is above the largest log index, ${MAX_WIRE_INDEX}`), `${message.type}.${field} past it`);
    }
  }
  // Entries may run up to the largest index, not past it.
  const entriesFrom = (prevLogIndex: number, count: number): Message => ({
    type: MessageType.AppendEntries, term: 9, from: 1, to: SELF, prevLogIndex, prevLogTerm: 9, leaderCommit: 0,
    entries: Array.from({ length: count }, (_, i) => ({ index: prevLogIndex + 1 + i, term: 9, data: null })),
  });
  t.deepEqual(verdicts(t, entriesFrom(MAX_WIRE_INDEX - 2, 2)), [null, null, null]);
  for (const reason of verdicts(t, entriesFrom(MAX_WIRE_INDEX - 2, 3))) t.regex(reason ?? 'accepted', /entries run past the largest log index/);

  // A rejection's conflictTerm is the term of an entry in the follower's log: never past the follower's term.
  t.deepEqual(verdicts(t, { ...appendResponse, conflictTerm: appendResponse.term } as Message), [null, null, null]);
  for (const reason of verdicts(t, { ...appendResponse, conflictTerm: appendResponse.term + 1 } as Message)) t.regex(reason ?? 'accepted', /conflictTerm 10 is above the message term 9/);
});

test('validateRaftMessage refuses malformed chunk fields with a reason', (t) => {
  const snapshot = samples.find((message) => message.type === MessageType.InstallSnapshot)!;
  const response = samples.find((message) => message.type === MessageType.InstallSnapshotResponse)!;
  const refused: [string, unknown, RegExp][] = [
    ['offset missing', { ...snapshot, offset: undefined }, /offset undefined is not a non-negative integer/],
    ['offset negative', { ...snapshot, offset: -8 }, /offset -8 is not a non-negative integer/],
    ['offset a bigint', { ...snapshot, offset: 8n }, /offset 8n is not a non-negative integer/],
    ['offset past the safe integers with its chunk', { ...snapshot, offset: Number.MAX_SAFE_INTEGER - 10 }, /plus the chunk's 300 bytes runs past the largest safe integer/],
    ['done missing', { ...snapshot, done: undefined }, /done undefined is not a boolean/],
    ['done a number', { ...snapshot, done: 0 }, /done 0 is not a boolean/],
    ['totalBytes missing', { ...snapshot, totalBytes: undefined }, /totalBytes undefined is not a non-negative integer/],
    ['totalBytes fractional', { ...snapshot, totalBytes: 65_836.5 }, /totalBytes 65836.5 is not a non-negative integer/],
    ['totalBytes below the chunk\'s end', { ...snapshot, totalBytes: 65_835 }, /is below the chunk's end, 65836/],
    ['done but the snapshot runs on', { ...snapshot, totalBytes: 65_837 }, /done true .*is set on a chunk ending at 65836 of 65837 bytes/],
    ['snapshotIndex missing', { ...response, snapshotIndex: undefined }, /snapshotIndex undefined is not a non-negative integer/],
    ['received NaN', { ...response, received: Number.NaN }, /received null is not a non-negative integer/],
    ['received Infinity', { ...response, received: Number.POSITIVE_INFINITY }, /received null is not a non-negative integer/],
    ['received a string', { ...response, received: '10' }, /received "10" is not a non-negative integer/],
  ];
  for (const [name, value, reason] of refused) t.regex(validateRaftMessage(value, SELF, PEERS) as string, reason, name);
});

test('decodeRaftBatch refuses garbage whole, or message by message, and keeps the good ones', (t) => {
  const notBytes: unknown[] = [undefined, null, 'text', 42, {}, [1, 2], new ArrayBuffer(4), new Uint16Array(4)];
  for (const value of notBytes) {
    const decoded = decodeRaftBatch(value, SELF, PEERS);
    t.is(decoded.malformed, 1);
    t.deepEqual(decoded.messages, []);
    t.is(decoded.reasons.length, 1);
  }
  const encoded = encodeRaftBatch(samples);
  for (const broken of [new Uint8Array(0), encoded.subarray(0, encoded.length - 1), bytes(0xc1)]) {
    t.is(decodeRaftBatch(broken, SELF, PEERS).malformed, 1);
  }
  t.regex(
    decodeRaftBatch(Uint8Array.from(pack([WIRE_FORMAT_VERSION + 1, []])), SELF, PEERS).reasons[0] ?? '',
    /wire format/,
  );
  // A batch with one good message between bad ones.
  const good = samples[6] as Message;
  const goodTuple = [6, good.term, good.from, good.to, 0];
  const mixed = Uint8Array.from(
    pack([WIRE_FORMAT_VERSION, [[99, 1, 1, SELF], goodTuple, [6, 1, 1, SELF], 'junk', [6, 1, 1, 7, 0]]]),
  );
  const decoded = decodeRaftBatch(mixed, SELF, PEERS);
  t.deepEqual(decoded.messages, [good]);
  t.is(decoded.malformed, 4);
  t.is(decoded.reasons.length, 4);
});

test('an AppendEntries whose entries header counts more items than there are bytes is refused at once, both paths alike', (t) => {
  // From the KV audit (thirtieth session): the fast path made an array for the header's
  // count before reading an entry: a 19-byte message counting 2^25 - 1 entries cost seconds
  // and hundreds of MB of a node's thread. Each item takes a byte at least.
  const message: Message = { type: MessageType.AppendEntries, term: 3, from: 1, to: SELF, prevLogIndex: 5, prevLogTerm: 2, leaderCommit: 4, entries: [{ index: 6, term: 3, data: bytes(0xaa) }] };
  const encoded = encodeRaftBatch([message]);
  const at = encoded.length - 6; // the entries' fixarray(3): [6, 3, bin8 of 1 byte]
  t.deepEqual([...encoded.subarray(at)], [0x93, 6, 3, 0xc4, 1, 0xaa]);
  const count = 3 * (2 ** 25 - 1); // the most entries V8 still makes an array of at once
  const lying = Uint8Array.from([...encoded.subarray(0, at), 0xdd, count >>> 24, (count >>> 16) & 0xff, (count >>> 8) & 0xff, count & 0xff, 6, 3, 0xc0]);
  const started = performance.now();
  for (let i = 0; i < 4; i++) {
    const fast = decodeRaftBatch(lying, SELF, PEERS);
    t.is(fast.malformed, 1);
    t.deepEqual(fast.messages, []);
    t.deepEqual(fast, decodeRaftBatchWithMsgpackr(lying, SELF, PEERS));
  }
  const elapsedMs = performance.now() - started;
  t.true(elapsedMs < 1000, `four refusals took ${Math.round(elapsedMs)} ms`);
  t.deepEqual(decodeRaftBatch(encoded, SELF, PEERS).messages, [message], 'the honest message still decodes');
});

test('at most MAX_REASONS_PER_BATCH reasons are kept, the count stays exact', (t) => {
  const junk = Uint8Array.from(pack([WIRE_FORMAT_VERSION, new Array(50).fill('junk')]));
  const decoded = decodeRaftBatch(junk, SELF, PEERS);
  t.is(decoded.malformed, 50);
  t.is(decoded.reasons.length, 8);
});

/** Independent re-check of a decoded message: what the protocol core relies on. */
function invariantViolation(message: Message): string | null {
  const isIndex = (value: unknown): boolean => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  if (!Object.values(MessageType).includes(message.type)) return 'bad type';
  if (!isIndex(message.term) || message.to !== SELF || message.from === SELF || !PEERS.includes(message.from)) {
    return 'bad header';
  }
  if (message.type === MessageType.InstallSnapshot) {
    if (!(message.data instanceof Uint8Array)) return 'bad snapshot data';
    if (message.lastIncludedIndex < 1 || message.lastIncludedTerm < 1 || message.lastIncludedTerm > message.term) return 'bad snapshot position';
    if (!isIndex(message.offset) || !isIndex(message.offset + message.data.byteLength)) return 'bad snapshot chunk offset';
    if (!isIndex(message.totalBytes) || message.totalBytes > 2 ** 32 || message.offset + message.data.byteLength > message.totalBytes) return 'bad snapshot size';
    if (typeof message.done !== 'boolean' || message.done !== (message.offset + message.data.byteLength === message.totalBytes)) return 'bad snapshot chunk done';
    if (!isValidMembership(message.membership)) return 'bad snapshot membership';
  }
  for (const [field, value] of Object.entries(message)) {
    if (field === 'type' || field === 'entries' || field === 'data' || field === 'membership') continue;
    if (typeof value !== 'boolean' && !isIndex(value)) return `bad field ${field}`;
  }
  if (message.type === MessageType.AppendEntries) {
    let previousTerm = message.prevLogTerm;
    for (const [i, entry] of message.entries.entries()) {
      if (entry.index !== message.prevLogIndex + 1 + i) return 'bad entry index';
      if (!isIndex(entry.term) || entry.term < previousTerm || entry.term > message.term) return 'bad entry term';
      if (entry.data !== null && !(entry.data instanceof Uint8Array)) return 'bad entry data';
      if ('membership' in entry && (entry.data !== null || !isValidMembership(entry.membership))) return 'bad configuration entry';
      previousTerm = entry.term;
    }
  }
  return null;
}

/** A configuration as the core needs it, checked without the codec's code: two sorted, disjoint lists of positive ids, each id once. */
function isValidMembership(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const { voters, learners } = value as { voters?: unknown; learners?: unknown };
  if (!Array.isArray(voters) || !Array.isArray(learners)) return false;
  const ids = [...voters, ...learners];
  if (!ids.every((id) => typeof id === 'number' && Number.isSafeInteger(id) && id > 0)) return false;
  const sorted = (list: number[]): boolean => list.every((id, i) => i === 0 || id > list[i - 1]!);
  return sorted(voters as number[]) && sorted(learners as number[]) && new Set(ids).size === ids.length;
}

/** Decodes fuzzed bytes: a throw or an accepted message that breaks an invariant fails
 *  the test (returns null); otherwise the decoded batch. `where` names the case, built
 *  only on failure. */
function decodeChecked(t: ExecutionContext, input: Uint8Array, where: () => string): DecodedBatch | null {
  let result: ReturnType<typeof decodeRaftBatch>;
  try {
    result = decodeRaftBatch(input, SELF, PEERS);
  } catch (error) {
    t.fail(`${where()}: decode threw ${String(error)}`);
    return null;
  }
  for (const message of result.messages) {
    const violation = invariantViolation(message);
    if (violation !== null) {
      t.fail(`${where()}: ${violation} in ${JSON.stringify(message)}`);
      return null;
    }
  }
  return result;
}

test('fuzz: random garbage and mutated valid batches never throw and never yield an invalid message', (t) => {
  const seed = testSeed('CODEC_TEST_SEED');
  const random = createPrng(seed);
  const valid = encodeRaftBatch(samples.filter((message) => message.type !== MessageType.AppendEntries || message.entries.length < 4));
  const validTuples = [samples[0], samples[1], samples[4], samples[6]].map((message) =>
    encodeRaftBatch([message as Message]),
  );
  const iterations = 20_000;
  let decodedMessages = 0;
  for (let iteration = 0; iteration < iterations; iteration++) {
    let input: Uint8Array;
    const mode = random();
    if (mode < 0.2) {
      input = new Uint8Array(Math.floor(random() * 64));
      for (let i = 0; i < input.length; i++) input[i] = Math.floor(random() * 256);
    } else {
      const base = mode < 0.6 ? valid : (validTuples[Math.floor(random() * validTuples.length)] as Uint8Array);
      input = Uint8Array.from(base);
      const mutations = 1 + Math.floor(random() * 4);
      for (let m = 0; m < mutations; m++) {
        const kind = random();
        const at = Math.floor(random() * input.length);
        if (kind < 0.6) input[at] = Math.floor(random() * 256);
        else if (kind < 0.8) input = input.subarray(0, at);
        else {
          const grown = new Uint8Array(input.length + 1);
          grown.set(input.subarray(0, at));
          grown[at] = Math.floor(random() * 256);
          grown.set(input.subarray(at), at + 1);
          input = grown;
        }
      }
    }
    const result = decodeChecked(t, input, () => `seed ${seed} iteration ${iteration}`);
    if (result === null) return;
    decodedMessages += result.messages.length;
  }
  t.log(`seed ${seed}: ${iterations} inputs, ${decodedMessages} messages accepted`);
  t.true(decodedMessages > 0, `seed ${seed}: some mutated batches should still carry valid messages`);
});

test('fuzz: valid tuples with one field replaced by a random value are refused or still valid', (t) => {
  const seed = testSeed('CODEC_TEST_SEED') + 7;
  const random = createPrng(seed);
  const junk: unknown[] = [
    -1, 0, 1, 2, 3, 5, 1.5, Number.NaN, 2 ** 53, 2 ** 64, -(2 ** 40), 2n ** 60n, -(2n ** 60n), '', '3', true, false, null,
    [], [1], {}, { index: 1 }, new Uint8Array([1]), SELF, 99, 'AppendEntries',
  ];
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const baseTuples = samples
    .filter((message) => message.type !== MessageType.AppendEntries || message.entries.length < 4)
    .map((message) => (batchTuples(encodeRaftBatch([message])) as unknown[][])[0] as unknown[]);
  let accepted = 0;
  for (let iteration = 0; iteration < 5000; iteration++) {
    const tuple = structuredClone(pick(baseTuples));
    const at = Math.floor(random() * tuple.length);
    const field = tuple[at];
    if (Array.isArray(field) && field.length > 0 && random() < 0.7) field[Math.floor(random() * field.length)] = pick(junk);
    else tuple[at] = pick(junk);
    const encoded = Uint8Array.from(pack([WIRE_FORMAT_VERSION, [tuple]]));
    const result = decodeChecked(t, encoded, () => `seed ${seed} iteration ${iteration}, tuple ${String(tuple)}`);
    if (result === null) return;
    accepted += result.messages.length;
    if (result.messages.length + result.malformed !== 1) {
      t.fail(`seed ${seed} iteration ${iteration}: one tuple must give one message or one refusal`);
      return;
    }
  }
  t.log(`seed ${seed}: 5000 mutated tuples, ${accepted} still valid`);
  t.true(accepted < 5000, `seed ${seed}`);
});

function batchTuples(encoded: Uint8Array): unknown {
  const decoded = unpack(encoded) as unknown[];
  return decoded[1];
}

test('throughput: encode+decode of 1000 AppendEntries entries of 128 bytes (printed, not asserted)', (t) => {
  const entryCount = 1000;
  const entryBytes = 128;
  const entries: Entry[] = [];
  for (let i = 0; i < entryCount; i++) {
    entries.push({ index: 101 + i, term: 3, data: new Uint8Array(entryBytes).fill(i & 0xff) });
  }
  const batch: Message[] = [
    {
      type: MessageType.AppendEntries,
      term: 3,
      from: 1,
      to: SELF,
      prevLogIndex: 100,
      prevLogTerm: 3,
      entries,
      leaderCommit: 100,
    },
  ];
  const rounds = 200;
  let encodedBytes = 0;
  let decodedEntries = 0;
  const started = performance.now();
  for (let round = 0; round < rounds; round++) {
    const encoded = encodeRaftBatch(batch);
    encodedBytes = encoded.length;
    const decoded = decodeRaftBatch(encoded, SELF, PEERS).messages[0];
    if (decoded?.type === MessageType.AppendEntries) decodedEntries += decoded.entries.length;
  }
  const elapsedMs = performance.now() - started;
  t.is(decodedEntries, rounds * entryCount);
  const perBatchMs = elapsedMs / rounds;
  t.log(
    `batch of ${entryCount} × ${entryBytes} B entries = ${encodedBytes} B on the wire; ` +
      `encode+decode ${perBatchMs.toFixed(3)} ms per batch, ` +
      `${Math.round((entryCount * rounds) / (elapsedMs / 1000)).toLocaleString('en')} entries/s, ` +
      `${((encodedBytes * rounds) / (elapsedMs / 1000) / 2 ** 20).toFixed(0)} MiB/s`,
  );
});

test('fuzz: the hand-read fast path decodes mutated batches exactly as the msgpackr path does (seeded)', (t) => {
  const seed = testSeed('CODEC_TEST_SEED');
  const random = createPrng(seed);
  const valid = encodeRaftBatch(samples);
  let agreed = 0;
  for (let i = 0; i < 5000; i++) {
    const input = valid.slice();
    const flips = Math.floor(random() * 3);
    for (let f = 0; f < flips; f++) input[Math.floor(random() * input.length)] = Math.floor(random() * 256);
    const fast = decodeRaftBatch(input, SELF, PEERS);
    const general = decodeRaftBatchWithMsgpackr(input.slice(), SELF, PEERS);
    try {
      t.deepEqual(
        { ...fast, messages: fast.messages.map(comparable) },
        { ...general, messages: general.messages.map(comparable) },
      );
    } catch (error) {
      t.fail(`seed ${seed} case ${i}: ${String(error)}`);
      return;
    }
    if (fast.messages.length > 0) agreed++;
  }
  t.true(agreed > 1000, `seed ${seed}: only ${agreed} batches kept a message`);
  t.log(`seed ${seed}: 5000 mutated batches decoded alike by both paths (${agreed} with messages)`);
});

/** Entry data and snapshot data as base64 text, so views into different buffers compare by content (and cheaply). */
function comparable(message: Message): unknown {
  const text = (data: Uint8Array): string => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
  if (message.type === MessageType.AppendEntries) return { ...message, entries: message.entries.map((entry) => ({ ...entry, data: entry.data === null ? null : text(entry.data) })) };
  if (message.type === MessageType.InstallSnapshot) return { ...message, data: text(message.data) };
  return message;
}
