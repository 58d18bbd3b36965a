// The WAL's on-disk format, shared by the writer (file-storage.ts), the reader
// (recovery) and the tests.
//
// A segment file `wal-<10-digit sequence>.log` is a sequence of records, each framed as
//   [payload length: u32 LE][CRC32 of the payload: u32 LE][payload: msgpack]
// The first record of every segment is a header naming the segment's own sequence
// number, so a renamed or misplaced file is caught, and (format 2) the WAL's owner, the
// cluster and node (FileStorageOptions.owner), so a WAL or segment copied in from
// another is caught too. Beside the segments, an empty file `wal-newest-<sequence>`
// names the newest segment made (TAIL_MARKER_PREFIX). Every later record is a batch: the
// entries appended and the hard state set since the previous sync(), in ONE record, so
// that a turn is either wholly on disk or (torn) wholly cut off on recovery. A batch
// whose first index is <= the log's last index truncates the log from there: that is
// how Raft's conflict truncation (§5.3) is recorded. An entry's data slot holds bin (a
// command), nil (the no-op) or, for a configuration entry, its configuration as
// [voters, learners] (the wire's form, membership-wire.ts). The array form came after
// WAL_FORMAT_VERSION 1 and did not bump it: every file written before it reads as it
// did, and a build from before it refuses such an entry as corruption, loudly (its
// decoder wants bytes or nil there), never reading it as something else.
//
// A snapshot record [3, index, term, hardState] says "a snapshot at (index, term) now
// stands for the log up to index" (§7): replay keeps the entries after it when the log
// holds (index, term), and discards the whole log otherwise (a snapshot from the leader
// that replaced a log that disagreed). It is the first record of a fresh segment, so
// that every older segment holding only entries up to the snapshot can be deleted; it
// carries the hard state because those segments may have held the last one.
//
// The snapshot itself lives in its own file, `snapshot.bin`: one frame (as above) whose
// payload is [2, index, term, membership, data], the configuration at the snapshot's
// index being [voters, learners], or nil for a snapshot without one (thesis §5.4.1). It
// comes before the data so that the data can still be written after a small head
// without being copied (encodeSnapshotFileHead). Files of format 1, [1, index, term,
// data], written before configurations existed, still load, without a configuration.
// The file is written to a temporary file, fsynced, renamed over the old one, and the
// directory fsynced.

import { readdirSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { Entry, HardState, Membership, TermRun } from '../raft/types.js';
import { NONE } from '../raft/types.js';
import { StorageError, StorageErrorCode, invariant } from './errors.js';
import { MAX_RECORD_PAYLOAD_BYTES, type WalOwner } from './types.js';
import { MsgpackWriter } from '../transport/msgpack-writer.js';
import { checkMembership, membershipFromPair, membershipPair, writeMembership } from '../transport/membership-wire.js';
import { sameMembership } from '../raft/membership.js';

if (typeof crc32 !== 'function') {
  throw new Error('raftlab storage needs zlib.crc32 (Node 20.15 or later)');
}

export const FRAME_HEADER_BYTES = 8;
/**
 * The segment header's format: 2 adds the WAL's owner, [1, 2, sequence, [cluster, node] |
 * nil]. Headers of format 1, [1, 1, sequence], written before, still load (as owned by
 * nobody); a build from before format 2 refuses a format 2 header as corruption, loudly.
 */
export const WAL_FORMAT_VERSION = 2;
export const WAL_FORMAT_VERSION_WITHOUT_OWNER = 1;

/** A cluster id as the WAL records it: 1 to 64 letters, digits, '-' or '_'. */
const CLUSTER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function isWalOwner(value: unknown): value is WalOwner {
  if (typeof value !== 'object' || value === null) return false;
  const { cluster, node } = value as { cluster?: unknown; node?: unknown };
  return typeof cluster === 'string' && CLUSTER_ID.test(cluster) && isNonNegativeInteger(node) && node >= 1;
}

export function describeOwner(owner: WalOwner | null): string {
  return owner === null ? 'no owner (a segment written before the WAL recorded one)' : `node ${owner.node} of cluster ${owner.cluster}`;
}

export const RecordKind = {
  SegmentHeader: 1,
  Batch: 2,
  Snapshot: 3,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

const SEGMENT_NAME = /^wal-(\d{10})\.log$/;
const SEGMENT_SEQUENCE_MAX = 9_999_999_999;

export function segmentFileName(sequence: number): string {
  invariant(Number.isInteger(sequence) && sequence >= 1 && sequence <= SEGMENT_SEQUENCE_MAX, () => `segment sequence ${sequence} out of range`);
  return `wal-${String(sequence).padStart(10, '0')}.log`;
}

/** The sequence number of a segment file name, or null for any other file. */
export function segmentSequence(fileName: string): number | null {
  const match = SEGMENT_NAME.exec(fileName);
  if (match === null || match[1] === undefined) return null;
  const sequence = Number(match[1]);
  return sequence >= 1 ? sequence : null;
}

/**
 * The WAL segment file names in `dir`, oldest first. Other files (the node's log file,
 * later snapshots) are ignored. A missing directory has no segments.
 */
export function walFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new StorageError(StorageErrorCode.Io, `cannot list WAL directory ${dir}: ${String(error)}`, { cause: error });
  }
  const segments: { name: string; sequence: number }[] = [];
  for (const name of names) {
    const sequence = segmentSequence(name);
    if (sequence !== null) segments.push({ name, sequence });
  }
  segments.sort((a, b) => a.sequence - b.sequence);
  return segments.map((segment) => segment.name);
}

