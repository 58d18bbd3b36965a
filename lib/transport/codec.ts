// Raft messages on the wire. A node sends everything for one peer in one turn as one
// batch: one msgpack value, posted as an exact-size buffer that is transferred, not
// copied. Decoding is the one checked gateway from the network into the protocol core:
// `unknown` in, fully validated Messages out, and garbage of any kind is refused with a
// reason, never thrown.
//
// Layout. Messages are msgpack arrays in a fixed field order ("tuples"), not maps.
// That is what msgpackr's records buy (field names not repeated per message) without
// their decoder state: record definitions travel inside messages, so an Unpackr that
// kept shared structures could be rewritten by a hostile or corrupted batch.
//   batch:   [WIRE_FORMAT_VERSION, [message, message, ...]]
//   message: [typeTag, term, from, to, ...fields in the order of FIELDS below]
//   AppendEntries entries: one flat array [index, term, data, index, term, data, ...],
//   data being msgpack bin (a command), nil (the leader's no-op) or, for a configuration
//   entry, the configuration as an array of two arrays [voters, learners]
//   (membership-wire.ts): whatever the slot holds says what the entry is.
//   InstallSnapshot: one chunk of the snapshot (Figure 13): its byte offset, its bytes as
//   msgpack bin, the done flag, then the configuration at lastIncludedIndex as
//   [voters, learners]. Its response: index, then the snapshot whose chunks are arriving
//   and how many of its bytes the follower holds.

import { Packr, Unpackr } from 'msgpackr';
import { MessageType, type AppendEntries, type Entry, type InstallSnapshot, type Message, type NodeId } from '../raft/types.js';
import { MsgpackWriter } from './msgpack-writer.js';
import { ScalarCursor } from '../kv/flat-tuple.js';
import { assert, assertNever } from '../raft/assert.js';
import { checkMembership, writeMembership } from './membership-wire.js';

/**
 * Bumped on any incompatible change of the layout below; a batch of another version is
 * refused whole. 2: configuration entries in the entry data slot, and InstallSnapshot's
 * membership field. 3: InstallSnapshot in chunks (Figure 13's offset and done), and its
 * response's snapshotIndex and received. 4: InstallSnapshot's totalBytes.
 */
export const WIRE_FORMAT_VERSION = 4;

/** At most this many refusal reasons are kept per batch (the count is always exact). */
export const MAX_REASONS_PER_BATCH = 8;

const TYPE_TAG = {
  [MessageType.RequestVote]: 1,
  [MessageType.RequestVoteResponse]: 2,
  [MessageType.AppendEntries]: 3,
  [MessageType.AppendEntriesResponse]: 4,
  [MessageType.Heartbeat]: 5,
  [MessageType.HeartbeatResponse]: 6,
  [MessageType.TimeoutNow]: 7,
  [MessageType.InstallSnapshot]: 8,
  [MessageType.InstallSnapshotResponse]: 9,
} as const satisfies Record<MessageType, number>;

const TYPE_BY_TAG: ReadonlyMap<number, MessageType> = new Map(
  Object.entries(TYPE_TAG).map(([type, tag]) => [tag, type as MessageType]),
);

/** Fields after the common header [tag, term, from, to], in wire order. */
const FIELDS = {
  [MessageType.RequestVote]: ['preVote', 'lastLogIndex', 'lastLogTerm', 'transfer'],
  [MessageType.RequestVoteResponse]: ['preVote', 'voteGranted'],
  [MessageType.AppendEntries]: ['prevLogIndex', 'prevLogTerm', 'leaderCommit', 'entries'],
  [MessageType.AppendEntriesResponse]: ['success', 'index', 'conflictTerm', 'conflictIndex'],
  [MessageType.Heartbeat]: ['leaderCommit', 'context'],
  [MessageType.HeartbeatResponse]: ['context'],
  [MessageType.TimeoutNow]: [],
  [MessageType.InstallSnapshot]: ['lastIncludedIndex', 'lastIncludedTerm', 'offset', 'totalBytes', 'data', 'done', 'membership'],
  [MessageType.InstallSnapshotResponse]: ['index', 'snapshotIndex', 'received'],
} as const satisfies Record<MessageType, readonly string[]>;

const HEADER_FIELD_COUNT = 4;

/**
 * The largest term a message may carry: 2^48. Terms grow by one per election (a
 * pre-vote round takes none), so no real cluster comes near it: an election every
 * millisecond for 8,900 years. Any safe integer was taken before, and one RequestVote at
 * 2^53 - 1 (from a member: the decoder cannot tell a lie) made every node adopt and
 * persist that term, after which no candidate could ever campaign (term + 1 is past the
 * safe integers, and its messages are refused): the cluster was unavailable for good. A
 * term at the bound leaves 2^53 - 2^48 increments of room; a message above it is refused
 * as malformed. Terms already on disk are not bound here: whatever a node persisted loads
 * as before, and every legitimate one is far below this.
 */
