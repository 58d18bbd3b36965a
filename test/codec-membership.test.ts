// Configurations on the wire (thesis §4): a configuration entry carries its [voters,
// learners] in the entry's data slot, an InstallSnapshot the configuration at its last
// included index. Both decode paths (the hand-read one and msgpackr's) must give the same
// messages, refuse the same malformed configurations with a reason, and never throw.

import test from 'ava';
import { pack } from 'msgpackr';
import { InvariantViolation } from '../lib/raft/assert.js';
import { MessageType, type AppendEntries, type Entry, type InstallSnapshot, type Membership, type Message, type NodeId } from '../lib/raft/types.js';
import { decodeRaftBatch, decodeRaftBatchWithMsgpackr, encodeRaftBatch, validateRaftMessage, WIRE_FORMAT_VERSION, type DecodedBatch } from '../lib/transport/codec.js';
import { createPrng, testSeed } from './helpers/seed.js';

const SELF: NodeId = 2;
const PEERS: readonly NodeId[] = [1, 2, 3, 4, 5];

const bothPaths = [
  { name: 'hand-read path', decode: decodeRaftBatch },
  { name: 'msgpackr path', decode: decodeRaftBatchWithMsgpackr },
] as const;

function appendEntries(entries: readonly Entry[], prevLogIndex = 40): AppendEntries {
  return { type: MessageType.AppendEntries, term: 6, from: 1, to: SELF, prevLogIndex, prevLogTerm: 5, entries, leaderCommit: prevLogIndex };
}

function installSnapshot(membership: Membership): InstallSnapshot {
  return { type: MessageType.InstallSnapshot, term: 6, from: 3, to: SELF, lastIncludedIndex: 90, lastIncludedTerm: 5, offset: 6, totalBytes: 10, data: Uint8Array.from([1, 2, 3]), done: false, membership };
}

/** Commands, no-ops and configuration entries mixed (one with no learners, one with a large id). */
const mixedEntries: readonly Entry[] = [
  { index: 41, term: 5, data: Uint8Array.from([7, 7]) },
  { index: 42, term: 6, data: null },
  { index: 43, term: 6, data: null, membership: { voters: [1, 2, 3], learners: [4] } },
  { index: 44, term: 6, data: new Uint8Array(0) },
  { index: 45, term: 6, data: null, membership: { voters: [1, 2, 3, 4], learners: [] } },
  { index: 46, term: 6, data: null, membership: { voters: [], learners: [2 ** 40] } },
  // Joint consensus (thesis §4.3): the outgoing voters as a third list (3 being demoted: outgoing voter and learner).
  { index: 47, term: 6, data: null, membership: { voters: [1, 4, 5], learners: [2, 3], outgoing: [1, 3, 5] } },
];

/** A batch of one AppendEntries whose only entry (index 41, term 6) has `slot` as its data slot, built by msgpackr. */
function entryWithSlot(slot: unknown): Uint8Array {
  return Uint8Array.from(pack([WIRE_FORMAT_VERSION, [[3, 6, 1, SELF, 40, 5, 40, [41, 6, slot]]]]));
}

/** A batch of one InstallSnapshot (its last chunk, at offset 0) whose membership field is `field`, built by msgpackr. */
function snapshotWithMembership(field: unknown): Uint8Array {
  return Uint8Array.from(pack([WIRE_FORMAT_VERSION, [[8, 6, 3, SELF, 90, 5, 0, 1, Uint8Array.from([1]), true, field]]]));
}