// One encoder per thread is enough: pack() is synchronous and its result is copied
// into the frame before the next pack(). Plain arrays, no record extension, so the
// format does not depend on msgpackr's structure cache.
const encoder = new Packr({ useRecords: false });
const MSGPACK_FIXARRAY_4 = 0x94;
const MSGPACK_FIXARRAY_5 = 0x95;
const MSGPACK_BIN8 = 0xc4;
const MSGPACK_BIN16 = 0xc5;
const MSGPACK_BIN32 = 0xc6;
// Decoded entry data are views into the segment file's buffer (no copy per entry: that
// halves recovery time). The segment buffers stay alive as long as the entries do,
// which costs what the log costs anyway. Such views must never be transferred.
const decoder = new Packr({ useRecords: false, copyBuffers: false });
const snapshotDecoder = new Packr({ useRecords: false });

export function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * Encodes one batch record's payload. The result is a view into the encoder's shared
 * buffer: copy it (writeFrame) before encoding anything else.
 */
export function encodeBatchPayload(firstIndex: number, entries: readonly Entry[], hardState: HardState | null): Uint8Array {
  // [kind, firstIndex, [term...], [data...], [currentTerm, votedFor, commitIndex] | nil],
  // written directly (what encoder.pack of those arrays would write, without building them);
  // a configuration entry's data is its [voters, learners].
  const out = batchWriter;
  out.reset();
  out.arrayHeader(5);
  out.uint(RecordKind.Batch);
  out.uint(entries.length === 0 ? 0 : firstIndex);
  out.arrayHeader(entries.length);
  for (const entry of entries) out.uint(entry.term);
  out.arrayHeader(entries.length);
  for (const entry of entries) {
    // checkEntriesForAppend made sure a configuration entry has no data to lose here.
    if (entry.membership !== undefined) writeMembership(out, entry.membership);
    else if (entry.data === null) out.nil();
    else out.bin(entry.data);
  }
  if (hardState === null) {
    out.nil();
  } else {
    out.arrayHeader(3);
    out.uint(hardState.currentTerm);
    out.uint(hardState.votedFor);
    out.uint(hardState.commitIndex);
  }
  return out.written();
}

const batchWriter = new MsgpackWriter(64 * 1024);

export function encodeSnapshotRecordPayload(index: number, term: number, hardState: HardState): Uint8Array {
  return encoder.pack([RecordKind.Snapshot, index, term, [hardState.currentTerm, hardState.votedFor, hardState.commitIndex]]);
}

export const SNAPSHOT_FILE_NAME = 'snapshot.bin';
export const SNAPSHOT_TEMP_FILE_NAME = 'snapshot.bin.tmp';
/**
 * saveSnapshotAsync's temporary files: `snapshot.bin.async-<nonce>.tmp`, a name of their
 * own per save, so neither a synchronous save nor the leftover writes of a crashed
 * worker's save (libuv finishes them after the thread is gone) can mix into one.
 */
export const SNAPSHOT_ASYNC_TEMP_PREFIX = 'snapshot.bin.async-';
export const SNAPSHOT_ASYNC_TEMP_SUFFIX = '.tmp';
/**
 * A segment a snapshot made redundant is renamed `wal-<sequence>.log.redundant` on the
 * node's thread (cheap, and recovery never reads such a name), then unlinked off it. A
 * crash in between leaves the file for load() to remove.
 */
export const REDUNDANT_SEGMENT_SUFFIX = '.redundant';
/**
 * A segment file prepared ahead of its roll (zero-filled, so that writing into it later
 * changes no file metadata) is `wal-spare-<nonce>.tmp` until the roll renames it. Recovery
 * never reads such a name; load() removes one a crash left behind.
 */