export const MAX_WIRE_TERM = 2 ** 48;

/**
 * The largest log index a message may carry (an entry's, or any field that names a
 * position in a log): 2^52. Appending ten million entries a second, a log reaches it
 * after 14 years; the 2^52 increments above it leave room for everything the protocol
 * adds to an index (index + 1, prevLogIndex + entries). Like a term, an absurd index is
 * one a node could otherwise adopt into its persistent state (a snapshot's
 * lastIncludedIndex becomes its log's base and its commit index) and never leave.
 */
export const MAX_WIRE_INDEX = 2 ** 52;

/** The largest snapshot a follower takes (InstallSnapshot.totalBytes): what one Uint8Array holds here (2^32 bytes in Node 20). */
const MAX_SNAPSHOT_BYTES = 2 ** 32;
const FIELDS_PER_WIRE_ENTRY = 3;

const packr = new Packr({ useRecords: false });
// Entry data come back as views into the received buffer, not copies: the buffer was
// transferred to us and nobody else writes it. (A copy per entry costs an ArrayBuffer
// allocation each; see the throughput test.) structuredClone off: no reference
// extensions from the wire.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, structuredClone: false });


/** The wire tuple of every message but AppendEntries and InstallSnapshot (writeAppendEntries and writeInstallSnapshot write those). */
function toTuple(message: Exclude<Message, AppendEntries | InstallSnapshot>): unknown[] {
  const header = [TYPE_TAG[message.type], message.term, message.from, message.to];
  switch (message.type) {
    case MessageType.RequestVote:
      return [...header, message.preVote, message.lastLogIndex, message.lastLogTerm, message.transfer];
    case MessageType.RequestVoteResponse:
      return [...header, message.preVote, message.voteGranted];
    case MessageType.AppendEntriesResponse:
      return [...header, message.success, message.index, message.conflictTerm, message.conflictIndex];
    case MessageType.Heartbeat:
      return [...header, message.leaderCommit, message.context];
    case MessageType.HeartbeatResponse:
      return [...header, message.context];
    case MessageType.TimeoutNow:
      return header;
    case MessageType.InstallSnapshotResponse:
      return [...header, message.index, message.snapshotIndex, message.received];
    default:
      return assertNever(message, 'message');
  }
}

/**
 * Encodes all messages to one peer in one turn as one batch. The result owns its
 * ArrayBuffer from byte 0, so its `.buffer` can be transferred (msgpackr's pack() returns
 * a view into a scratch buffer that the next pack() overwrites): an exact-size copy, or,
 * for a batch carrying snapshot chunks, the buffer it was written into, which may have a
 * little room left at its end.
 */
export function encodeRaftBatch(messages: readonly Message[]): Uint8Array {
  const room = snapshotBatchRoom(messages);
  if (room > 0) return encodeWithSnapshotChunks(messages, room);
  const out = batchWriter;
  out.reset();
  writeBatch(out, messages);
  return out.take();
}

function writeBatch(out: MsgpackWriter, messages: readonly Message[]): void {
  out.arrayHeader(2);
  out.uint(WIRE_FORMAT_VERSION);
  out.arrayHeader(messages.length);
  for (const message of messages) {
    if (message.type === MessageType.AppendEntries) writeAppendEntries(out, message);
    else if (message.type === MessageType.InstallSnapshot) writeInstallSnapshot(out, message);
    else out.raw(packr.pack(toTuple(message)));
  }
}

/** Room for a message beyond the bytes it carries (a chunk's header, a heartbeat), and for an entry beyond its data. */
const ROOM_PER_MESSAGE = 256;
const ROOM_PER_ENTRY = 32;

/** For a batch carrying snapshot chunks, room enough to write it (0: it carries none, the usual case, told by its messages' types alone). */
function snapshotBatchRoom(messages: readonly Message[]): number {
  let chunks = 0;
  for (let i = 0; i < messages.length; i++) if (messages[i]!.type === MessageType.InstallSnapshot) chunks++;
  if (chunks === 0) return 0;
  let room = ROOM_PER_MESSAGE;
  for (const message of messages) {
    room += ROOM_PER_MESSAGE;
    if (message.type === MessageType.InstallSnapshot) {
      room += message.data.byteLength;
    } else if (message.type === MessageType.AppendEntries) {
      for (const entry of message.entries) room += ROOM_PER_ENTRY + (entry.data?.byteLength ?? 0);
    }
  }
  return room;
}

/**
 * A batch carrying snapshot chunks (a leader sends up to maxSnapshotChunksInFlight of
 * 1 MiB at once), written into a buffer of its own, sized for it up front, and handed
 * over as it is. The shared writer would have grown to it by doubling (a copy at every
 * step), dropped it after (it keeps at most 4 MiB), and take() copied the batch once
 * more into fresh memory; msgpackr packed each chunk into its own scratch buffer before
 * that. Here each chunk's bytes are copied once. That path took 18-63 ms for a batch
 * of four 1 MiB chunks on an idle machine (this one 11.5 ms), and a leader's turns that
 * sent a 63 MB snapshot under load took 45-109 ms (lib/bench/README.md, "Sending a
 * snapshot").
 */