test('configuration entries round-trip on both decode paths; other entries keep their shape, without a membership key', (t) => {
  const message = appendEntries(mixedEntries);
  const encoded = encodeRaftBatch([message]);
  for (const { name, decode } of bothPaths) {
    const decoded = decode(encoded.slice(), SELF, PEERS);
    t.deepEqual(decoded.reasons, [], name);
    t.deepEqual(decoded.messages, [message], name);
    const entries = (decoded.messages[0] as AppendEntries).entries;
    t.deepEqual(entries.map((entry) => Object.keys(entry)), [
      ['index', 'term', 'data'],
      ['index', 'term', 'data'],
      ['index', 'term', 'data', 'membership'],
      ['index', 'term', 'data'],
      ['index', 'term', 'data', 'membership'],
      ['index', 'term', 'data', 'membership'],
      ['index', 'term', 'data', 'membership'],
    ], `${name}: only configuration entries have the key`);
    t.deepEqual(entries[6]!.membership, { voters: [1, 4, 5], learners: [2, 3], outgoing: [1, 3, 5] }, `${name}: a joint configuration keeps its outgoing voters (3 demoted to learner)`);
    t.false('outgoing' in entries[2]!.membership!, `${name}: a configuration that is not joint has no outgoing key`);
    t.is(entries[2]!.data, null, `${name}: a configuration entry has no data`);
    t.deepEqual(entries[2]!.membership, { voters: [1, 2, 3], learners: [4] }, name);
  }
});

test('a configuration is an array [voters, learners] in the data slot: the bytes msgpackr makes of the tuple', (t) => {
  const message = appendEntries(mixedEntries);
  const slot = (membership: Membership): unknown[] =>
    membership.outgoing === undefined ? [membership.voters, membership.learners] : [membership.voters, membership.learners, membership.outgoing];
  const flat = mixedEntries.flatMap((entry) => [entry.index, entry.term, entry.membership === undefined ? entry.data : slot(entry.membership)]);
  const tuple = [3, message.term, message.from, message.to, message.prevLogIndex, message.prevLogTerm, message.leaderCommit, flat];
  t.deepEqual([...encodeRaftBatch([message])], [...pack([WIRE_FORMAT_VERSION, [tuple]])]);
  // InstallSnapshot: the configuration follows the chunk (offset, totalBytes, data, done).
  const snapshot = installSnapshot({ voters: [1, 3], learners: [5] });
  const snapshotTuple = [8, snapshot.term, snapshot.from, snapshot.to, snapshot.lastIncludedIndex, snapshot.lastIncludedTerm, snapshot.offset, snapshot.totalBytes, snapshot.data, snapshot.done, [[1, 3], [5]]];
  t.deepEqual([...encodeRaftBatch([snapshot])], [...pack([WIRE_FORMAT_VERSION, [snapshotTuple]])]);
});

test('InstallSnapshot carries its membership on both decode paths and through validateRaftMessage, empty lists included', (t) => {
  const memberships: Membership[] = [
    { voters: [1, 2, 3], learners: [] },
    { voters: [1, 3, 5], learners: [2, 4] },
    { voters: [], learners: [] },
  ];
  for (const membership of memberships) {
    const message = installSnapshot(membership);
    for (const { name, decode } of bothPaths) {
      const decoded = decode(encodeRaftBatch([message]), SELF, PEERS);
      t.deepEqual(decoded.reasons, [], name);
      t.deepEqual(decoded.messages, [message], name);
    }
    const checked = validateRaftMessage(message, SELF, PEERS) as InstallSnapshot;
    t.deepEqual(checked, message);
    t.not(checked.membership, message.membership, 'a fresh configuration');
    t.not(checked.membership.voters, message.membership.voters, 'fresh lists');
  }
});

test('validateRaftMessage copies configuration entries and keeps other entries without the key', (t) => {
  const message = appendEntries(mixedEntries);
  const checked = validateRaftMessage(message, SELF, PEERS) as AppendEntries;
  t.deepEqual(checked, message);
  t.not(checked.entries[2], message.entries[2]);
  t.not(checked.entries[2]!.membership!.voters, message.entries[2]!.membership!.voters);
  t.false('membership' in checked.entries[0]!);
  // An explicit `membership: undefined` is no configuration: the copy drops the key.
  const loose = validateRaftMessage(appendEntries([{ index: 41, term: 6, data: null, membership: undefined } as unknown as Entry]), SELF, PEERS) as AppendEntries;
  t.deepEqual(Object.keys(loose.entries[0]!), ['index', 'term', 'data']);
});