export const SPARE_SEGMENT_PREFIX = 'wal-spare-';
export const SPARE_SEGMENT_SUFFIX = '.tmp';
/** The snapshot file format written: [2, index, term, membership | nil, data]. */
export const SNAPSHOT_FORMAT_VERSION = 2;
/** The format before configurations, still read: [1, index, term, data]. */
export const SNAPSHOT_FORMAT_VERSION_WITHOUT_MEMBERSHIP = 1;

/** The snapshot file's bytes: one frame around [version, index, term, membership | nil, data]. */
export function encodeSnapshotFile(index: number, term: number, data: Uint8Array, membership?: Membership): Buffer {
  return frame(encoder.pack([SNAPSHOT_FORMAT_VERSION, index, term, snapshotMembershipField(membership), data]));
}

/** The membership field of a snapshot file: [voters, learners], or nil for none. Checked:
 *  what would not load back must not be written (the log before it is about to go). */
function snapshotMembershipField(membership: Membership | undefined): unknown {
  if (membership === undefined) return null;
  const checked = checkMembership(membership, false);
  invariant(typeof checked !== 'string', () => `snapshot: ${checked as string}`);
  return membershipPair(membership);
}

/**
 * encodeSnapshotFile's bytes as a head (the frame header and the payload up to the data's
 * first byte) followed by `data` itself, so that the file is written without copying the
 * state machine (packing and framing a 1.4 MB snapshot copied it twice and held a node's
 * thread 1-3 ms at each compaction under load). The frame's CRC chains over the two parts.
 */
export function encodeSnapshotFileHead(index: number, term: number, data: Uint8Array, membership?: Membership): Buffer {
  const fields = encoder.pack([SNAPSHOT_FORMAT_VERSION, index, term, snapshotMembershipField(membership)]);
  invariant(fields[0] === MSGPACK_FIXARRAY_4, () => 'snapshot head: the fields did not pack as a 4-element array');
  const length = data.byteLength;
  const binHeader = length <= 0xff ? 2 : length <= 0xffff ? 3 : 5;
  const prefix = Buffer.allocUnsafe(fields.byteLength + binHeader);
  prefix.set(fields, 0);
  // One more element, the data: a 5-element array holding a bin of `length` bytes.
  prefix[0] = MSGPACK_FIXARRAY_5;
  const at = fields.byteLength;
  if (binHeader === 2) {
    prefix[at] = MSGPACK_BIN8;
    prefix[at + 1] = length;
  } else if (binHeader === 3) {
    prefix[at] = MSGPACK_BIN16;
    prefix.writeUInt16BE(length, at + 1);
  } else {
    prefix[at] = MSGPACK_BIN32;
    prefix.writeUInt32BE(length, at + 1);
  }
  const payloadLength = prefix.byteLength + length;
  invariant(payloadLength <= MAX_RECORD_PAYLOAD_BYTES, () => `snapshot of ${length} bytes does not fit a frame`);
  const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES + prefix.byteLength);
  head.writeUInt32LE(payloadLength, 0);
  head.writeUInt32LE(crc32(data, crc32(prefix)), 4);
  head.set(prefix, FRAME_HEADER_BYTES);
  return head;
}

export type SnapshotFileDecode =
  | {
      readonly ok: true;
      readonly index: number;
      readonly term: number;
      readonly data: Uint8Array;
      /** null: the file holds no configuration (format 1, or written without one). */
      readonly membership: Membership | null;
    }
  | { readonly ok: false; readonly offset: number; readonly expected: string; readonly found: string };