function encodeWithSnapshotChunks(messages: readonly Message[], room: number): Uint8Array {
  const out = new MsgpackWriter(room);
  writeBatch(out, messages);
  return out.release();
}

/** The tuple's array header and its first four fields, [tag, term, from, to], of a message written directly. */
function writeHeader(out: MsgpackWriter, type: typeof MessageType.AppendEntries | typeof MessageType.InstallSnapshot, message: AppendEntries | InstallSnapshot): void {
  out.arrayHeader(HEADER_FIELD_COUNT + FIELDS[type].length);
  out.uint(TYPE_TAG[type]);
  out.uint(message.term);
  out.uint(message.from);
  out.uint(message.to);
}

/** An InstallSnapshot's tuple, [...header, lastIncludedIndex, lastIncludedTerm, offset, totalBytes, data, done, membership], written directly (as msgpackr would write it). */
function writeInstallSnapshot(out: MsgpackWriter, message: InstallSnapshot): void {
  writeHeader(out, MessageType.InstallSnapshot, message);
  out.uint(message.lastIncludedIndex);
  out.uint(message.lastIncludedTerm);
  out.uint(message.offset);
  out.uint(message.totalBytes);
  out.bin(message.data);
  out.bool(message.done);
  writeMembership(out, message.membership);
}

/** An AppendEntries' tuple, [...header, prevLogIndex, prevLogTerm, leaderCommit,
 *  [index, term, data, ...]], written directly: the hot message. A configuration entry's
 *  data slot holds its [voters, learners]. */
function writeAppendEntries(out: MsgpackWriter, message: AppendEntries): void {
  writeHeader(out, MessageType.AppendEntries, message);
  out.uint(message.prevLogIndex);
  out.uint(message.prevLogTerm);
  out.uint(message.leaderCommit);
  out.arrayHeader(message.entries.length * FIELDS_PER_WIRE_ENTRY);
  for (const entry of message.entries) {
    out.uint(entry.index);
    out.uint(entry.term);
    if (entry.membership !== undefined) writeConfigurationEntry(out, entry);
    else if (entry.data === null) out.nil();
    else out.bin(entry.data);
  }
}

/** A configuration entry's data slot. Out of line: rare, and its message built only on failure. */
function writeConfigurationEntry(out: MsgpackWriter, entry: Entry): void {
  // The slot holds data or a configuration, never both: the data would be lost.
  assert(entry.data === null, () => `encode: configuration entry ${entry.index} also carries ${entry.data?.byteLength} bytes of data`);
  writeMembership(out, entry.membership!);
}

const batchWriter = new MsgpackWriter(64 * 1024);

export interface DecodedBatch {
  /** The messages that passed validation, in the order sent. */
  messages: Message[];
  /** How many messages were refused (a batch refused whole counts as one). */
  malformed: number;
  /** Why, for the first MAX_REASONS_PER_BATCH refusals. */
  reasons: string[];
}

/**
 * Decodes a batch received from the network: anything at all in, validated messages out.
 * Undecodable input is refused whole; inside a decodable batch each message is checked
 * on its own, so one bad message does not cost the good ones. Never throws.
 */
export function decodeRaftBatch(bytes: unknown, self: NodeId, peers: readonly NodeId[]): DecodedBatch {
  const fast = bytes instanceof Uint8Array ? readRaftBatch(bytes) : null;
  if (fast === null) return decodeRaftBatchWithMsgpackr(bytes, self, peers);
  const result: DecodedBatch = { messages: [], malformed: 0, reasons: [] };
  for (const candidate of fast) {
    const checked = checkMessage(candidate, self, peers, false);
    if (typeof checked !== 'string') {
      result.messages.push(checked);
      continue;
    }
    result.malformed++;
    if (result.reasons.length < MAX_REASONS_PER_BATCH) result.reasons.push(checked);
  }
  return result;
}

/**
 * The framing of a well-formed batch read by hand (every field a scalar, entry data and
 * snapshot data bin or nil, a configuration two arrays of scalars), giving the candidates
 * fromTuple would give; null sends the batch to msgpackr and fromTuple, which also say
 * what is wrong with it. What the candidates contain is checked by checkMessage either way.
 */