/** Malformed [voters, learners] values and what the refusal must say. */
const malformedPairs: [string, unknown, RegExp][] = [
  ['voters unsorted', [[3, 1], []], /voters are not sorted ascending: 1 after 3/],
  ['learners unsorted', [[1], [5, 4]], /learners are not sorted ascending: 4 after 5/],
  ['a duplicate voter', [[1, 2, 2], []], /voters list node 2 twice/],
  ['a node both voter and learner', [[1, 3], [2, 3]], /node 3 is both a voter and a learner/],
  ['node id 0', [[0, 1], []], /voters\[0\] number 0 is not a positive integer/],
  ['a negative node id', [[1], [-4]], /learners\[0\] number -4 is not a positive integer/],
  ['a fractional node id', [[1.5], []], /voters\[0\] number 1.5 is not a positive integer/],
  ['an unsafe node id', [[2 ** 53], []], /is not a positive integer/],
  ['a string node id', [['1'], []], /voters\[0\] the string "1" is not a positive integer/],
  ['a nested list', [[1, [2]], []], /voters\[1\] an array of 1 is not a positive integer/],
  ['voters not an array', [5, []], /voters are number 5, not an array/],
  ['learners null', [[1], null], /learners are null, not an array/],
];

test('malformed configuration entries are refused with a reason by both decode paths, and the good messages stay', (t) => {
  const good: Message = { type: MessageType.HeartbeatResponse, term: 6, from: 3, to: SELF, context: 1 };
  const goodTuple = [6, 6, 3, SELF, 1];
  for (const [what, slot, reason] of malformedPairs) {
    const bytes = Uint8Array.from(pack([WIRE_FORMAT_VERSION, [[3, 6, 1, SELF, 40, 5, 40, [41, 6, slot]], goodTuple]]));
    for (const { name, decode } of bothPaths) {
      let decoded: DecodedBatch;
      try {
        decoded = decode(bytes.slice(), SELF, PEERS);
      } catch (error) {
        t.fail(`${what} (${name}): threw ${String(error)}`);
        continue;
      }
      t.is(decoded.malformed, 1, `${what} (${name})`);
      t.deepEqual(decoded.messages, [good], `${what} (${name})`);
      t.regex(decoded.reasons[0] ?? '', /^AppendEntries from 1: entry 41 membership /, `${what} (${name})`);
      t.regex(decoded.reasons[0] ?? '', reason, `${what} (${name})`);
    }
  }
  // Not a pair at all: refused as framing.
  for (const slot of [[[1], [2], [3], [4]], [[1]], []]) {
    for (const { name, decode } of bothPaths) {
      const decoded = decode(entryWithSlot(slot), SELF, PEERS);
      t.is(decoded.malformed, 1, name);
      t.regex(decoded.reasons[0] ?? '', /entry 0: configuration is an array of \d, not a \[voters, learners\] pair/, name);
    }
  }
});

test('a malformed InstallSnapshot membership is refused with a reason by both decode paths and validateRaftMessage', (t) => {
  for (const [what, field, reason] of malformedPairs) {
    for (const { name, decode } of bothPaths) {
      const decoded = decode(snapshotWithMembership(field), SELF, PEERS);
      t.is(decoded.malformed, 1, `${what} (${name})`);
      t.regex(decoded.reasons[0] ?? '', /^InstallSnapshot from 3: membership /, `${what} (${name})`);
      t.regex(decoded.reasons[0] ?? '', reason, `${what} (${name})`);
    }
  }
  for (const field of [null, 'voters', 7, [[1]], [[1], [2], [3], [4]], { voters: [1], learners: [] }]) {
    for (const { name, decode } of bothPaths) {
      const decoded = decode(snapshotWithMembership(field), SELF, PEERS);
      t.is(decoded.malformed, 1, `${JSON.stringify(field)} (${name})`);
      t.regex(decoded.reasons[0] ?? '', /InstallSnapshot membership is .*, not a \[voters, learners\] pair/, `${JSON.stringify(field)} (${name})`);
    }
  }
  const message = installSnapshot({ voters: [1, 2], learners: [] });
  const refused: [string, unknown, RegExp][] = [
    ['membership missing', { ...message, membership: undefined }, /membership is undefined, not \{ voters, learners \}/],
    ['membership a wire pair', { ...message, membership: [[1, 2], []] }, /membership is an array of 2, not \{ voters, learners \}/],
    ['voters unsorted', { ...message, membership: { voters: [2, 1], learners: [] } }, /voters are not sorted ascending/],
    ['learners missing', { ...message, membership: { voters: [1] } }, /learners are undefined, not an array/],
  ];
  for (const [what, value, reason] of refused) t.regex(validateRaftMessage(value, SELF, PEERS) as string, reason, what);
});