/** Reads back encodeSnapshotFile's bytes (or a format 1 file's), checking the frame's length and CRC and every field. */
export function decodeSnapshotFile(buffer: Buffer): SnapshotFileDecode {
  const read = readFrame(buffer, 0);
  if (!read.ok) return { ok: false, offset: 0, expected: read.expected, found: read.found };
  if (read.next !== buffer.length) {
    return { ok: false, offset: read.next, expected: 'the end of the file after the snapshot frame', found: `${buffer.length - read.next} more bytes` };
  }
  let value: unknown;
  try {
    // Copied buffers: the snapshot data outlives the file buffer as the state machine's source.
    value = snapshotDecoder.unpack(read.payload);
  } catch (error) {
    return { ok: false, offset: FRAME_HEADER_BYTES, expected: 'a msgpack snapshot', found: `undecodable bytes (${String(error).slice(0, 80)})` };
  }
  if (!Array.isArray(value) || value.length < 1) return { ok: false, offset: FRAME_HEADER_BYTES, expected: '[version, index, term, membership, data]', found: describe(value) };
  const version: unknown = value[0];
  let fields: unknown[];
  let membership: Membership | null = null;
  if (version === SNAPSHOT_FORMAT_VERSION) {
    if (value.length !== 5) return { ok: false, offset: FRAME_HEADER_BYTES, expected: `[${SNAPSHOT_FORMAT_VERSION}, index, term, membership, data]`, found: describe(value) };
    const pair: unknown = value[3];
    if (pair !== null) {
      const decoded = membershipFromPair(pair);
      if (typeof decoded === 'string') return { ok: false, offset: FRAME_HEADER_BYTES, expected: 'the configuration at the snapshot index as [voters, learners], or nil', found: decoded };
      membership = decoded;
    }
    fields = [value[1], value[2], value[4]];
  } else if (version === SNAPSHOT_FORMAT_VERSION_WITHOUT_MEMBERSHIP) {
    if (value.length !== 4) return { ok: false, offset: FRAME_HEADER_BYTES, expected: `[${SNAPSHOT_FORMAT_VERSION_WITHOUT_MEMBERSHIP}, index, term, data]`, found: describe(value) };
    fields = [value[1], value[2], value[3]];
  } else {
    return { ok: false, offset: FRAME_HEADER_BYTES, expected: `snapshot format ${SNAPSHOT_FORMAT_VERSION} or ${SNAPSHOT_FORMAT_VERSION_WITHOUT_MEMBERSHIP}`, found: describe(version) };
  }
  const [index, term, data] = fields;
  if (!isNonNegativeInteger(index) || index < 1) return { ok: false, offset: FRAME_HEADER_BYTES, expected: 'a snapshot index >= 1', found: describe(index) };
  if (!isNonNegativeInteger(term) || term < 1) return { ok: false, offset: FRAME_HEADER_BYTES, expected: 'a snapshot term >= 1', found: describe(term) };
  if (!(data instanceof Uint8Array)) return { ok: false, offset: FRAME_HEADER_BYTES, expected: 'snapshot data bytes', found: describe(data) };
  return { ok: true, index, term, data, membership };
}

export function encodeSegmentHeaderPayload(sequence: number, owner: WalOwner | null): Uint8Array {
  return encoder.pack([RecordKind.SegmentHeader, WAL_FORMAT_VERSION, sequence, owner === null ? null : [owner.cluster, owner.node]]);
}

/**
 * The WAL's tail marker: an empty file `wal-newest-<10-digit sequence>` naming the newest
 * segment made (its name is all it says). A roll renames it to the new segment's number
 * once that segment exists, and the directory fsync the roll makes anyway makes both
 * durable: a load that finds no segment that new refuses to start (its newest segments
 * were removed), instead of coming up with a shorter log.
 */
export const TAIL_MARKER_PREFIX = 'wal-newest-';
const TAIL_MARKER_NAME = /^wal-newest-(\d{10})$/;

export function tailMarkerName(sequence: number): string {
  return `${TAIL_MARKER_PREFIX}${segmentFileName(sequence).slice(4, 14)}`;
}

/** The sequence a tail marker's name holds, or null for any other file. */
export function tailMarkerSequence(fileName: string): number | null {
  const match = TAIL_MARKER_NAME.exec(fileName);
  if (match === null || match[1] === undefined) return null;
  const sequence = Number(match[1]);
  return sequence >= 1 ? sequence : null;
}

/** Frames `payload` into `target` at `offset`; returns the frame's length. */
export function writeFrame(target: Buffer, offset: number, payload: Uint8Array): number {
  const length = payload.byteLength;
  invariant(length >= 1 && length <= MAX_RECORD_PAYLOAD_BYTES, () => `record payload length ${length} outside 1..${MAX_RECORD_PAYLOAD_BYTES}`);
  invariant(offset + FRAME_HEADER_BYTES + length <= target.byteLength, () => `frame of ${length} bytes does not fit the write buffer`);
  target.writeUInt32LE(length, offset);
  target.writeUInt32LE(crc32(payload), offset + 4);
  target.set(payload, offset + FRAME_HEADER_BYTES);
  return FRAME_HEADER_BYTES + length;
}

/** Frames `payload` into a new exact-size buffer (tests, and rare large writes). */
export function frame(payload: Uint8Array): Buffer {
  const target = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  writeFrame(target, 0, payload);
  return target;
}

export type FrameRead =
  | { readonly ok: true; readonly payload: Buffer; readonly next: number }
  | {
      readonly ok: false;
      /**
       * What is wrong: the file ends before the frame does; its length field is 0 or
       * too large; or its CRC does not match (the frame then ends at `end`).
       */
      readonly failure: 'end-of-file' | 'length' | 'crc';
      readonly length: number;
      readonly end: number;
      readonly expected: string;
      readonly found: string;
    };