function readRaftBatch(bytes: Uint8Array): Record<string, unknown>[] | null {
  const cursor = new ScalarCursor(bytes);
  if (cursor.arrayHeader() !== 2 || !cursor.scalar() || cursor.value !== WIRE_FORMAT_VERSION) return null;
  const count = cursor.arrayHeader();
  if (count < 0) return null;
  const candidates: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const size = cursor.arrayHeader();
    if (size < HEADER_FIELD_COUNT || !cursor.scalar()) return null;
    const type = TYPE_BY_TAG.get(cursor.value as number);
    if (type === undefined) return null;
    const fields: readonly string[] = FIELDS[type];
    if (size !== HEADER_FIELD_COUNT + fields.length) return null;
    if (!cursor.scalar()) return null;
    const term = cursor.value;
    if (!cursor.scalar()) return null;
    const from = cursor.value;
    if (!cursor.scalar()) return null;
    const candidate: Record<string, unknown> = { type, term, from, to: cursor.value };
    for (const field of fields) {
      if (field === 'entries') {
        const entries = readEntries(cursor);
        if (entries === null) return null;
        candidate[field] = entries;
      } else if (field === 'data') {
        const data = cursor.bin();
        if (data === null) return null;
        candidate[field] = data;
      } else if (field === 'membership') {
        const membership = readMembershipCandidate(cursor);
        if (membership === null) return null;
        candidate[field] = membership;
      } else {
        if (!cursor.scalar()) return null;
        candidate[field] = cursor.value;
      }
    }
    candidates.push(candidate);
  }
  return cursor.atEnd() ? candidates : null;
}

/** AppendEntries' flat [index, term, data, ...] array as entry candidates, or null. */
function readEntries(cursor: ScalarCursor): Record<string, unknown>[] | null {
  const flatLength = cursor.arrayHeader();
  // Each item takes a byte at least: a longer header is a lie, and no array is made for it
  // (a 19-byte AppendEntries counting 2^24 entries cost 2.6 s and 133 MB here).
  if (flatLength < 0 || flatLength % FIELDS_PER_WIRE_ENTRY !== 0 || flatLength > cursor.bytes.length - cursor.at) return null;
  const entries = new Array<Record<string, unknown>>(flatLength / FIELDS_PER_WIRE_ENTRY);
  for (let i = 0; i < entries.length; i++) {
    if (!cursor.scalar()) return null;
    const index = cursor.value;
    if (!cursor.scalar()) return null;
    const term = cursor.value;
    const head = cursor.bytes[cursor.at];
    if (head === NIL) {
      cursor.at++;
      entries[i] = { index, term, data: null };
    } else if (head !== undefined && ((head >= FIXARRAY_MIN && head <= FIXARRAY_MAX) || head === ARRAY16 || head === ARRAY32)) {
      const membership = readMembershipCandidate(cursor);
      if (membership === null) return null;
      entries[i] = { index, term, data: null, membership };
    } else {
      const data = cursor.bin();
      if (data === null) return null;
      entries[i] = { index, term, data };
    }
  }
  return entries;
}

/**
 * A configuration [voters, learners] as the candidate fromTuple makes of it, { voters,
 * learners }, with whatever scalars the lists hold (checkMessage checks them); null when
 * it is not two arrays of scalars.
 */
function readMembershipCandidate(cursor: ScalarCursor): { voters: unknown[]; learners: unknown[]; outgoing?: unknown[] } | null {
  const lists = cursor.arrayHeader();
  if (lists !== 2 && lists !== 3) return null;
  const voters = readScalarList(cursor);
  if (voters === null) return null;
  const learners = readScalarList(cursor);
  if (learners === null) return null;
  if (lists === 2) return { voters, learners };
  const outgoing = readScalarList(cursor);
  if (outgoing === null) return null;
  return { voters, learners, outgoing };
}

function readScalarList(cursor: ScalarCursor): unknown[] | null {
  const length = cursor.arrayHeader();
  // Each item takes at least a byte: a longer header is a lie (and no allocation for it).
  if (length < 0 || length > cursor.bytes.length - cursor.at) return null;
  const list = new Array<unknown>(length);
  for (let i = 0; i < length; i++) {
    if (!cursor.scalar()) return null;
    list[i] = cursor.value;
  }
  return list;
}

const NIL = 0xc0;
const FIXARRAY_MIN = 0x90;
const FIXARRAY_MAX = 0x9f;
const ARRAY16 = 0xdc;
const ARRAY32 = 0xdd;

