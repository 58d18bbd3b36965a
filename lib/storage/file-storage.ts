// FileStorage: the WAL in segment files under a node's directory, with group commit
// (one write and one fdatasync per sync()) and a recovery that cuts a torn tail but
// refuses anything else that is wrong.

import { closeSync, fdatasync, fdatasyncSync, fstatSync, ftruncateSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Entry, HardState, RestoredState } from '../raft/types.js';
import { StorageCorruptionError, StorageError, StorageErrorCode, invariant } from './errors.js';
import {
  FRAME_HEADER_BYTES,
  LogShape,
  PendingBatch,
  RecordKind,
  checkEntriesForAppend,
  decodeRecord,
  encodeBatchPayload,
  encodeSegmentHeaderPayload,
  readFrame,
  segmentFileName,
  segmentSequence,
  walFiles,
  writeFrame,
} from './record.js';
import type { FileStorageOptions, LogStorage, RecoveryReport, StorageStats, SyncedPosition } from './types.js';
import { DEFAULT_SEGMENT_BYTES, MAX_RECORD_PAYLOAD_BYTES, MIN_SEGMENT_BYTES } from './types.js';

export { walFiles } from './record.js';

/** The write buffer starts here and doubles as needed; it is reused across syncs. */
const WRITE_BUFFER_INITIAL_BYTES = 1 << 20;
/** A write buffer grown past this by one huge batch is released afterwards. */
const WRITE_BUFFER_KEEP_BYTES = 16 << 20;
/** Room reserved for a segment header frame (its payload is three small integers: ~15 bytes). */
const SEGMENT_HEADER_FRAME_MAX_BYTES = 64;