/** Reads and CRC-checks the frame at `offset` of `buffer` (which ends at buffer.length). */
export function readFrame(buffer: Buffer, offset: number): FrameRead {
  const remaining = buffer.length - offset;
  if (remaining < FRAME_HEADER_BYTES) {
    return { ok: false, failure: 'end-of-file', length: 0, end: buffer.length, expected: `a ${FRAME_HEADER_BYTES}-byte record header`, found: `${remaining} bytes before end of file` };
  }
  const length = buffer.readUInt32LE(offset);
  if (length < 1 || length > MAX_RECORD_PAYLOAD_BYTES) {
    return { ok: false, failure: 'length', length, end: buffer.length, expected: `a payload length in 1..${MAX_RECORD_PAYLOAD_BYTES}`, found: `${length}` };
  }
  if (length > remaining - FRAME_HEADER_BYTES) {
    return { ok: false, failure: 'end-of-file', length, end: buffer.length, expected: `${length} payload bytes`, found: `${remaining - FRAME_HEADER_BYTES} before end of file` };
  }
  const start = offset + FRAME_HEADER_BYTES;
  const payload = buffer.subarray(start, start + length);
  const storedCrc = buffer.readUInt32LE(offset + 4);
  const computedCrc = crc32(payload);
  if (storedCrc !== computedCrc) {
    return { ok: false, failure: 'crc', length, end: start + length, expected: `crc ${hex32(storedCrc)} (from the record header)`, found: `crc ${hex32(computedCrc)} over the ${length}-byte payload` };
  }
  return { ok: true, payload, next: start + length };
}

export type DecodedRecord =
  | { readonly kind: typeof RecordKind.SegmentHeader; readonly version: number; readonly sequence: number; readonly owner: WalOwner | null }
  | {
      readonly kind: typeof RecordKind.Batch;
      /** 0 when the batch holds no entries. */
      readonly firstIndex: number;
      readonly terms: readonly number[];
      /** null for a no-op and for a configuration entry. */
      readonly datas: readonly (Uint8Array | null)[];
      /** The configuration of each configuration entry (null for the others); null when the batch holds none. */
      readonly memberships: readonly (Membership | null)[] | null;
      readonly hardState: HardState | null;
    }
  | { readonly kind: typeof RecordKind.Snapshot; readonly index: number; readonly term: number; readonly hardState: HardState };