/** decodeRaftBatch without the hand-read fast path (exported for the test that compares the two). */
export function decodeRaftBatchWithMsgpackr(bytes: unknown, self: NodeId, peers: readonly NodeId[]): DecodedBatch {
  const result: DecodedBatch = { messages: [], malformed: 0, reasons: [] };
  const refuse = (reason: string): void => {
    result.malformed++;
    if (result.reasons.length < MAX_REASONS_PER_BATCH) result.reasons.push(reason);
  };
  if (!(bytes instanceof Uint8Array)) {
    refuse(`batch is not bytes but ${describeType(bytes)}`);
    return result;
  }
  let decoded: unknown;
  try {
    // A fresh view: msgpackr caches a DataView on whatever object it is handed.
    decoded = unpackr.unpack(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    refuse(`batch of ${bytes.length} bytes is not msgpack (${error instanceof Error ? error.message : String(error)})`);
    return result;
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) {
    refuse('batch is not a [version, messages] pair');
    return result;
  }
  if (decoded[0] !== WIRE_FORMAT_VERSION) {
    refuse(`batch has wire format ${String(decoded[0])}, expected ${WIRE_FORMAT_VERSION}`);
    return result;
  }
  const tuples: unknown = decoded[1];
  if (!Array.isArray(tuples)) {
    refuse('batch messages are not an array');
    return result;
  }
  for (const tuple of tuples) {
    const candidate = fromTuple(tuple);
    const checked = typeof candidate === 'string' ? candidate : checkMessage(candidate, self, peers, false);
    if (typeof checked === 'string') refuse(checked);
    else result.messages.push(checked);
  }
  return result;
}

/**
 * Maps a wire tuple to a message-shaped object, checking only the framing (tag and
 * field count, a configuration being a [voters, learners] pair); checkMessage checks the
 * contents. Entries become Entry objects, configurations { voters, learners } objects.
 */
function fromTuple(tuple: unknown): Record<string, unknown> | string {
  if (!Array.isArray(tuple)) return `message is ${describeType(tuple)}, not a tuple`;
  const type = TYPE_BY_TAG.get(tuple[0] as number);
  if (type === undefined) return `unknown message type tag ${describeValue(tuple[0])}`;
  const fields = FIELDS[type];
  if (tuple.length !== HEADER_FIELD_COUNT + fields.length) {
    return `${type} has ${tuple.length} fields, expected ${HEADER_FIELD_COUNT + fields.length}`;
  }
  const candidate: Record<string, unknown> = { type, term: tuple[1], from: tuple[2], to: tuple[3] };
  fields.forEach((field, i) => {
    candidate[field] = tuple[HEADER_FIELD_COUNT + i];
  });
  if (type === MessageType.AppendEntries) {
    const flat: unknown = candidate['entries'];
    if (!Array.isArray(flat) || flat.length % FIELDS_PER_WIRE_ENTRY !== 0) {
      return 'AppendEntries entries are not a flat [index, term, data] array';
    }
    const entries = new Array<Record<string, unknown>>(flat.length / FIELDS_PER_WIRE_ENTRY);
    for (let i = 0, position = 0; i < entries.length; i++, position += FIELDS_PER_WIRE_ENTRY) {
      const data: unknown = flat[position + 2];
      if (!Array.isArray(data)) {
        entries[i] = { index: flat[position], term: flat[position + 1], data };
        continue;
      }
      const membership = pairCandidate(data);
      if (membership === null) return `AppendEntries entry ${i}: configuration is an array of ${data.length}, not a [voters, learners] pair`;
      entries[i] = { index: flat[position], term: flat[position + 1], data: null, membership };
    }
    candidate['entries'] = entries;
  }
  if (type === MessageType.InstallSnapshot) {
    const pair: unknown = candidate['membership'];
    const membership = Array.isArray(pair) ? pairCandidate(pair) : null;
    if (membership === null) return `InstallSnapshot membership is ${describeType(pair)}, not a [voters, learners] pair`;
    candidate['membership'] = membership;
  }
  return candidate;
}

/** A [voters, learners] pair as the candidate { voters, learners }, or null if it is not a pair. */
function pairCandidate(pair: unknown[]): { voters: unknown; learners: unknown; outgoing?: unknown } | null {
  if (pair.length === 2) return { voters: pair[0], learners: pair[1] };
  return pair.length === 3 ? { voters: pair[0], learners: pair[1], outgoing: pair[2] } : null;
}

/**
 * Validates one message-shaped value and returns a fresh Message holding exactly the
 * fields of its type, or a string saying why it was refused. Never throws.
 */
export function validateRaftMessage(value: unknown, self: NodeId, peers: readonly NodeId[]): Message | string {
  try {
    return checkMessage(value, self, peers, true);
  } catch (error) {
    // Only a getter or proxy of a caller's object can throw in here.
    return `message could not be read (${error instanceof Error ? error.message : String(error)})`;
  }
}

function isNonNegativeSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The checks. With `copy` false the candidate (built by fromTuple, owned by us) is
 * returned as the message itself once it passes; with `copy` true a fresh object is built.
 */
function checkMessage(value: unknown, self: NodeId, peers: readonly NodeId[], copy: boolean): Message | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `message is ${describeType(value)}, not an object`;
  }
  const candidate = value as Record<string, unknown>;
  const type = candidate['type'];
  if (typeof type !== 'string' || !Object.hasOwn(TYPE_TAG, type)) return `unknown message type ${describeValue(type)}`;
  const messageType = type as MessageType;
  const { term, from, to } = candidate;
  if (!isNonNegativeSafeInteger(term)) return `${messageType}: term ${describeValue(term)} is not a non-negative integer`;
  if (term > MAX_WIRE_TERM) return `${messageType}: term ${term} is above the largest term, ${MAX_WIRE_TERM}`;
  if (typeof from !== 'number' || !peers.includes(from)) return `${messageType}: from ${describeValue(from)} is not a peer`;
  if (from === self) return `${messageType}: from is this node itself (${self})`;
  if (to !== self) return `${messageType}: to ${describeValue(to)} is not this node (${self})`;

  const problem = (field: string, what: string): string =>
    `${messageType} from ${from}: ${field} ${describeValue(candidate[field])} ${what}`;
  const integer = (field: string): number | string => {
    const fieldValue = candidate[field];
    return isNonNegativeSafeInteger(fieldValue) ? fieldValue : problem(field, 'is not a non-negative integer');
  };
  /** A position in a log (MAX_WIRE_INDEX). The other fields that hold terms are bounded by the message's term. */
  const logIndex = (field: string): number | string => {
    const fieldValue = integer(field);
    if (typeof fieldValue === 'string' || fieldValue <= MAX_WIRE_INDEX) return fieldValue;
    return problem(field, `is above the largest log index, ${MAX_WIRE_INDEX}`);
  };
  const boolean = (field: string): boolean | string => {
    const fieldValue = candidate[field];
    return typeof fieldValue === 'boolean' ? fieldValue : problem(field, 'is not a boolean');
  };

  switch (messageType) {
    case MessageType.RequestVote: {
      const preVote = boolean('preVote');
      const lastLogIndex = logIndex('lastLogIndex');
      const lastLogTerm = integer('lastLogTerm');
      const transfer = boolean('transfer');
      if (typeof preVote === 'string') return preVote;
      if (typeof lastLogIndex === 'string') return lastLogIndex;
      if (typeof lastLogTerm === 'string') return lastLogTerm;
      if (typeof transfer === 'string') return transfer;
      // A candidate's last entry was written in a term no later than the one it campaigns in.
      if (lastLogTerm > term) return problem('lastLogTerm', `is above the message term ${term}`);
      if (lastLogIndex === 0 && lastLogTerm !== 0) return problem('lastLogTerm', 'must be 0 for an empty log');
      if (!copy) return candidate as unknown as Message;
      return { type: messageType, term, from, to, preVote, lastLogIndex, lastLogTerm, transfer };
    }
    case MessageType.RequestVoteResponse: {
      const preVote = boolean('preVote');
      const voteGranted = boolean('voteGranted');
      if (typeof preVote === 'string') return preVote;
      if (typeof voteGranted === 'string') return voteGranted;
      if (!copy) return candidate as unknown as Message;
      return { type: messageType, term, from, to, preVote, voteGranted };
    }
    case MessageType.AppendEntries: {
      const prevLogIndex = logIndex('prevLogIndex');
      const prevLogTerm = integer('prevLogTerm');
      const leaderCommit = logIndex('leaderCommit');
      if (typeof prevLogIndex === 'string') return prevLogIndex;
      if (typeof prevLogTerm === 'string') return prevLogTerm;
      if (typeof leaderCommit === 'string') return leaderCommit;
      if (prevLogIndex === 0 && prevLogTerm !== 0) return problem('prevLogTerm', 'must be 0 before the first entry');
      if (prevLogTerm > term) return problem('prevLogTerm', `is above the message term ${term}`);
      const entries = checkEntries(candidate['entries'], prevLogIndex, prevLogTerm, term, copy);
      if (typeof entries === 'string') return `${messageType} from ${from}: ${entries}`;
      if (!copy) return candidate as unknown as Message;
      return { type: messageType, term, from, to, prevLogIndex, prevLogTerm, entries, leaderCommit };
    }
    case MessageType.AppendEntriesResponse: {
      const success = boolean('success');
      const index = logIndex('index');
      const conflictTerm = integer('conflictTerm');
      const conflictIndex = logIndex('conflictIndex');
      if (typeof success === 'string') return success;
      if (typeof index === 'string') return index;
      if (typeof conflictTerm === 'string') return conflictTerm;
      if (typeof conflictIndex === 'string') return conflictIndex;
      // The term of an entry in the follower's log, which holds none later than its term.
      if (conflictTerm > term) return problem('conflictTerm', `is above the message term ${term}`);
      if (!copy) return candidate as unknown as Message;
      return { type: messageType, term, from, to, success, index, conflictTerm, conflictIndex };
    }
    case MessageType.Heartbeat: {
      const leaderCommit = logIndex('leaderCommit');
      const context = integer('context');
      if (typeof leaderCommit === 'string') return leaderCommit;
      if (typeof context === 'string') return context;
      if (!copy) return candidate as unknown as Message;
      return { type: messageType, term, from, to, leaderCommit, context };
    }
    case MessageType.HeartbeatResponse: {
      const context = integer('context');
      if (typeof context === 'string') return context;
      if (!copy) return candidate as unknown as Message;
      return { type: messageType, term, from, to, context };
    }
    case MessageType.TimeoutNow:
      if (!copy) return candidate as unknown as Message;
      return { type: messageType, term, from, to };
    case MessageType.InstallSnapshot: {
      const lastIncludedIndex = logIndex('lastIncludedIndex');
      const lastIncludedTerm = integer('lastIncludedTerm');
      const offset = integer('offset');
      const totalBytes = integer('totalBytes');
      const done = boolean('done');
      if (typeof lastIncludedIndex === 'string') return lastIncludedIndex;
      if (typeof lastIncludedTerm === 'string') return lastIncludedTerm;
      if (typeof offset === 'string') return offset;
      if (typeof totalBytes === 'string') return totalBytes;
      if (typeof done === 'string') return done;
      // A snapshot covers at least one entry, written in a term no later than the leader's.
      if (lastIncludedIndex < 1) return problem('lastIncludedIndex', 'must be at least 1');
      if (lastIncludedTerm < 1) return problem('lastIncludedTerm', 'must be at least 1');
      if (lastIncludedTerm > term) return problem('lastIncludedTerm', `is above the message term ${term}`);
      const data = candidate['data'];
      if (!(data instanceof Uint8Array)) return problem('data', 'is not bytes');
      // The chunk's end is a position in the snapshot too: the follower adds the two.
      if (!Number.isSafeInteger(offset + data.byteLength)) return problem('offset', `plus the chunk's ${data.byteLength} bytes runs past the largest safe integer`);
      // The follower allocates totalBytes at the first chunk: the chunk must fit in it, the
      // last one must fill it, and it must be a size an array can have.
      const end = offset + data.byteLength;
      if (totalBytes > MAX_SNAPSHOT_BYTES) return problem('totalBytes', `is above the largest snapshot, ${MAX_SNAPSHOT_BYTES} bytes`);
      if (end > totalBytes) return problem('totalBytes', `is below the chunk's end, ${end}`);
      if (done !== (end === totalBytes)) return problem('done', done ? `is set on a chunk ending at ${end} of ${totalBytes} bytes` : `is not set on the chunk that ends the snapshot's ${totalBytes} bytes`);
      // Figure 13's "latest configuration as of lastIncludedIndex" (thesis §5.4.1).
      const membership = checkMembership(candidate['membership'], copy);
      if (typeof membership === 'string') return `${messageType} from ${from}: ${membership}`;
      if (!copy) return candidate as unknown as Message;
      return { type: messageType, term, from, to, lastIncludedIndex, lastIncludedTerm, offset, totalBytes, data, done, membership };
    }
    case MessageType.InstallSnapshotResponse: {
      const index = logIndex('index');
      const snapshotIndex = logIndex('snapshotIndex');
      const received = integer('received');
      if (typeof index === 'string') return index;
      if (typeof snapshotIndex === 'string') return snapshotIndex;
      if (typeof received === 'string') return received;
      if (!copy) return candidate as unknown as Message;
      return { type: messageType, term, from, to, index, snapshotIndex, received };
    }
    default:
      return assertNever(messageType, 'message type');
  }
}