function ioError(what: string, error: unknown): StorageError {
  return new StorageError(StorageErrorCode.Io, `${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/** fsync on a directory makes the names in it (a new segment, a deleted one) durable. */
function fsyncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (error) {
    throw ioError(`cannot fsync directory ${dir}`, error);
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

interface SegmentScan {
  readonly sequence: number;
  readonly path: string;
  /** Bytes of whole, verified records. */
  readonly validBytes: number;
  readonly fileBytes: number;
}

interface Recovered {
  readonly shape: LogShape;
  readonly entries: Entry[];
  readonly segments: readonly SegmentScan[];
  readonly records: number;
}

/**
 * Is there a whole, CRC-valid, decodable record starting anywhere in buffer[from..]?
 * Tells a torn tail (nothing valid after the bad record) from a corrupted middle.
 */
function findValidRecordAfter(buffer: Buffer, from: number): number | null {
  for (let offset = from; offset + FRAME_HEADER_BYTES < buffer.length; offset++) {
    const length = buffer.readUInt32LE(offset);
    if (length < 1 || length > buffer.length - offset - FRAME_HEADER_BYTES) continue;
    const read = readFrame(buffer, offset);
    if (read.ok && decodeRecord(read.payload).ok) return offset;
  }
  return null;
}

/**
 * Reads every segment in order and replays it. Modifies nothing: the caller cuts the
 * torn tail (if any) only after the whole WAL has been verified.
 */
function recover(dir: string, names: readonly string[]): Recovered {
  const shape = new LogShape();
  const entries: Entry[] = [];
  const segments: SegmentScan[] = [];
  let records = 0;
  for (let segmentPosition = 0; segmentPosition < names.length; segmentPosition++) {
    const name = names[segmentPosition]!;
    const path = join(dir, name);
    const sequence = segmentSequence(name);
    invariant(sequence !== null, () => `walFiles returned a non-segment name ${name}`);
    const previous = segments[segments.length - 1];
    if (previous !== undefined && sequence !== previous.sequence + 1) {
      throw new StorageCorruptionError(path, 0, `segment ${segmentFileName(previous.sequence + 1)} after ${segmentFileName(previous.sequence)}`, `${name} (a segment is missing)`);
    }
    const isLast = segmentPosition === names.length - 1;
    let buffer: Buffer;
    try {
      buffer = readFileSync(path);
    } catch (error) {
      throw ioError(`cannot read WAL segment ${path}`, error);
    }
    if (buffer.length === 0 && !isLast) {
      throw new StorageCorruptionError(path, 0, 'a segment header record', 'an empty file before the last segment');
    }
    let offset = 0;
    while (offset < buffer.length) {
      const read = readFrame(buffer, offset);
      if (!read.ok) {
        // Only the final record of the last segment may be torn: a crash interrupts the
        // last write, never one that an fdatasync already covered and a later one followed.
        if (isLast) {
          const validAt = findValidRecordAfter(buffer, offset + 1);
          if (validAt === null) break;
          throw new StorageCorruptionError(path, offset, read.expected, `${read.found}, with a valid record after it at offset ${validAt}`);
        }
        throw new StorageCorruptionError(path, offset, read.expected, `${read.found} (in a segment that is not the last)`);
      }
      const decoded = decodeRecord(read.payload);
      if (!decoded.ok) throw new StorageCorruptionError(path, offset, decoded.expected, decoded.found);
      const record = decoded.record;
      const isFirstRecord = offset === 0;
      switch (record.kind) {
        case RecordKind.SegmentHeader:
          if (!isFirstRecord) throw new StorageCorruptionError(path, offset, 'a batch record', 'a segment header in the middle of a segment');
          if (record.sequence !== sequence) {
            throw new StorageCorruptionError(path, offset, `a header for segment ${sequence} (the file name)`, `a header for segment ${record.sequence}`);
          }
          break;
        case RecordKind.Batch: {
          if (isFirstRecord) throw new StorageCorruptionError(path, offset, 'a segment header record', 'a batch record');
          const appendViolation = shape.checkAppend(record.firstIndex, record.terms);
          if (appendViolation !== null) throw new StorageCorruptionError(path, offset, 'a batch that continues the log', appendViolation);
          if (record.terms.length > 0) {
            shape.applyAppend(record.firstIndex, record.terms);
            entries.length = record.firstIndex - 1;
            for (let i = 0; i < record.terms.length; i++) {
              const data = record.datas[i]!;
              entries.push({
                index: record.firstIndex + i,
                term: record.terms[i]!,
                // A view into the segment buffer (a Buffer, which is a Uint8Array).
                data,
              });
            }
          }
          if (record.hardState !== null) {
            const hardViolation = shape.checkHardState(record.hardState);
            if (hardViolation !== null) throw new StorageCorruptionError(path, offset, 'a hard state that follows the previous one', hardViolation);
            shape.applyHardState(record.hardState);
          }
          break;
        }
        default: {
          const never: never = record;
          throw new Error(`unhandled record ${JSON.stringify(never)}`);
        }
      }
      records++;
      offset = read.next;
    }
    segments.push({ sequence, path, validBytes: offset, fileBytes: buffer.length });
  }
  invariant(entries.length === shape.lastIndex, () => `recovered ${entries.length} entries but the shape says last index ${shape.lastIndex}`);
  return { shape, entries, segments, records };
}

const Phase = {
  Unloaded: 'unloaded',
  Open: 'open',
  /** A write or fdatasync failed: what reached the disk is unknown, so no more writes (see "fsyncgate"). */
  Failed: 'failed',
  Closed: 'closed',
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

class FileStorage implements LogStorage {
  private readonly dir: string;
  private readonly fsync: boolean;
  private readonly segmentBytes: number;
  private readonly verifyWrites: boolean;
  private phase: Phase = Phase.Unloaded;
  private shape = new LogShape();
  private readonly pending = new PendingBatch();
  private fd: number | null = null;
  private segment = 0;
  /** Bytes written to the current segment. */
  private segmentOffset = 0;
  /** Sizes of the segments before the current one, by name. */
  private readonly closedSegments: { name: string; bytes: number }[] = [];
  private synced: SyncedPosition = { segment: 0, offset: 0 };
  private writeBuffer: Buffer = Buffer.allocUnsafe(WRITE_BUFFER_INITIAL_BYTES);
  private fsyncCount = 0;
  /** True while syncAsync's fdatasync runs on the thread pool. */
  private syncInFlight = false;
  private fsyncTotalMs = 0;

  constructor(dir: string, options: FileStorageOptions) {
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    invariant(Number.isSafeInteger(segmentBytes) && segmentBytes >= MIN_SEGMENT_BYTES && segmentBytes <= 0x7fffffff, () => `segmentBytes ${segmentBytes} outside ${MIN_SEGMENT_BYTES}..2^31-1`);
    this.dir = dir;
    this.fsync = options.fsync;
    this.segmentBytes = segmentBytes;
    this.verifyWrites = options.verifyWrites === true;
    let created: string | undefined;
    try {
      created = mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw ioError(`cannot create WAL directory ${dir}`, error);
    }
    // A directory that was just created is only durable once its parent's entry is.
    if (created !== undefined && this.fsync) {
      for (let child = resolve(dir); ; child = dirname(child)) {
        fsyncDirectory(dirname(child));
        if (child === resolve(created) || dirname(child) === child) break;
      }
    }
  }

  load(): { state: RestoredState; recovery: RecoveryReport } {
    this.requirePhase(Phase.Unloaded, 'load');
    const started = performance.now();
    const names = walFiles(this.dir);
    const recovered = recover(this.dir, names);
    // Verified end to end: only now may a file be touched.
    let truncatedBytes = 0;
    let truncatedFile: string | null = null;
    const last = recovered.segments[recovered.segments.length - 1];
    if (last === undefined) {
      this.segment = 1;
      this.segmentOffset = 0;
      this.fd = this.createSegment(1);
    } else {
      this.segment = last.sequence;
      this.segmentOffset = last.validBytes;
      try {
        this.fd = openSync(last.path, 'r+');
        if (last.fileBytes > last.validBytes) {
          truncatedBytes = last.fileBytes - last.validBytes;
          truncatedFile = last.path;
          ftruncateSync(this.fd, last.validBytes);
          if (this.fsync) fdatasyncSync(this.fd);
        }
      } catch (error) {
        throw ioError(`cannot open WAL segment ${last.path}`, error);
      }
      for (const scanned of recovered.segments.slice(0, -1)) {
        this.closedSegments.push({ name: segmentFileName(scanned.sequence), bytes: scanned.fileBytes });
      }
    }
    this.synced = { segment: this.segment, offset: this.segmentOffset };
    // Appends from now on are checked against what was recovered.
    this.shape = recovered.shape;
    this.phase = Phase.Open;
    const recovery: RecoveryReport = {
      segments: recovered.segments.length,
      records: recovered.records,
      entries: recovered.entries.length,
      truncatedBytes,
      truncatedFile,
      durationMs: performance.now() - started,
    };
    return { state: { hardState: recovered.shape.hardState, entries: recovered.entries }, recovery };
  }

  append(entries: readonly Entry[]): void {
    this.requirePhase(Phase.Open, 'append');
    if (entries.length === 0) return;
    const terms = checkEntriesForAppend(this.shape, entries);
    this.shape.applyAppend(entries[0]!.index, terms);
    this.pending.addEntries(entries);
  }

  setHardState(hardState: HardState): void {
    this.requirePhase(Phase.Open, 'setHardState');
    const violation = this.shape.checkHardState(hardState);
    invariant(violation === null, () => `setHardState: ${violation}`);
    this.shape.applyHardState(hardState);
    this.pending.hardState = this.shape.hardState;
  }

  sync(): number {
    this.requirePhase(Phase.Open, 'sync');
    invariant(!this.syncInFlight, () => 'sync: an asynchronous sync is still in flight');
    const fd = this.writePending();
    if (fd === null || !this.fsync) return 0;
    const started = performance.now();
    try {
      fdatasyncSync(fd);
    } catch (error) {
      this.phase = Phase.Failed;
      throw ioError(`cannot fdatasync WAL segment ${join(this.dir, segmentFileName(this.segment))}`, error);
    }
    return this.markSynced(performance.now() - started);
  }

  /**
   * sync() with the fdatasync on libuv's thread pool, so the caller's thread keeps working
   * (thesis §10.2.1: the leader writes its disk in parallel with everything else). The
   * write happens now; `done` runs once the batch is durable. Nothing else may be called
   * on the storage until then.
   */
  syncAsync(done: (error: Error | null, latencyMs: number) => void): void {
    this.requirePhase(Phase.Open, 'syncAsync');
    invariant(!this.syncInFlight, () => 'syncAsync: an asynchronous sync is still in flight');
    let fd: number | null;
    try {
      fd = this.writePending();
    } catch (error) {
      queueMicrotask(() => done(error as Error, 0));
      return;
    }
    if (fd === null || !this.fsync) {
      queueMicrotask(() => done(null, 0));
      return;
    }
    this.syncInFlight = true;
    const started = performance.now();
    fdatasync(fd, (error) => {
      this.syncInFlight = false;
      if (error !== null) {
        this.phase = Phase.Failed;
        done(ioError(`cannot fdatasync WAL segment ${join(this.dir, segmentFileName(this.segment))}`, error), 0);
        return;
      }
      if (this.phase !== Phase.Open) {
        done(new StorageError(StorageErrorCode.State, 'syncAsync: the storage was closed during the sync'), 0);
        return;
      }
      done(null, this.markSynced(performance.now() - started));
    });
  }

  private markSynced(latencyMs: number): number {
    this.fsyncCount++;
    this.fsyncTotalMs += latencyMs;
    this.synced = { segment: this.segment, offset: this.segmentOffset };
    return latencyMs;
  }

  /** Encodes everything buffered into one record and writes it with one write. Returns
   *  the segment's fd to fdatasync, or null when there was nothing to write. */
  private writePending(): number | null {
    if (this.pending.isEmpty) return null;
    const payload = encodeBatchPayload(this.pending.firstIndex, this.pending.entries, this.pending.hardState);
    if (payload.byteLength > MAX_RECORD_PAYLOAD_BYTES) {
      throw new StorageError(StorageErrorCode.Invariant, `sync: one batch of ${payload.byteLength} bytes exceeds the record limit ${MAX_RECORD_PAYLOAD_BYTES}`);
    }
    const batchFrameBytes = FRAME_HEADER_BYTES + payload.byteLength;
    // Roll before a record would push a non-empty segment past its limit, so a segment
    // only exceeds segmentBytes when one record alone does.
    const roll = this.segmentOffset > 0 && this.segmentOffset + batchFrameBytes > this.segmentBytes;
    const sequence = roll ? this.segment + 1 : this.segment;
    const needsHeader = roll || this.segmentOffset === 0;
    // The batch payload is a view into the encoder's buffer: copy it before encoding the header.
    this.ensureWriteBuffer(batchFrameBytes + (needsHeader ? SEGMENT_HEADER_FRAME_MAX_BYTES : 0));
    let length = 0;
    if (needsHeader) {
      const batchCopy = Buffer.from(payload);
      length += writeFrame(this.writeBuffer, 0, encodeSegmentHeaderPayload(sequence));
      length += writeFrame(this.writeBuffer, length, batchCopy);
    } else {
      length += writeFrame(this.writeBuffer, 0, payload);
    }
    if (this.verifyWrites) this.verifyFrames(this.writeBuffer.subarray(0, length), needsHeader ? sequence : null);

    try {
      if (roll) {
        this.closeCurrentSegment();
        this.fd = this.createSegment(sequence);
        this.segment = sequence;
        this.segmentOffset = 0;
      }
      const fd = this.fd;
      invariant(fd !== null, () => 'sync: no open segment');
      let written = 0;
      while (written < length) {
        written += writeSync(fd, this.writeBuffer, written, length - written, this.segmentOffset + written);
      }
      this.segmentOffset += length;
    } catch (error) {
      this.phase = Phase.Failed;
      if (error instanceof StorageError) throw error;
      throw ioError(`cannot write WAL segment ${join(this.dir, segmentFileName(this.segment))}`, error);
    }
    this.pending.clear();
    if (this.writeBuffer.byteLength > WRITE_BUFFER_KEEP_BYTES) this.writeBuffer = Buffer.allocUnsafe(WRITE_BUFFER_INITIAL_BYTES);
    return this.fd;
  }

  syncedPosition(): SyncedPosition {
    return this.synced;
  }

  stats(): StorageStats {
    let walBytes = this.segmentOffset;
    const files: string[] = [];
    for (const closed of this.closedSegments) {
      walBytes += closed.bytes;
      files.push(closed.name);
    }
    if (this.segment > 0) files.push(segmentFileName(this.segment));
    return { walBytes, files, fsyncCount: this.fsyncCount, fsyncTotalMs: this.fsyncTotalMs };
  }

  close(): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.pending.clear();
    if (this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      try {
        closeSync(fd);
      } catch (error) {
        throw ioError(`cannot close WAL segment in ${this.dir}`, error);
      }
    }
  }

  private requirePhase(expected: Phase, operation: string): void {
    if (this.phase !== expected) {
      throw new StorageError(StorageErrorCode.State, `${operation}() on WAL ${this.dir} needs the storage ${expected}, but it is ${this.phase}`);
    }
  }

  private ensureWriteBuffer(bytes: number): void {
    if (this.writeBuffer.byteLength >= bytes) return;
    let size = this.writeBuffer.byteLength;
    while (size < bytes) size *= 2;
    this.writeBuffer = Buffer.allocUnsafe(size);
  }

  /** Creates a new, empty segment and makes its name durable. */
  private createSegment(sequence: number): number {
    const path = join(this.dir, segmentFileName(sequence));
    let fd: number;
    try {
      fd = openSync(path, 'wx+');
    } catch (error) {
      throw ioError(`cannot create WAL segment ${path}`, error);
    }
    if (this.fsync) fsyncDirectory(this.dir);
    return fd;
  }

  private closeCurrentSegment(): void {
    const fd = this.fd;
    invariant(fd !== null, () => 'roll: no open segment');
    this.fd = null;
    closeSync(fd);
    this.closedSegments.push({ name: segmentFileName(this.segment), bytes: this.segmentOffset });
  }

  /** Test aid: the frames about to be written decode back to what was buffered. */
  private verifyFrames(frames: Buffer, headerSequence: number | null): void {
    let offset = 0;
    if (headerSequence !== null) {
      const read = readFrame(frames, 0);
      invariant(read.ok, () => 'verifyWrites: header frame does not read back');
      const decoded = decodeRecord(read.payload);
      invariant(decoded.ok && decoded.record.kind === RecordKind.SegmentHeader && decoded.record.sequence === headerSequence, () => 'verifyWrites: header record does not decode back');
      offset = read.next;
    }
    const read = readFrame(frames, offset);
    invariant(read.ok && read.next === frames.length, () => 'verifyWrites: batch frame does not read back');
    const decoded = decodeRecord(read.payload);
    invariant(decoded.ok && decoded.record.kind === RecordKind.Batch, () => 'verifyWrites: batch record does not decode');
    const record = decoded.record;
    const pending = this.pending;
    invariant(record.terms.length === pending.entries.length, () => `verifyWrites: ${record.terms.length} entries decoded, ${pending.entries.length} buffered`);
    invariant(pending.entries.length === 0 || record.firstIndex === pending.firstIndex, () => `verifyWrites: first index ${record.firstIndex}, buffered ${pending.firstIndex}`);
    for (let i = 0; i < record.terms.length; i++) {
      const entry = pending.entries[i]!;
      const data = record.datas[i]!;
      invariant(record.terms[i] === entry.term, () => `verifyWrites: entry ${entry.index} term differs`);
      invariant(data === null ? entry.data === null : entry.data !== null && Buffer.compare(data, entry.data) === 0, () => `verifyWrites: entry ${entry.index} data differs`);
    }
    const hard = pending.hardState;
    invariant(
      hard === null
        ? record.hardState === null
        : record.hardState !== null && record.hardState.currentTerm === hard.currentTerm && record.hardState.votedFor === hard.votedFor && record.hardState.commitIndex === hard.commitIndex,
      () => 'verifyWrites: hard state differs',
    );
  }
}

/**
 * Opens (creating it if missing) the WAL in `dir`, e.g. `<dataDir>/node-<id>/`.
 * Call load() next: nothing else works before it.
 */
export function openFileStorage(dir: string, options: FileStorageOptions): LogStorage {
  return new FileStorage(dir, options);
}

/**
 * Simulates a power loss that keeps only what was fdatasync'ed: deletes every segment
 * after position.segment and cuts that one to position.offset. For the supervisor, on a
 * node whose storage is closed (its worker is gone).
 *
 * Segment 0 means "no position was ever published": the storage never finished load(),
 * so it wrote nothing, and nothing is dropped.
 */
export function truncateToSyncedPosition(dir: string, position: SyncedPosition): { bytesDropped: number } {
  invariant(Number.isSafeInteger(position.segment) && position.segment >= 0, () => `truncateToSyncedPosition: segment ${position.segment} is not a sequence number`);
  if (position.segment === 0) return { bytesDropped: 0 };
  invariant(Number.isSafeInteger(position.offset) && position.offset >= 0, () => `truncateToSyncedPosition: offset ${position.offset} is negative`);
  let bytesDropped = 0;
  let changed = false;
  for (const name of walFiles(dir)) {
    const sequence = segmentSequence(name);
    if (sequence === null || sequence < position.segment) continue;
    const path = join(dir, name);
    try {
      if (sequence > position.segment) {
        bytesDropped += statSync(path).size;
        unlinkSync(path);
        changed = true;
        continue;
      }
      const fd = openSync(path, 'r+');
      try {
        const size = fstatSync(fd).size;
        invariant(size >= position.offset, () => `truncateToSyncedPosition: ${path} has ${size} bytes, fewer than the synced offset ${position.offset}`);
        if (size > position.offset) {
          ftruncateSync(fd, position.offset);
          fdatasyncSync(fd);
          bytesDropped += size - position.offset;
        }
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      if (error instanceof StorageError) throw error;
      throw ioError(`cannot truncate WAL segment ${path}`, error);
    }
  }
  if (changed) fsyncDirectory(dir);
  return { bytesDropped };
}