export type DecodeResult = { readonly ok: true; readonly record: DecodedRecord } | { readonly ok: false; readonly expected: string; readonly found: string };

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value).slice(0, 40)}`;
}

/**
 * Decodes and shape-checks one payload (the types of every field; not how it fits the
 * log before it: that is LogShape's job). Pairs with encode*Payload.
 */
export function decodeRecord(payload: Uint8Array): DecodeResult {
  let value: unknown;
  try {
    value = decoder.unpack(payload);
  } catch (error) {
    return { ok: false, expected: 'a msgpack record', found: `undecodable bytes (${String(error).slice(0, 80)})` };
  }
  if (!Array.isArray(value) || value.length < 1) return { ok: false, expected: 'a record array', found: describe(value) };
  const kind: unknown = value[0];
  if (kind === RecordKind.SegmentHeader) {
    const [, version, sequence, ownerPair] = value as unknown[];
    const refuse = (): DecodeResult => ({
      ok: false,
      expected: `a segment header [${RecordKind.SegmentHeader}, ${WAL_FORMAT_VERSION}, sequence, [cluster, node] | nil] or [${RecordKind.SegmentHeader}, ${WAL_FORMAT_VERSION_WITHOUT_OWNER}, sequence]`,
      found: `[${value.map(describe).join(', ')}]`,
    });
    if (!isNonNegativeInteger(sequence) || sequence < 1) return refuse();
    if (version === WAL_FORMAT_VERSION_WITHOUT_OWNER && value.length === 3) return { ok: true, record: { kind: RecordKind.SegmentHeader, version, sequence, owner: null } };
    if (version !== WAL_FORMAT_VERSION || value.length !== 4) return refuse();
    if (ownerPair === null) return { ok: true, record: { kind: RecordKind.SegmentHeader, version, sequence, owner: null } };
    if (!Array.isArray(ownerPair) || ownerPair.length !== 2) return refuse();
    const owner = { cluster: ownerPair[0] as unknown, node: ownerPair[1] as unknown };
    if (!isWalOwner(owner)) return refuse();
    return { ok: true, record: { kind: RecordKind.SegmentHeader, version, sequence, owner } };
  }
  if (kind === RecordKind.Batch) {
    if (value.length !== 5) return { ok: false, expected: 'a batch record of 5 fields', found: describe(value) };
    const [, firstIndex, terms, datas, hard] = value as unknown[];
    if (!isNonNegativeInteger(firstIndex)) return { ok: false, expected: 'a batch first index', found: describe(firstIndex) };
    if (!Array.isArray(terms) || !Array.isArray(datas) || terms.length !== datas.length) {
      return { ok: false, expected: 'batch terms and data arrays of equal length', found: `${describe(terms)} and ${describe(datas)}` };
    }
    if ((terms.length === 0) !== (firstIndex === 0)) {
      return { ok: false, expected: 'first index 0 exactly when the batch has no entries', found: `first index ${firstIndex} with ${terms.length} entries` };
    }
    let memberships: (Membership | null)[] | null = null;
    for (let i = 0; i < terms.length; i++) {
      const term: unknown = terms[i];
      if (!isNonNegativeInteger(term) || term < 1) return { ok: false, expected: `a term >= 1 for entry ${firstIndex + i}`, found: describe(term) };
      const data: unknown = datas[i];
      if (data === null || data instanceof Uint8Array) continue;
      if (!Array.isArray(data)) return { ok: false, expected: `bytes, null or a configuration as data of entry ${firstIndex + i}`, found: describe(data) };
      // A configuration entry (thesis §4.1): its [voters, learners] in the data slot.
      const membership = membershipFromPair(data);
      if (typeof membership === 'string') return { ok: false, expected: `a configuration [voters, learners] as data of entry ${firstIndex + i}`, found: membership };
      memberships ??= new Array<Membership | null>(terms.length).fill(null);
      memberships[i] = membership;
      datas[i] = null;
    }
    let hardState: HardState | null = null;
    if (hard !== null) {
      if (!Array.isArray(hard) || hard.length !== 3 || !hard.every(isNonNegativeInteger)) {
        return { ok: false, expected: 'a hard state [currentTerm, votedFor, commitIndex]', found: describe(hard) };
      }
      hardState = { currentTerm: hard[0] as number, votedFor: hard[1] as number, commitIndex: hard[2] as number };
    }
    if (terms.length === 0 && hardState === null) return { ok: false, expected: 'a batch with entries or a hard state', found: 'an empty batch' };
    return { ok: true, record: { kind: RecordKind.Batch, firstIndex, terms: terms as number[], datas: datas as (Uint8Array | null)[], memberships, hardState } };
  }
  if (kind === RecordKind.Snapshot) {
    const [, index, term, hard] = value as unknown[];
    if (value.length !== 4 || !isNonNegativeInteger(index) || index < 1 || !isNonNegativeInteger(term) || term < 1) {
      return { ok: false, expected: `a snapshot record [${RecordKind.Snapshot}, index >= 1, term >= 1, hardState]`, found: `[${value.map(describe).join(', ')}]` };
    }
    if (!Array.isArray(hard) || hard.length !== 3 || !hard.every(isNonNegativeInteger)) {
      return { ok: false, expected: 'a hard state [currentTerm, votedFor, commitIndex]', found: describe(hard) };
    }
    const hardState = { currentTerm: hard[0] as number, votedFor: hard[1] as number, commitIndex: hard[2] as number };
    return { ok: true, record: { kind: RecordKind.Snapshot, index, term, hardState } };
  }
  return { ok: false, expected: `a record kind (${RecordKind.SegmentHeader}, ${RecordKind.Batch} or ${RecordKind.Snapshot})`, found: describe(kind) };
}

type BatchRecord = Extract<DecodedRecord, { kind: typeof RecordKind.Batch }>;

/**
 * Entry `i` of a decoded batch record: { index, term, data }, or, for a configuration
 * entry, { index, term, data: null, membership }. No `membership` key on the others (the
 * core's hot paths depend on entries having one shape).
 */
export function batchEntry(record: BatchRecord, i: number): Entry {
  const index = record.firstIndex + i;
  const term = record.terms[i]!;
  const membership = record.memberships?.[i] ?? null;
  if (membership !== null) return { index, term, data: null, membership };
  return { index, term, data: record.datas[i] ?? null };
}

/** Do two entries carry the same configuration (both none, or equal lists)? */
export function sameEntryMembership(a: Membership | undefined, b: Membership | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return sameMembership(a, b);
}

/**
 * The shape of the log and hard state as far as storage can check it: terms per index
 * and the last hard state. The writer uses it to refuse a caller's impossible append
 * before it reaches the disk; recovery uses the same checks on what it reads back, so
 * every rule is checked on both sides (paired assertions).
 */
export class LogShape {
  /** The index of the first entry: 1, or the index after a snapshot. */
  private base = 1;
  /** The term of the entry at base - 1 (a snapshot's last entry); 0 when there is none or it is unknown. */
  private baseTerm = 0;
  /** The last index held: base - 1 when the log is empty. */
  private last = 0;
  /**
   * The terms of [base, last] as runs: run r holds term runTerms[r] from index
   * runStarts[r] to the next run's start. Terms never decrease along a log (checkAppend
   * refuses it), so a run per term covers the log. A term per index, in one array regrown
   * by half when full, stalled a node 10-60 ms to copy millions of slots when compaction
   * was rare (`bench --snapshot-entries 100000000`).
   */
  private readonly runStarts: number[] = [];
  private readonly runTerms: number[] = [];
  private hard: HardState = { currentTerm: 0, votedFor: NONE, commitIndex: 0 };

  get lastIndex(): number {
    return this.last;
  }

  /** The first index the log holds (or would hold next, when empty). */
  get firstIndex(): number {
    return this.base;
  }

  /** The term before firstIndex, 0 when unknown. */
  get previousTerm(): number {
    return this.baseTerm;
  }

  get hardState(): HardState {
    return this.hard;
  }

  /** The term at `index`; 0 for index 0, and for an index before the log that is not its snapshot's. */
  termAt(index: number): number {
    if (index === this.base - 1) return this.baseTerm;
    if (index < this.base || index > this.last) return 0;
    return this.runTerms[this.runAt(index)]!;
  }

  /** Does the log hold (index, term), its own or as the snapshot before it? */
  holds(index: number, term: number): boolean {
    return term >= 1 && index >= this.base - 1 && index <= this.lastIndex && this.termAt(index) === term;
  }

  /** The log becomes empty, continuing after (index, term); term 0 means "unknown". */
  resetTo(index: number, term: number): void {
    this.base = index + 1;
    this.baseTerm = term;
    this.last = index;
    this.runStarts.length = 0;
    this.runTerms.length = 0;
  }

  /** Recovery: the log replayed so far began right after a snapshot with this term, unknown until now. */
  continueFrom(previousTerm: number): void {
    invariant(this.baseTerm === 0, () => `continueFrom: the term before ${this.base} is already known (${this.baseTerm})`);
    this.baseTerm = previousTerm;
  }

  /** §7: keep the entries after (index, term) if the log holds it; otherwise discard the whole log. */
  compactTo(index: number, term: number): void {
    if (!this.holds(index, term)) {
      this.resetTo(index, term);
      return;
    }
    this.base = index + 1;
    this.baseTerm = term;
    if (this.base > this.last) {
      this.runStarts.length = 0;
      this.runTerms.length = 0;
      return;
    }
    const first = this.runAt(this.base);
    this.runStarts.splice(0, first);
    this.runTerms.splice(0, first);
    this.runStarts[0] = this.base;
  }

  /** Why a batch of `terms` starting at `firstIndex` cannot follow this log, or null if it can. */
  checkAppend(firstIndex: number, terms: readonly number[]): string | null {
    if (terms.length === 0) return null;
    if (!Number.isSafeInteger(firstIndex) || firstIndex < 1) return `first index ${firstIndex} is not a log index >= 1`;
    if (firstIndex < this.base) return `first index ${firstIndex} is at or below the snapshot at ${this.base - 1}`;
    if (firstIndex > this.lastIndex + 1) return `first index ${firstIndex} leaves a gap after last index ${this.lastIndex}`;
    let previousTerm = this.termAt(firstIndex - 1);
    for (let i = 0; i < terms.length; i++) {
      const term = terms[i]!;
      if (!Number.isSafeInteger(term) || term < 1) return `entry ${firstIndex + i} has term ${term}, not an integer >= 1`;
      if (term < previousTerm) return `entry ${firstIndex + i} has term ${term}, below the previous entry's term ${previousTerm}`;
      previousTerm = term;
    }
    return null;
  }

  /** Records a batch checkAppend accepted: it replaces every entry from firstIndex on. */
  applyAppend(firstIndex: number, terms: readonly number[]): void {
    if (terms.length === 0) return;
    const runStarts = this.runStarts;
    const runTerms = this.runTerms;
    while (runStarts.length > 0 && runStarts[runStarts.length - 1]! >= firstIndex) {
      runStarts.pop();
      runTerms.pop();
    }
    for (let i = 0; i < terms.length; i++) {
      const term = terms[i]!;
      if (runTerms.length === 0 || runTerms[runTerms.length - 1] !== term) {
        runStarts.push(firstIndex + i);
        runTerms.push(term);
      }
    }
    this.last = firstIndex + terms.length - 1;
  }

  /** LogStorage.termRuns: the newest `maxRuns` runs of terms over [base, last], oldest first. */
  termRuns(maxRuns: number): TermRun[] {
    const runs: TermRun[] = [];
    for (let r = Math.max(0, this.runStarts.length - maxRuns); r < this.runStarts.length; r++) {
      runs.push({ first: this.runStarts[r]!, term: this.runTerms[r]! });
    }
    return runs;
  }

  /** The run holding `index` (in [base, last]): the last one, as a rule, else a binary search. */
  private runAt(index: number): number {
    const runStarts = this.runStarts;
    let high = runStarts.length - 1;
    if (runStarts[high]! <= index) return high;
    let low = 0;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (runStarts[middle]! <= index) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /** Why `next` cannot follow the current hard state, or null if it can. */
  checkHardState(next: HardState): string | null {
    const previous = this.hard;
    for (const [name, value] of [['currentTerm', next.currentTerm], ['votedFor', next.votedFor], ['commitIndex', next.commitIndex]] as const) {
      if (!Number.isSafeInteger(value) || value < 0) return `hard state ${name} ${value} is not an integer >= 0`;
    }
    if (next.currentTerm < previous.currentTerm) return `currentTerm went back from ${previous.currentTerm} to ${next.currentTerm}`;
    // §5.2: "each server will vote for at most one candidate in a given term".
    if (next.currentTerm === previous.currentTerm && previous.votedFor !== NONE && next.votedFor !== previous.votedFor) {
      return `votedFor changed from ${previous.votedFor} to ${next.votedFor} within term ${next.currentTerm}`;
    }
    if (next.commitIndex < previous.commitIndex) return `commitIndex went back from ${previous.commitIndex} to ${next.commitIndex}`;
    return null;
  }

  applyHardState(next: HardState): void {
    this.hard = { currentTerm: next.currentTerm, votedFor: next.votedFor, commitIndex: next.commitIndex };
  }
}