/**
 * Entries of an AppendEntries (§5.3): indexes consecutive from prevLogIndex + 1; terms
 * never decreasing (a log's terms only grow), starting at or above prevLogTerm and no
 * later than the leader's term; data bytes or null (the no-op); a configuration entry's
 * membership a valid configuration, and its data null.
 */
function checkEntries(
  value: unknown,
  prevLogIndex: number,
  prevLogTerm: number,
  messageTerm: number,
  copy: boolean,
): readonly Entry[] | string {
  if (!Array.isArray(value)) return `entries are ${describeType(value)}, not an array`;
  if (prevLogIndex + value.length > MAX_WIRE_INDEX) return `entries run past the largest log index, ${MAX_WIRE_INDEX}`;
  const entries: Entry[] = copy ? new Array<Entry>(value.length) : (value as Entry[]);
  let previousTerm = prevLogTerm;
  for (let i = 0; i < value.length; i++) {
    const entry: unknown = value[i];
    if (typeof entry !== 'object' || entry === null) return entryProblem(entry, i, prevLogIndex, previousTerm, messageTerm);
    const { index, term, data, membership } = entry as Record<string, unknown>;
    if (index !== prevLogIndex + 1 + i || !isNonNegativeSafeInteger(term) || term < previousTerm || term > messageTerm || (data !== null && !(data instanceof Uint8Array))) {
      return entryProblem(entry, i, prevLogIndex, previousTerm, messageTerm);
    }
    previousTerm = term;
    if (membership !== undefined) {
      const checked = checkConfigurationEntry(index, term, data, membership, copy);
      if (typeof checked === 'string') return checked;
      // Wire candidates already hold it (checked, not copied); a caller's object gets a copy.
      if (copy) entries[i] = checked;
    } else if (copy) {
      entries[i] = { index, term, data };
    }
  }
  return entries;
}