test('validateRaftMessage refuses a configuration entry that carries data, or a malformed one', (t) => {
  const withData = appendEntries([{ index: 41, term: 6, data: Uint8Array.from([1]), membership: { voters: [1], learners: [] } }]);
  t.regex(validateRaftMessage(withData, SELF, PEERS) as string, /entry 41 is a configuration entry with data/);
  for (const [what, pair, reason] of malformedPairs) {
    if (!Array.isArray(pair)) continue;
    const entry = { index: 41, term: 6, data: null, membership: { voters: pair[0], learners: pair[1] } };
    t.regex(validateRaftMessage(appendEntries([entry as unknown as Entry]), SELF, PEERS) as string, reason, what);
  }
  t.regex(validateRaftMessage(appendEntries([{ index: 41, term: 6, data: null, membership: 'all' } as unknown as Entry]), SELF, PEERS) as string, /entry 41 membership is the string "all", not \{ voters, learners \}/);
});

test('encoding a configuration entry that also carries data fails loudly instead of dropping either', (t) => {
  const entry = { index: 41, term: 6, data: Uint8Array.from([1]), membership: { voters: [1], learners: [] } };
  const error = t.throws(() => encodeRaftBatch([appendEntries([entry])]), { instanceOf: InvariantViolation });
  t.regex(error?.message ?? '', /configuration entry 41 also carries 1 bytes of data/);
});

test('fuzz: random configurations decode alike on both paths, and exactly the valid ones are accepted (seeded)', (t) => {
  const seed = testSeed('CODEC_TEST_SEED');
  const random = createPrng(seed);
  const items: unknown[] = [1, 2, 3, 4, 5, 6, 200, 70_000, 2 ** 40, 0, -1, 1.5, '2', true, null, [], 2 ** 53];
  const pick = (): unknown => items[Math.floor(random() * items.length)];
  const list = (): unknown[] => {
    // Mostly sorted lists of small ids (often valid), sometimes anything.
    if (random() < 0.6) {
      const ids = [...new Set(Array.from({ length: Math.floor(random() * 5) }, () => 1 + Math.floor(random() * 8)))];
      return ids.sort((a, b) => a - b);
    }
    return Array.from({ length: Math.floor(random() * 4) }, pick);
  };
  let accepted = 0;
  for (let i = 0; i < 3000; i++) {
    const voters = list();
    const learners = list();
    const bytes = random() < 0.5 ? entryWithSlot([voters, learners]) : snapshotWithMembership([voters, learners]);
    const fast = decodeRaftBatch(bytes.slice(), SELF, PEERS);
    const general = decodeRaftBatchWithMsgpackr(bytes.slice(), SELF, PEERS);
    const where = `seed ${seed} (CODEC_TEST_SEED) case ${i}: ${JSON.stringify([voters, learners])}`;
    try {
      t.deepEqual(fast, general, where);
    } catch (error) {
      t.fail(`${where}: ${String(error)}`);
      return;
    }
    const valid = isValid(voters) && isValid(learners) && new Set([...voters, ...learners]).size === voters.length + learners.length;
    if (fast.messages.length !== (valid ? 1 : 0)) {
      t.fail(`${where}: ${valid ? 'a valid configuration was refused' : 'an invalid configuration was accepted'} (${fast.reasons.join('; ')})`);
      return;
    }
    if (valid) accepted++;
  }
  t.true(accepted > 300 && accepted < 2700, `seed ${seed}: ${accepted} of 3000 valid`);
  t.log(`seed ${seed}: 3000 random configurations decoded alike by both paths (${accepted} valid)`);
});

/** Sorted ascending, each once, positive safe integers: checked without the codec's code. */
function isValid(list: unknown[]): boolean {
  return list.every((id, i) => typeof id === 'number' && Number.isSafeInteger(id) && id > 0 && (i === 0 || id > (list[i - 1] as number)));
}