/**
 * What has been appended and set since the last sync, folded into one batch: a later
 * append that truncates inside (or before) the pending entries replaces them, because
 * a batch starting at index i discards everything from i anyway.
 */
export class PendingBatch {
  firstIndex = 0;
  entries: Entry[] = [];
  hardState: HardState | null = null;

  get isEmpty(): boolean {
    return this.entries.length === 0 && this.hardState === null;
  }

  addEntries(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    if (this.entries.length > 0 && first.index >= this.firstIndex) {
      // The shape check guarantees first.index <= pending end + 1.
      this.entries.length = first.index - this.firstIndex;
    } else {
      this.firstIndex = first.index;
      this.entries = [];
    }
    for (const entry of entries) this.entries.push(entry);
  }

  clear(): void {
    this.firstIndex = 0;
    this.entries = [];
    this.hardState = null;
  }
}

/**
 * Throws WAL_INVARIANT for entry `i` of an append. Out of line: with the messages in
 * checkEntriesForAppend's loop, the optimising compiler converted the indexes to strings
 * for every entry, before the checks that guard them.
 */
function refuseAppendedEntry(entries: readonly Entry[], i: number): never {
  const entry = entries[i]!;
  const expected = entries[0]!.index + i;
  invariant(entry.index === expected, () => `append: entry ${i} has index ${entry.index}, expected ${expected} (indexes must be contiguous)`);
  invariant(entry.data === null || entry.data instanceof Uint8Array, () => `append: entry ${entry.index} data is neither bytes nor null`);
  invariant(entry.data === null, () => `append: configuration entry ${entry.index} also carries data`);
  const membership = checkMembership(entry.membership, false);
  invariant(false, () => `append: configuration entry ${entry.index}: ${membership as string}`);
}

/** A configuration entry that the WAL can write and read back: no data, a valid configuration. Out of line: rare. */
function isWritableConfigurationEntry(entry: Entry): boolean {
  return entry.data === null && typeof checkMembership(entry.membership, false) !== 'string';
}

/** Checks a caller's entries against `shape`; throws WAL_INVARIANT if they cannot be appended. */
export function checkEntriesForAppend(shape: LogShape, entries: readonly Entry[]): number[] {
  const first = entries[0];
  const terms = new Array<number>(entries.length);
  if (first === undefined) return terms;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.index !== first.index + i || !(entry.data === null || entry.data instanceof Uint8Array)) refuseAppendedEntry(entries, i);
    // Checked before it is written (and again when it is read back: decodeRecord).
    if (entry.membership !== undefined && !isWritableConfigurationEntry(entry)) refuseAppendedEntry(entries, i);
    terms[i] = entry.term;
  }
  const violation = shape.checkAppend(first.index, terms);
  invariant(violation === null, () => `append: ${violation}`);
  return terms;
}