/** A configuration entry (thesis §4.1): its membership valid, its data null. Out of line: rare. */
function checkConfigurationEntry(index: number, term: number, data: unknown, membership: unknown, copy: boolean): Entry | string {
  if (data !== null) return `entry ${index} is a configuration entry with data`;
  const checked = checkMembership(membership, copy);
  if (typeof checked === 'string') return `entry ${index} ${checked}`;
  return { index, term, data: null, membership: checked };
}

/**
 * Why checkEntries refuses entry `i`. Out of line: with these messages in the loop, the
 * optimising compiler converted `i` and the expected index to strings for every entry,
 * before the checks that guard them (`perf`: 1.6% of a 7-node run in NumberToString).
 */
function entryProblem(entry: unknown, i: number, prevLogIndex: number, previousTerm: number, messageTerm: number): string {
  if (typeof entry !== 'object' || entry === null) return `entry ${i} is ${describeType(entry)}, not an object`;
  const { index, term, data } = entry as Record<string, unknown>;
  const expectedIndex = prevLogIndex + 1 + i;
  if (index !== expectedIndex) return `entry ${i} has index ${describeValue(index)}, expected ${expectedIndex}`;
  if (!isNonNegativeSafeInteger(term)) return `entry ${expectedIndex} has term ${describeValue(term)}`;
  if (term < previousTerm) return `entry ${expectedIndex} has term ${term}, below the term ${previousTerm} before it`;
  if (term > messageTerm) return `entry ${expectedIndex} has term ${term}, above the leader's term ${messageTerm}`;
  return `entry ${expectedIndex} data is ${describeType(data)}`;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${(value as object).constructor?.name ?? 'prototype-less object'}`;
  return `a ${typeof value}`;
}

const DESCRIBE_VALUE_MAX_CHARS = 40;

function describeValue(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'bigint' ? `${value}n` : (JSON.stringify(value) ?? String(value));
  } catch {
    text = describeType(value);
  }
  return text.length <= DESCRIBE_VALUE_MAX_CHARS ? text : `${text.slice(0, DESCRIBE_VALUE_MAX_CHARS - 1)}…`;
}

/**
 * Where the `to` field of the only message of a one-message batch starts, or -1 when the
 * layout is not the simple one: [0x92, version, 0x91, 0x9N, tag, term, from, to, ...].
 * Node ids and the tag are positive fixints (< 128); the term's width follows msgpack's
 * smallest-encoding rule, which msgpackr applies.
 */
function toOffsetOfSingleMessage(message: Message): number {
  if (message.from >= 128 || message.to >= 128 || WIRE_FORMAT_VERSION >= 128) return -1;
  const term = message.term;
  const termBytes = term < 0x80 ? 1 : term < 0x100 ? 2 : term < 0x10000 ? 3 : term < 0x100000000 ? 5 : -1;
  if (termBytes < 0) return -1;
  // batch header, version, messages header, tuple header, tag, term, from
  return 1 + 1 + 1 + 1 + 1 + termBytes + 1;
}

/** Two AppendEntries of one Ready that cover the same range of the leader's log carry the
 *  same entries (the leader's log does not change within a Ready): compare by range. */
function sameBroadcast(a: Message, b: Message): boolean {
  if (a.type !== MessageType.AppendEntries || b.type !== MessageType.AppendEntries) return false;
  if (a.term !== b.term || a.from !== b.from || a.prevLogIndex !== b.prevLogIndex || a.prevLogTerm !== b.prevLogTerm) return false;
  if (a.leaderCommit !== b.leaderCommit || a.entries.length !== b.entries.length) return false;
  const lastA = a.entries[a.entries.length - 1];
  const lastB = b.entries[b.entries.length - 1];
  return lastA === undefined || (lastB !== undefined && lastA.index === lastB.index && lastA.term === lastB.term);
}

/**
 * Encodes one batch per peer, like encodeRaftBatch for each. In steady state a leader
 * sends every follower the same AppendEntries, differing only in `to`: such batches are
 * encoded once and copied with `to` patched (a copy is far cheaper than an encode). The
 * patch is checked against the encoded bytes; anything unexpected falls back to a full
 * encode.
 */
export function encodeRaftBatches(batches: ReadonlyMap<NodeId, readonly Message[]>): Map<NodeId, Uint8Array> {
  const encoded = new Map<NodeId, Uint8Array>();
  let template: { message: Message; bytes: Uint8Array; offset: number } | null = null;
  for (const [peer, messages] of batches) {
    const only = messages.length === 1 ? messages[0]! : null;
    if (only !== null && template !== null && sameBroadcast(template.message, only) && toOffsetOfSingleMessage(only) === template.offset) {
      const copy = template.bytes.slice();
      copy[template.offset] = only.to;
      encoded.set(peer, copy);
      continue;
    }
    const bytes = encodeRaftBatch(messages);
    encoded.set(peer, bytes);
    if (only !== null && only.type === MessageType.AppendEntries && template === null) {
      const offset = toOffsetOfSingleMessage(only);
      if (offset >= 0 && bytes[offset] === only.to) template = { message: only, bytes, offset };
    }
  }
  return encoded;
}
