// FileStorage: the WAL in segment files under a node's directory, with group commit
// (one write and one fdatasync per sync()) and a recovery that cuts a torn tail but
// refuses anything else that is wrong.

import { randomBytes } from 'node:crypto';
import { close, closeSync, constants, fdatasync, fdatasyncSync, fstat, fstatSync, fsync, ftruncate, ftruncateSync, fsyncSync, linkSync, mkdirSync, open, openSync, readFileSync, readSync, readdirSync, renameSync, statSync, statfsSync, truncateSync, unlink, unlinkSync, write, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Entry, HardState, RestoredState, Snapshot, TermRun } from '../raft/types.js';
import { SnapshotCorruptionError, StorageCorruptionError, StorageError, StorageErrorCode, invariant } from './errors.js';
import {
  FRAME_HEADER_BYTES,
  LogShape,
  PendingBatch,
  RecordKind,
  REDUNDANT_SEGMENT_SUFFIX,
  batchEntry,
  checkEntriesForAppend,
  SNAPSHOT_FILE_NAME,
  SNAPSHOT_ASYNC_TEMP_PREFIX,
  SNAPSHOT_ASYNC_TEMP_SUFFIX,
  SNAPSHOT_TEMP_FILE_NAME,
  SPARE_SEGMENT_PREFIX,
  SPARE_SEGMENT_SUFFIX,
  WAL_FORMAT_VERSION,
  decodeRecord,
  describeOwner,
  isWalOwner,
  decodeSnapshotFile,
  encodeBatchPayload,
  encodeSegmentHeaderPayload,
  encodeSnapshotFileHead,
  encodeSnapshotRecordPayload,
  readFrame,
  type FrameRead,
  sameEntryMembership,
  segmentFileName,
  segmentSequence,
  TAIL_MARKER_PREFIX,
  tailMarkerName,
  tailMarkerSequence,
  walFiles,
  writeFrame,
} from './record.js';
import type { FileStorageOptions, FileStorageTestOnly, LogStorage, RecoveryReport, SegmentDeletionHooks, SnapshotRenameHooks, StorageStats, SyncedPosition, WalOwner } from './types.js';
import { WrittenLog, type RecordPlace } from './written-log.js';
import { DEFAULT_SEGMENT_BYTES, MAX_RECORD_PAYLOAD_BYTES, MIN_SEGMENT_BYTES } from './types.js';
import { checkMembership } from '../transport/membership-wire.js';

export { walFiles } from './record.js';

/** The write buffer starts here and doubles as needed; it is reused across syncs. */
const WRITE_BUFFER_INITIAL_BYTES = 1 << 20;
/** A write buffer grown past this by one huge batch is released afterwards. */
const WRITE_BUFFER_KEEP_BYTES = 16 << 20;
/** Room reserved for a segment header frame (its payload: three small integers and the owner, a cluster id of at most 64 characters and a node id: at most 98 bytes). */
const SEGMENT_HEADER_FRAME_MAX_BYTES = 128;

/**
 * Word, in a node's directory, that the next start must not trust the last segment's pages
 * as the page cache holds them: a failed fdatasync may leave the pages it could not write
 * marked clean ("fsyncgate"), so a start in the same boot would read them, and its own
 * fdatasync pass, as if durable. A load that finds it writes the last segment again (every
 * page dirty again) before its fdatasync.
 *
 * load() leaves it before its fdatasync of the last segment and removes it only once that
 * fdatasync and its directory fsync have succeeded (a failed directory fsync at a start is
 * remembered the same way); a failed storage leaves it when its cut back to what it
 * acknowledged fails. Made durable (the file and the directory fsynced): the page cache it
 * guards against need not be the crashed kernel's (a hypervisor's page cache survives a
 * reboot of the virtual machine above it). A start that cannot leave it refuses
 * (WAL_IO) before its fdatasync: without the word written first, a failure of that
 * fdatasync would leave the next start trusting pages with nothing to tell it otherwise.
 */
export const RESYNC_NEEDED_FILE_NAME = 'wal-resync-needed';

/** Where leaveResyncWord fails, for FileStorageTestOnly.ioErrorOnResyncWord. */
type ResyncWordStep = NonNullable<FileStorageTestOnly['ioErrorOnResyncWord']>;

/** Leaves RESYNC_NEEDED_FILE_NAME in `dir`, durably (the file fsynced, then the directory); throws WAL_IO if it could not. */
function leaveResyncWord(dir: string, inject: ResyncWordStep | undefined): void {
  const path = join(dir, RESYNC_NEEDED_FILE_NAME);
  let fd: number | null = null;
  try {
    if (inject === 'create') throw injectedIoError('open');
    fd = openSync(path, 'w');
    if (inject === 'fsync') throw injectedIoError('fsync');
    fsyncSync(fd);
  } catch (error) {
    throw ioError(`cannot leave ${path}`, error);
  } finally {
    if (fd !== null) closeSync(fd);
  }
  if (inject === 'directory-fsync') throw ioError(`cannot fsync directory ${dir}`, injectedIoError('fsync'));
  fsyncDirectory(dir);
}

function fileExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ioError(`cannot stat ${path}`, error);
  }
}

/** The sequences the tail markers in `dir` name, ascending (one, as a rule; none in a WAL of format 1). */
function tailMarkers(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(`cannot list WAL directory ${dir}`, error);
  }
  const sequences: number[] = [];
  for (const name of names) {
    const sequence = tailMarkerSequence(name);
    if (sequence !== null) sequences.push(sequence);
  }
  return sequences.sort((a, b) => a - b);
}

function sameOwner(a: WalOwner, b: WalOwner): boolean {
  return a.cluster === b.cluster && a.node === b.node;
}
/**
 * A spare segment is zero-filled in writes of this size, each durable before the next
 * (O_DSYNC): written in one go and fsynced at the end, 64 MiB queued ahead of the WAL's
 * own fdatasyncs stalled them for up to 60 ms here; in 256 KiB steps, for 13-17 ms at most.
 */
const SPARE_FILL_CHUNK_BYTES = 256 * 1024;
/**
 * A spare is prepared once the current segment holds this much (or half of segmentBytes,
 * if that is less), so a node that writes little writes no spare. Segments usually end
 * at a snapshot (its record starts a fresh one), long before segmentBytes: a spare is
 * sized a quarter above what the previous segment held, at least SPARE_MIN_BYTES.
 */
const SPARE_START_BYTES = 1 << 20;
const SPARE_MIN_BYTES = 4 << 20;
/** The zeros spare segments are filled with and zero tails are compared against. */
const ZEROS = Buffer.alloc(SPARE_FILL_CHUNK_BYTES);
/**
 * A spare is prepared only while the disk has this many times its size free. The fill
 * takes its size at once, but the WAL goes on writing into the current segment until the
 * roll that takes the spare, up to about a spare's size more (a spare is sized a quarter
 * above what the previous segment held), and the other nodes of a cluster usually share
 * the disk. Below twice its size, the spare would take space the WAL is about to need:
 * all a spare saves is an inode write per fdatasync into the next segment, not worth a
 * failed append. (One statfs per preparation, about one per segment.)
 */
const SPARE_FREE_SPACE_FACTOR = 2;

function ioError(what: string, error: unknown): StorageError {
  return new StorageError(StorageErrorCode.Io, `${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/** The file system is out of space (or the user out of quota): the error, or the one a StorageError wraps. */
function isNoSpace(error: unknown): boolean {
  const code = (error instanceof StorageError ? (error.cause as NodeJS.ErrnoException | undefined) : (error as NodeJS.ErrnoException | undefined))?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** The error Node gives for ENOSPC, made by FileStorageTestOnly's injections. */
function injectedNoSpace(syscall: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`ENOSPC: no space left on device, ${syscall} (injected: testOnly)`);
  error.code = 'ENOSPC';
  error.errno = -28;
  error.syscall = syscall;
  return error;
}

/** The error Node gives for EIO, made by FileStorageTestOnly's injections. */
function injectedIoError(syscall: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`EIO: i/o error, ${syscall} (injected: testOnly)`);
  error.code = 'EIO';
  error.errno = -5;
  error.syscall = syscall;
  return error;
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

/**
 * A directory that was just created (`created`: what mkdirSync({ recursive: true })
 * returned, the first of them) is only durable once its parent's entry is: fsyncs the
 * parent of `dir` and of each directory made with it. Nothing when none was made.
 */
export function syncCreatedDirectories(dir: string, created: string | undefined): void {
  if (created === undefined) return;
  for (let child = resolve(dir); ; child = dirname(child)) {
    fsyncDirectory(dirname(child));
    if (child === resolve(created) || dirname(child) === child) break;
  }
}

/** fsyncDirectory on libuv's pool. */
function fsyncDirectoryAsync(dir: string, done: (error: Error | null) => void): void {
  const fail = (error: unknown): void => done(ioError(`cannot fsync directory ${dir}`, error));
  open(dir, 'r', (openError, fd) => {
    if (openError !== null) return fail(openError);
    fsync(fd, (syncError) => close(fd, () => (syncError !== null ? fail(syncError) : done(null))));
  });
}

/**
 * How much of a redundant segment one step of its deletion frees (see unlinkAsync).
 * Unlinking a 15 MB segment at once held up a concurrent WAL fdatasync for 21-34 ms here
 * (4 deletions a second beside a 20 KB write + fdatasync loop); truncating it 256 KiB at a
 * time first, 3.4-5.3 ms at most.
 */
const DELETE_STEP_BYTES = 256 * 1024;

/**
 * Deletes `paths`, files just renamed redundant, on libuv's pool: with fsync, the directory
 * is fsynced first, so the renames are durable before any file is cut (`renamesDurable`
 * runs then); a power loss before that may bring a segment back under its old name, and
 * it must come back whole, not cut down (a short segment before the last is refused as
 * corrupt), whether or not the file system keeps a rename and a later truncation in order.
 * Then each is deleted: unlinking a segment of tens of megabytes took 10-15 ms, which on
 * the node's thread was a stall every client of the node waited out; on the pool it
 * still stalled the node's fdatasyncs while the file system freed its blocks, so each
 * file is first cut down DELETE_STEP_BYTES at a time (its name is redundant, durably:
 * recovery never reads it). The unlinks are not synced: one a power loss undoes leaves a
 * redundant file, which load() removes. A file already gone (load() removed it) is not an
 * error. `done` always runs later, never before unlinkAsync returns.
 */
function unlinkAsync(
  dir: string,
  paths: readonly string[],
  fsyncOn: boolean,
  directorySyncDelayMs: number,
  injectFailure: () => boolean,
  renamesDurable: () => void,
  done: (error: Error | null) => void,
): void {
  const next = (i: number): void => {
    if (i === paths.length) return done(null);
    const path = paths[i]!;
    const fail = (error: NodeJS.ErrnoException): void => (error.code === 'ENOENT' ? next(i + 1) : done(ioError(`cannot delete ${path}`, error)));
    const remove = (): void => unlink(path, (error) => (error !== null ? fail(error) : next(i + 1)));
    open(path, 'r+', (openError, fd) => {
      if (openError !== null) return fail(openError);
      if (injectFailure()) return close(fd, () => fail(injectedIoError('unlink')));
      const shrink = (size: number): void => {
        if (size === 0) return close(fd, (closeError) => (closeError !== null ? fail(closeError) : remove()));
        const to = Math.max(0, size - DELETE_STEP_BYTES);
        ftruncate(fd, to, (error) => (error !== null ? close(fd, () => fail(error)) : shrink(to)));
      };
      fstat(fd, (statError, stats) => (statError !== null ? close(fd, () => fail(statError)) : shrink(stats.size)));
    });
  };
  // Never from inside unlinkAsync: a caller's try around it must not catch what done throws.
  if (paths.length === 0) return queueMicrotask(() => done(null));
  if (!fsyncOn) {
    return queueMicrotask(() => {
      renamesDurable();
      next(0);
    });
  }
  const syncDirectory = (): void =>
    fsyncDirectoryAsync(dir, (error) => {
      if (error !== null) return done(error);
      renamesDurable();
      next(0);
    });
  if (directorySyncDelayMs > 0) setTimeout(syncDirectory, directorySyncDelayMs).unref();
  else syncDirectory();
}

/** Flags of the fd a spare segment is filled through: every write durable (O_DSYNC). */
const SPARE_FILL_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DSYNC;

/**
 * Fills the new file `path`, open as `fillFd` (SPARE_FILL_FLAGS), with `bytes` zeros off
 * the caller's thread, stopping as soon as `wanted()` says no. Closes `fillFd` in every
 * case (only here: an fd closed under a write in flight could be reused by another file
 * before the write lands). `done` gets an fd open for writing at any position, or null
 * when it stopped or failed, the file then deleted.
 */
function fillSpareSegment(path: string, fillFd: number, bytes: number, wanted: () => boolean, done: (fd: number | null, error: Error | null) => void): void {
  const giveUp = (error: Error | null): void => unlink(path, () => done(null, error));
  const fillFrom = (position: number): void => {
    if (!wanted()) return close(fillFd, () => giveUp(null));
    if (position >= bytes) return close(fillFd, reopen);
    const length = Math.min(ZEROS.length, bytes - position);
    write(fillFd, ZEROS, 0, length, position, (error, written) => {
      if (error !== null) return close(fillFd, () => giveUp(ioError(`cannot fill spare WAL segment ${path}`, error)));
      fillFrom(position + written);
    });
  };
  // Every block is written and durable, size included (O_DSYNC): writes into the file
  // from now on change no metadata, so an fdatasync on it need not commit the journal.
  const reopen = (closeError: Error | null): void => {
    if (closeError !== null) return giveUp(ioError(`cannot close spare WAL segment ${path}`, closeError));
    if (!wanted()) return giveUp(null);
    open(path, 'r+', (error, fd) => (error !== null ? giveUp(ioError(`cannot open spare WAL segment ${path}`, error)) : done(fd, null)));
  };
  fillFrom(0);
}

/** Where the run of zero bytes that ends `buffer` starts (buffer.length: it ends in a non-zero byte). */
function zeroTailStart(buffer: Buffer): number {
  let end = buffer.length;
  while (end > 0) {
    const start = Math.max(0, end - ZEROS.length);
    if (buffer.compare(ZEROS, 0, end - start, start, end) !== 0) break;
    end = start;
  }
  while (end > 0 && buffer[end - 1] === 0) end--;
  return end;
}

/**
 * syncAsync calls that may be in flight at once: a second fdatasync starts while a slow
 * one runs, so the writes made meanwhile do not wait for it to end before their own
 * begins (1 node, closed loop x1.07-x1.15 in 3 of 3 alternating rounds; open loop at
 * 300,000 writes/s, p99 median 5.9 against 8.8 ms over 5 rounds; lib/bench/README.md).
 */
export const MAX_ASYNC_SYNCS = 2;

interface AsyncSync {
  readonly number: number;
  /** The end of what was written when it was called: durable once it is settled. */
  readonly position: SyncedPosition;
  readonly started: number;
  readonly done: (error: Error | null, latencyMs: number) => void;
  /** False when it wrote nothing (or fsync is off): it rides on the syncs before it. */
  readonly ownFdatasync: boolean;
  /** The fd its fdatasync runs on, of its own while it runs (see SyncFd); null: none. */
  readonly syncFd: SyncFd | null;
  /** Its own fdatasync returned, without an error. */
  returned: boolean;
}

/**
 * An fd of a segment that syncAsync's fdatasyncs run on, one at a time: the kernel reports
 * a write-back error once per open file, to the first fdatasync that checks after it, so
 * two fdatasyncs in flight on one fd could see the earlier return success while the later
 * took the error for the earlier's pages. On fds of their own, each sees every error that
 * came after the fd's previous fdatasync (or its open), and no write it covers came before
 * that. Kept for the next syncAsync on the segment once its fdatasync returned: at most
 * MAX_ASYNC_SYNCS per segment, opened once each.
 */
interface SyncFd {
  readonly fd: number;
  readonly segment: number;
}

/** A segment being prepared for the next roll: its fd is null while it is filled. */
interface SpareSegment {
  readonly path: string;
  fd: number | null;
}

/**
 * The last WAL write of a sync(), kept until its fdatasync returns: an fdatasync that
 * ran out of space is retried (once) only after this is written again (see syncWritten).
 */
interface UnsyncedWrite {
  readonly buffer: Buffer;
  readonly length: number;
  /** Where in the current segment it was written. */
  readonly position: number;
}

interface SegmentScan {
  readonly sequence: number;
  readonly path: string;
  /** Bytes of whole, verified records. */
  readonly validBytes: number;
  readonly fileBytes: number;
  /** Where the zeros that end the file start (fileBytes: it does not end in zeros). A
   *  prepared segment is zero-filled: its unused tail is zeros, not a torn record. */
  readonly zeroTailFrom: number;
  /** The highest entry index any batch in the segment wrote (0: none): a segment whose
   *  maxIndex is at or below the snapshot holds nothing the snapshot does not. */
  readonly maxIndex: number;
}

interface Recovered {
  readonly shape: LogShape;
  /** The log after the snapshot: entries[i] has index shape.firstIndex + i. */
  readonly entries: Entry[];
  readonly segments: readonly SegmentScan[];
  readonly records: number;
  /** The snapshot file's cut is not recorded in the WAL (a crash came between the two): load() records it. */
  readonly snapshotUnrecorded: boolean;
  /** A segment header of format 2 was read: the WAL was written with a tail marker. */
  readonly markedFormat: boolean;
  /** The last segment's bytes as read (null: no segment). */
  readonly lastBuffer: Buffer | null;
}

/**
 * Reads the snapshot file, if there is one. A damaged one is refused: the log before
 * it is gone, so nothing could replace it.
 */
function readSnapshotFile(dir: string): Snapshot | null {
  const path = join(dir, SNAPSHOT_FILE_NAME);
  let buffer: Buffer;
  try {
    buffer = readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError(`cannot read snapshot ${path}`, error);
  }
  const decoded = decodeSnapshotFile(buffer);
  if (!decoded.ok) throw new SnapshotCorruptionError(path, decoded.offset, decoded.expected, decoded.found);
  // A file without a configuration (written before there were any) gives a snapshot without the key.
  if (decoded.membership === null) return { index: decoded.index, term: decoded.term, data: decoded.data };
  return { index: decoded.index, term: decoded.term, data: decoded.data, membership: decoded.membership };
}

/** How a snapshot file's write is watched (FileStorageOptions.onSnapshotRename) and broken (testOnly.snapshotRenameBeforeFsync). */
interface SnapshotFileWatch {
  readonly onRename: SnapshotRenameHooks | undefined;
  /** Test-only: rename without the file's fsync first. */
  readonly skipFsync: boolean;
  /** Test-only: ms before the directory fsync after an asynchronous save's rename. */
  readonly directorySyncDelayMs: number;
}

/** Writes the snapshot file atomically: a temporary file, fsynced, renamed over the old one, the directory fsynced. */
function writeSnapshotFile(dir: string, snapshot: Snapshot, fsync: boolean, injectNoSpace: boolean, watch: SnapshotFileWatch): number {
  // The head, then the state machine's bytes as they are (as writeSnapshotFileAsync does):
  // packing and framing them whole copied a 63 MB snapshot twice into fresh memory, 0.5-1.4 s
  // of an installing follower's thread.
  const head = encodeSnapshotFileHead(snapshot.index, snapshot.term, snapshot.data, snapshot.membership);
  const temporary = join(dir, SNAPSHOT_TEMP_FILE_NAME);
  let fd: number | null = null;
  /** This rename's number for watch.onRename. */
  let rename = 0;
  try {
    fd = openSync(temporary, 'w');
    let offset = 0;
    for (const bytes of [head, snapshot.data]) {
      if (injectNoSpace && offset > 0) throw injectedNoSpace('write');
      let written = 0;
      while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written, offset + written);
      offset += written;
    }
    const dataSynced = fsync && !watch.skipFsync;
    if (dataSynced) fsyncSync(fd);
    closeSync(fd);
    fd = null;
    rename = watch.onRename?.renaming(dataSynced) ?? 0;
    renameSync(temporary, join(dir, SNAPSHOT_FILE_NAME));
  } catch (error) {
    if (fd !== null) closeSync(fd);
    // A file cut short by a full disk holds space the other nodes on it need, and the node
    // may not restart (and load() remove it) for a while.
    try {
      unlinkSync(temporary);
    } catch {
      // Never created, or renamed in: nothing to remove.
    }
    throw ioError(`cannot write snapshot ${join(dir, SNAPSHOT_FILE_NAME)}`, error);
  }
  if (fsync) fsyncDirectory(dir);
  watch.onRename?.durable(rename);
  return head.byteLength + snapshot.data.byteLength;
}

/** Deletes what a crash or stop cut short: temporary files of snapshot saves, redundant segments not yet unlinked, spare segments. */
function removeStrayFiles(dir: string): void {
  for (const name of readdirSync(dir)) {
    const asyncTemporary = (name.startsWith(SNAPSHOT_ASYNC_TEMP_PREFIX) && name.endsWith(SNAPSHOT_ASYNC_TEMP_SUFFIX)) || name === SNAPSHOT_TEMP_FILE_NAME;
    const redundant = name.endsWith(REDUNDANT_SEGMENT_SUFFIX) && segmentSequence(name.slice(0, -REDUNDANT_SEGMENT_SUFFIX.length)) !== null;
    const spare = name.startsWith(SPARE_SEGMENT_PREFIX) && name.endsWith(SPARE_SEGMENT_SUFFIX);
    if (!asyncTemporary && !redundant && !spare) continue;
    try {
      unlinkSync(join(dir, name));
    } catch {
      // Already gone (its save finished or gave up meanwhile): nothing to clean.
    }
  }
}

/**
 * writeSnapshotFile off the caller's thread, in steps on libuv's pool: a temporary file of
 * its own written, fsynced and closed; then `beforeRename` on the caller's thread decides
 * whether it still goes in (false: a newer snapshot was saved meanwhile, or the storage
 * was closed, and the file is dropped); the rename is synchronous there, so nothing can
 * come between that check and it; the directory is fsynced last. `done` gets whether
 * the file went in.
 */
function writeSnapshotFileAsync(
  dir: string,
  snapshot: Snapshot,
  fsyncOn: boolean,
  injectNoSpace: boolean,
  watch: SnapshotFileWatch,
  beforeRename: () => boolean,
  done: (error: Error | null, renamed: boolean) => void,
): void {
  // The head, then the state machine's bytes as they are: nothing large is copied here.
  const head = encodeSnapshotFileHead(snapshot.index, snapshot.term, snapshot.data, snapshot.membership);
  const parts = [head, snapshot.data];
  const fileBytes = head.byteLength + snapshot.data.byteLength;
  const temporary = join(dir, `${SNAPSHOT_ASYNC_TEMP_PREFIX}${randomBytes(6).toString('hex')}${SNAPSHOT_ASYNC_TEMP_SUFFIX}`);
  // The temporary file goes first, as in writeSnapshotFile: its space is the other nodes' too.
  const fail = (error: unknown): void => unlink(temporary, () => done(ioError(`cannot write snapshot ${join(dir, SNAPSHOT_FILE_NAME)}`, error), false));
  const dataSynced = fsyncOn && !watch.skipFsync;
  open(temporary, 'w', (openError, fd) => {
    if (openError !== null) return fail(openError);
    const closeAndFail = (error: unknown): void => close(fd, () => fail(error));
    const writeFrom = (offset: number): void => {
      if (offset === fileBytes) return dataSynced ? fsync(fd, (error) => (error !== null ? closeAndFail(error) : closeThenRename())) : closeThenRename();
      // The part that holds file offset `offset`, from there on (a short write resumes mid-part).
      const part = offset < head.byteLength ? 0 : 1;
      const from = part === 0 ? offset : offset - head.byteLength;
      const bytes = parts[part]!;
      if (injectNoSpace && part === 1) return closeAndFail(injectedNoSpace('write'));
      write(fd, bytes, from, bytes.byteLength - from, offset, (error, written) => (error !== null ? closeAndFail(error) : writeFrom(offset + written)));
    };
    const closeThenRename = (): void =>
      close(fd, (closeError) => {
        if (closeError !== null) return fail(closeError);
        if (!beforeRename()) {
          try {
            unlinkSync(temporary);
          } catch {
            // A stray temporary file is harmless: load() never reads it, and removes it.
          }
          return done(null, false);
        }
        let rename = 0;
        try {
          rename = watch.onRename?.renaming(dataSynced) ?? 0;
          renameSync(temporary, join(dir, SNAPSHOT_FILE_NAME));
        } catch (error) {
          return fail(error);
        }
        if (!fsyncOn) {
          watch.onRename?.durable(rename);
          return done(null, true);
        }
        const syncDirectory = (): void =>
          fsyncDirectoryAsync(dir, (error) => {
            if (error === null) watch.onRename?.durable(rename);
            done(error, error === null);
          });
        if (watch.directorySyncDelayMs > 0) setTimeout(syncDirectory, watch.directorySyncDelayMs).unref();
        else syncDirectory();
      });
    writeFrom(0);
  });
}

/**
 * Is there a whole, CRC-valid, decodable record starting anywhere in buffer[from..]?
 * Tells a torn tail (nothing valid after the bad record) from a corrupted middle.
 */
function findValidRecordAfter(buffer: Buffer, from: number, end: number): number | null {
  // A record's header starts with its non-zero length: none starts in the zero tail.
  for (let offset = from; offset < end && offset + FRAME_HEADER_BYTES < buffer.length; offset++) {
    const length = buffer.readUInt32LE(offset);
    if (length < 1 || length > buffer.length - offset - FRAME_HEADER_BYTES) continue;
    const read = readFrame(buffer, offset);
    if (read.ok && decodeRecord(read.payload).ok) return offset;
  }
  return null;
}

/**
 * A disk writes a sector whole or not at all, so a crash during the WAL's last write
 * leaves some of the record's sectors as they were before it: zeros, since the WAL only
 * ever writes at its end, into a zero-filled prepared segment or past the end of the
 * file. (etcd's WAL tells a torn entry from a corrupt one the same way.)
 */
const TORN_WRITE_SECTOR_BYTES = 512;

/**
 * Null when the bad final record at `offset` may be a write that a crash tore; else why
 * it cannot be, and it is corruption (a flipped bit in an acknowledged record, bytes
 * appended by something else): the node must not start and drop it as torn. A torn write
 * leaves the file ending inside the record, a record header not yet written (a zero
 * length), or a CRC mismatch with at least one of the record's sectors after its first
 * still all zeros, as far as the file holds it.
 */
function whyNotTorn(buffer: Buffer, offset: number, read: Extract<FrameRead, { ok: false }>): string | null {
  switch (read.failure) {
    case 'end-of-file':
      return null;
    case 'length':
      return read.length === 0 ? null : 'a length no write of this WAL makes (not a torn write: corruption)';
    case 'crc': {
      const first = Math.floor(offset / TORN_WRITE_SECTOR_BYTES) * TORN_WRITE_SECTOR_BYTES + TORN_WRITE_SECTOR_BYTES;
      for (let sector = first; sector < read.end; sector += TORN_WRITE_SECTOR_BYTES) {
        if (isAllZero(buffer, sector, Math.min(sector + TORN_WRITE_SECTOR_BYTES, buffer.length))) return null;
      }
      return `and no ${TORN_WRITE_SECTOR_BYTES}-byte sector of the record is zeros, as a torn write would leave one (corruption)`;
    }
  }
}

/**
 * Records whose fdatasync may not have returned when the power fails, at most: the
 * MAX_ASYNC_SYNCS syncAsync calls that may be in flight (one record each), and a sync()
 * or saveSnapshot() made meanwhile (its own record, synced before it returns). A roll
 * to a new segment fdatasyncs the old one first, so they all lie in the last segment.
 */
const MAX_UNSYNCED_RECORDS = MAX_ASYNC_SYNCS + 1;

/**
 * whyNotTorn for a bad record at `offset` with a valid record after it (at `validAt`):
 * with more than one write in flight, the power may fail with a later write's pages
 * written back and an earlier one's not (the disk writes back pages in any order). Nothing
 * of them was acknowledged: an fdatasync that returned covered every write before it, so
 * a later record acknowledged means this one was durable. So it may be torn when it is
 * as a write the disk did not finish leaves it (its length still zero, or one of its
 * 512-byte sectors still zeros, before the record that follows), and the records from
 * it to the end of the file are no more than could have been unsynced at once
 * (MAX_UNSYNCED_RECORDS), the last one whole or torn. Anything else is corruption.
 */
function whyNotTornBeforeLater(buffer: Buffer, offset: number, read: Extract<FrameRead, { ok: false }>, validAt: number, zeroTailFrom: number): string | null {
  const later = `a valid record after it at offset ${validAt}`;
  // Its header not written (a zero length), or a sector of it not written.
  let zeroSector = read.failure === 'length' && read.length === 0;
  for (let sector = Math.ceil(offset / TORN_WRITE_SECTOR_BYTES) * TORN_WRITE_SECTOR_BYTES; !zeroSector && sector + TORN_WRITE_SECTOR_BYTES <= validAt; sector += TORN_WRITE_SECTOR_BYTES) {
    if (isAllZero(buffer, sector, sector + TORN_WRITE_SECTOR_BYTES)) {
      zeroSector = true;
      break;
    }
  }
  if (!zeroSector) return `with ${later}, and neither its length nor any ${TORN_WRITE_SECTOR_BYTES}-byte sector between them is zeros, as a write the disk did not finish would leave (corruption)`;
  let records = 1;
  let at = validAt;
  while (at < buffer.length && at < zeroTailFrom) {
    const read = readFrame(buffer, at);
    records++;
    if (!read.ok) {
      const validAfter = findValidRecordAfter(buffer, at + 1, zeroTailFrom);
      const notTorn = validAfter === null ? whyNotTorn(buffer, at, read) : `another bad record at offset ${at} with a valid record after it at offset ${validAfter}`;
      if (notTorn !== null) return `with ${later}, and ${notTorn}`;
      break;
    }
    at = read.next;
  }
  if (records > MAX_UNSYNCED_RECORDS) {
    return `with ${later}: ${records} records from it to the end of the file, more than the ${MAX_UNSYNCED_RECORDS} a crash can leave unsynced (corruption)`;
  }
  return null;
}

function isAllZero(buffer: Buffer, from: number, to: number): boolean {
  return buffer.compare(ZEROS, 0, to - from, from, to) === 0;
}

/**
 * Reads every segment in order and replays it on top of the snapshot (if any). Modifies
 * nothing: the caller cuts the torn tail (if any) only after the whole WAL has been
 * verified.
 *
 * With a snapshot, segments that held only entries up to it may have been deleted, so
 * the first batch replayed may start anywhere up to the snapshot's index + 1: the log
 * replayed starts there, the entries before it unknown (the snapshot stands for them).
 */
function recover(dir: string, names: readonly string[], snapshot: Snapshot | null, owner: WalOwner | null): Recovered {
  const shape = new LogShape();
  let entries: Entry[] = [];
  const segments: SegmentScan[] = [];
  let records = 0;
  let markedFormat = false;
  let lastBuffer: Buffer | null = null;
  /** The owner the first segment header that names one names, and where. */
  let walOwner: { owner: WalOwner; path: string } | null = null;
  const firstName = names[0];
  if (snapshot === null && firstName !== undefined && segmentSequence(firstName) !== 1) {
    throw new StorageCorruptionError(
      join(dir, firstName),
      0,
      `${segmentFileName(1)}, or a snapshot file (${SNAPSHOT_FILE_NAME}) standing for the segments before ${firstName}`,
      `${firstName} first, and no snapshot file`,
    );
  }
  // A snapshot file stands for the log up to its index, not for the term and vote, which
  // live only in the WAL; and the segment a snapshot's record went to is never deleted. A
  // snapshot with no segment at all is a WAL removed from under it: started on, the node
  // would come back at term 0, its vote forgotten (it could vote twice in a term), asking
  // for votes with a log of a later term.
  if (snapshot !== null && firstName === undefined) {
    throw new StorageCorruptionError(
      dir,
      0,
      `WAL segments beside the snapshot file (${SNAPSHOT_FILE_NAME}, index ${snapshot.index}, term ${snapshot.term}): they hold the term and the vote`,
      'no WAL segment',
    );
  }
  // Without a snapshot the log starts at index 1; with one, wherever the WAL begins.
  let anchored = snapshot === null;
  /** The index of the last snapshot record replayed: nothing is ever written at or below it after it. */
  let recordedSnapshotIndex = 0;
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
    let maxIndex = 0;
    const zeroTailFrom = zeroTailStart(buffer);
    while (offset < buffer.length) {
      // A prepared segment's unused room. Every segment but the last starts with a header.
      if (offset >= zeroTailFrom && (offset > 0 || isLast)) break;
      const read = readFrame(buffer, offset);
      if (!read.ok) {
        // Only the final record of the last segment may be torn: a crash interrupts the
        // last write, never one that an fdatasync already covered and a later one followed.
        if (!isLast) throw new StorageCorruptionError(path, offset, read.expected, `${read.found} (in a segment that is not the last)`);
        const validAt = findValidRecordAfter(buffer, offset + 1, zeroTailFrom);
        const notTorn = validAt === null ? whyNotTorn(buffer, offset, read) : whyNotTornBeforeLater(buffer, offset, read, validAt, zeroTailFrom);
        if (notTorn !== null) throw new StorageCorruptionError(path, offset, read.expected, `${read.found}, ${notTorn}`);
        break;
      }
      const decoded = decodeRecord(read.payload);
      if (!decoded.ok) throw new StorageCorruptionError(path, offset, decoded.expected, decoded.found);
      const record = decoded.record;
      const isFirstRecord = offset === 0;
      if (isFirstRecord !== (record.kind === RecordKind.SegmentHeader)) {
        throw new StorageCorruptionError(path, offset, isFirstRecord ? 'a segment header record' : 'a batch or snapshot record', isFirstRecord ? `a record of kind ${record.kind}` : 'a segment header in the middle of a segment');
      }
      switch (record.kind) {
        case RecordKind.SegmentHeader:
          if (record.sequence !== sequence) {
            throw new StorageCorruptionError(path, offset, `a header for segment ${sequence} (the file name)`, `a header for segment ${record.sequence}`);
          }
          if (record.version === WAL_FORMAT_VERSION) markedFormat = true;
          if (record.owner !== null) {
            if (owner !== null && !sameOwner(record.owner, owner)) {
              throw new StorageError(
                StorageErrorCode.Foreign,
                `WAL foreign: ${path} belongs to ${describeOwner(record.owner)}, but is opened as ${describeOwner(owner)}: a WAL (or a segment) copied in from another cluster or node; starting on it could lose committed writes or vote twice in a term`,
              );
            }
            if (walOwner !== null && !sameOwner(record.owner, walOwner.owner)) {
              throw new StorageError(StorageErrorCode.Foreign, `WAL foreign: ${path} belongs to ${describeOwner(record.owner)}, but ${walOwner.path} to ${describeOwner(walOwner.owner)}: a segment copied in from another WAL`);
            }
            walOwner ??= { owner: record.owner, path };
          }
          break;
        case RecordKind.Batch: {
          const firstIndex = record.firstIndex;
          if (
            record.terms.length > 0 &&
            snapshot !== null &&
            (!anchored || firstIndex < shape.firstIndex) &&
            firstIndex <= snapshot.index + 1 &&
            firstIndex > recordedSnapshotIndex
          ) {
            // The first batch after deleted segments, or a conflict truncation reaching
            // back into them: the replayed log starts here (the snapshot stands for what
            // came before).
            shape.resetTo(firstIndex - 1, 0);
            entries = [];
            anchored = true;
          }
          const appendViolation = shape.checkAppend(firstIndex, record.terms);
          if (appendViolation !== null) throw new StorageCorruptionError(path, offset, 'a batch that continues the log', appendViolation);
          if (record.terms.length > 0) {
            shape.applyAppend(firstIndex, record.terms);
            entries.length = firstIndex - shape.firstIndex;
            // Data are views into the segment buffer (a Buffer, which is a Uint8Array).
            for (let i = 0; i < record.terms.length; i++) entries.push(batchEntry(record, i));
            maxIndex = Math.max(maxIndex, firstIndex + record.terms.length - 1);
          }
          if (record.hardState !== null) {
            const hardViolation = shape.checkHardState(record.hardState);
            if (hardViolation !== null) throw new StorageCorruptionError(path, offset, 'a hard state that follows the previous one', hardViolation);
            shape.applyHardState(record.hardState);
          }
          break;
        }
        case RecordKind.Snapshot: {
          if (snapshot === null || record.index > snapshot.index) {
            throw new StorageCorruptionError(path, offset, `a snapshot record at or below the snapshot file's index ${snapshot?.index ?? '(no snapshot file)'}`, `a snapshot record at ${record.index}`);
          }
          if (anchored && shape.firstIndex === record.index + 1 && shape.previousTerm === 0) {
            // The replayed log began right after the snapshot (older segments deleted).
            shape.continueFrom(record.term);
          } else if (anchored && record.index + 1 < shape.firstIndex) {
            // A cut below the log already replayed: an asynchronous snapshot records its
            // cut once its file is durable, after entries appended meanwhile, and a newer
            // snapshot may since have deleted the segments before those entries. Nothing
            // of what was replayed is below it: there is nothing to drop.
          } else if (shape.holds(record.index, record.term)) {
            entries = entries.slice(record.index + 1 - shape.firstIndex);
            shape.compactTo(record.index, record.term);
            anchored = true;
          } else if (record.index < snapshot.index) {
            // An older snapshot whose log was kept in segments deleted since (they held
            // nothing after the newest snapshot): the batches that follow say where the
            // log as replayed starts.
            entries = [];
            shape.resetTo(record.index, record.term);
            anchored = false;
          } else {
            entries = [];
            shape.resetTo(record.index, record.term);
            anchored = true;
          }
          recordedSnapshotIndex = record.index;
          const hardViolation = shape.checkHardState(record.hardState);
          if (hardViolation !== null) throw new StorageCorruptionError(path, offset, 'a hard state that follows the previous one', hardViolation);
          shape.applyHardState(record.hardState);
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
    segments.push({ sequence, path, validBytes: offset, fileBytes: buffer.length, zeroTailFrom, maxIndex });
    if (isLast) lastBuffer = buffer;
  }
  if (snapshot !== null) entries = settleOnSnapshot(dir, shape, entries, anchored, snapshot);
  invariant(
    shape.firstIndex + entries.length - 1 === shape.lastIndex,
    () => `recovered ${entries.length} entries from ${shape.firstIndex} but the shape says last index ${shape.lastIndex}`,
  );
  if (shape.hardState.commitIndex > shape.lastIndex) {
    throw new StorageCorruptionError(join(dir, names[names.length - 1] ?? SNAPSHOT_FILE_NAME), 0, `a commit index at most the last index ${shape.lastIndex}`, `commit index ${shape.hardState.commitIndex}`);
  }
  return { shape, entries, segments, records, snapshotUnrecorded: snapshot !== null && recordedSnapshotIndex < snapshot.index, markedFormat, lastBuffer };
}

/**
 * The replayed log meets the snapshot file (index X, term T), which is authoritative for
 * everything up to X:
 *  - nothing replayed after X: the log is empty after the snapshot;
 *  - the first batch replayed starts at X + 1 (older segments deleted): it continues the snapshot;
 *  - the log holds (X, T): keep what follows (a compaction, or a crash before the
 *    segments the snapshot made redundant were deleted);
 *  - the log holds X with another term: the snapshot came from a leader and the crash hit
 *    before its WAL record; the log it replaced disagreed with the leader at X, so by Log
 *    Matching nothing of it after X is committed: discard it (§7, "Discard the entire log").
 */
function settleOnSnapshot(dir: string, shape: LogShape, entries: Entry[], anchored: boolean, snapshot: Snapshot): Entry[] {
  const { index, term } = snapshot;
  if (!anchored || shape.lastIndex <= index) {
    shape.resetTo(index, term);
    return [];
  }
  if (shape.firstIndex === index + 1 && shape.previousTerm === 0) {
    shape.continueFrom(term);
    return entries;
  }
  if (shape.firstIndex > index + 1) {
    throw new StorageCorruptionError(join(dir, SNAPSHOT_FILE_NAME), 0, `the WAL to continue the snapshot at ${index}`, `the WAL starting at ${shape.firstIndex} (entries are missing)`);
  }
  const keep = shape.holds(index, term) ? entries.slice(index + 1 - shape.firstIndex) : [];
  shape.compactTo(index, term);
  return keep;
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
  private readonly preallocate: boolean;
  private readonly verifyWrites: boolean;
  /** Whose WAL this is (FileStorageOptions.owner): named in every segment header written. */
  private readonly owner: WalOwner | null;
  /** The segment the tail marker names (0: none yet, before load()). */
  private tailMarker = 0;
  private phase: Phase = Phase.Unloaded;
  /** Why the storage failed (phase Failed), for every call after it. */
  private failure: StorageError | null = null;
  private shape = new LogShape();
  private readonly pending = new PendingBatch();
  private fd: number | null = null;
  private segment = 0;
  /** Bytes written to the current segment. */
  private segmentOffset = 0;
  /** The segments before the current one, oldest first: name, size, highest entry index written. */
  private closedSegments: { name: string; bytes: number; maxIndex: number }[] = [];
  /** The highest entry index written to the current segment (0: none). */
  private segmentMaxIndex = 0;
  /** The durable snapshot's position and data size (index 0: none). */
  private snapshotIndex = 0;
  private snapshotBytes = 0;
  /** True while saveSnapshotAsync's file is being written. */
  private snapshotInFlight = false;
  private synced: SyncedPosition = { segment: 0, offset: 0 };
  private readonly onSynced: ((position: SyncedPosition) => void) | undefined;
  private readonly onSnapshotRename: SnapshotRenameHooks | undefined;
  private readonly onSegmentDeletion: SegmentDeletionHooks | undefined;
  private writeBuffer: Buffer = Buffer.allocUnsafe(WRITE_BUFFER_INITIAL_BYTES);
  private fsyncCount = 0;
  /** syncAsync calls whose `done` has not run yet, oldest first. */
  private readonly asyncSyncs: AsyncSync[] = [];
  /** Numbers syncAsync calls; `fdatasyncsRunning` holds those whose fdatasync has not returned. */
  private asyncSyncsStarted = 0;
  private readonly fdatasyncsRunning = new Set<number>();
  /** The current segment's sync fds (SyncFd) that no fdatasync runs on. */
  private freeSyncFds: SyncFd[] = [];
  /** Test aid (testOnly.writebackErrorOnAsyncFdatasyncs): the fd of each running fdatasync whose pages fail write-back, and the later ones that took the error. */
  private readonly writebackErrors = new Map<number, number>();
  private readonly writebackErrorTakenBy = new Set<number>();
  private fsyncTotalMs = 0;
  /** What the WAL holds after the snapshot, as the places of the records written: entries() reads it. */
  private readonly written = new WrittenLog((place) => this.readRecord(place));
  /** The segment being prepared for the next roll, or null. */
  private spare: SpareSegment | null = null;
  /** Spare segments prepared, rolls that took one, and spare segments that could not be prepared. */
  private sparesPrepared = 0;
  private sparesUsed = 0;
  private spareErrors = 0;
  /** Spares given back for a WAL operation that ran out of space, and preparations skipped for want of free space. */
  private sparesDropped = 0;
  private sparesSkipped = 0;
  /** What the segment closed last held (0: none closed since load). */
  private lastClosedSegmentBytes = 0;
  /**
   * No spare is prepared during the current segment: a preparation failed or was skipped
   * for want of space, or a spare was given back to a WAL write that ran out of space.
   * The next is tried after the roll.
   */
  private noSpareInSegment = false;
  /** The last write of sync(), if nothing written before it is still unsynced (else null). */
  private lastWrite: UnsyncedWrite | null = null;
  private readonly testOnly: FileStorageTestOnly;
  /** Operations counted for the injections of testOnly. */
  private walWriteAttempts = 0;
  private fdatasyncAttempts = 0;
  private segmentCreationAttempts = 0;
  private asyncFdatasyncAttempts = 0;
  private snapshotFileAttempts = 0;
  private segmentDeletionAttempts = 0;

  constructor(dir: string, options: FileStorageOptions) {
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    invariant(Number.isSafeInteger(segmentBytes) && segmentBytes >= MIN_SEGMENT_BYTES && segmentBytes <= 0x7fffffff, () => `segmentBytes ${segmentBytes} outside ${MIN_SEGMENT_BYTES}..2^31-1`);
    this.dir = dir;
    this.fsync = options.fsync;
    this.segmentBytes = segmentBytes;
    this.preallocate = options.preallocate ?? options.fsync;
    this.verifyWrites = options.verifyWrites === true;
    invariant(options.owner === undefined || isWalOwner(options.owner), () => `owner ${JSON.stringify(options.owner)} is not { cluster: 1-64 letters, digits, '-' or '_', node: a node id }`);
    this.owner = options.owner ?? null;
    this.onSynced = options.onSynced;
    this.onSnapshotRename = options.onSnapshotRename;
    this.onSegmentDeletion = options.onSegmentDeletion;
    this.testOnly = options.testOnly ?? {};
    let created: string | undefined;
    try {
      created = mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw ioError(`cannot create WAL directory ${dir}`, error);
    }
    if (this.fsync) syncCreatedDirectories(dir, created);
  }

  load(): { state: RestoredState; recovery: RecoveryReport } {
    this.requirePhase(Phase.Unloaded, 'load');
    const started = performance.now();
    const snapshot = readSnapshotFile(this.dir);
    const names = walFiles(this.dir);
    const recovered = recover(this.dir, names, snapshot, this.owner);
    const notes: string[] = [];
    const markers = tailMarkers(this.dir);
    const marker = markers[markers.length - 1] ?? null;
    this.checkTail(recovered, marker);
    const resync = fileExists(join(this.dir, RESYNC_NEEDED_FILE_NAME));
    removeStrayFiles(this.dir);
    // Verified end to end: only now may a file be touched.
    let truncatedBytes = 0;
    let truncatedFile: string | null = null;
    let resyncedBytes = 0;
    const last = recovered.segments[recovered.segments.length - 1];
    if (last === undefined) {
      this.segment = 1;
      this.segmentOffset = 0;
      this.fd = this.createSegment(1);
    } else {
      this.segment = last.sequence;
      this.segmentOffset = last.validBytes;
      this.segmentMaxIndex = last.maxIndex;
      try {
        this.fd = openSync(last.path, 'r+');
      } catch (error) {
        throw ioError(`cannot open WAL segment ${last.path}`, error);
      }
      if (this.fsync) {
        // The word goes first, durably: if this start's fdatasync fails, the next one must
        // know. A start that cannot leave it refuses before that fdatasync, which could
        // leave pages marked clean with nothing to tell the next start so.
        try {
          leaveResyncWord(this.dir, this.testOnly.ioErrorOnResyncWord);
        } catch (error) {
          closeSync(this.fd);
          this.fd = null;
          const reason = error instanceof Error ? error.message : String(error);
          throw new StorageError(StorageErrorCode.Io, `refusing to trust WAL segment ${last.path} as the page cache holds it: ${reason} (the word the next start needs should this start's fdatasync fail)`, { cause: error });
        }
      }
      try {
        // A torn record is cut off; a prepared segment's zeros after the last record stay.
        if (last.zeroTailFrom > last.validBytes) {
          truncatedBytes = last.fileBytes - last.validBytes;
          truncatedFile = last.path;
          ftruncateSync(this.fd, last.validBytes);
        }
        // What a crashed process wrote and never synced is still in the page cache and was
        // read back as if durable: it is made so before anything is answered for it (an
        // entry acknowledged again, a vote granted again, with nothing new to write).
        if (this.fsync) {
          // An earlier start's fdatasync of it failed: what it could not write may be
          // marked clean, and only written again is it sure to be flushed.
          if (resync && recovered.lastBuffer !== null && last.validBytes > 0) {
            this.writeOnce(this.fd, recovered.lastBuffer, last.validBytes, 0);
            resyncedBytes = last.validBytes;
          }
          if (this.testOnly.ioErrorOnLoadFdatasync === true) throw injectedIoError('fdatasync');
          fdatasyncSync(this.fd);
          this.fsyncCount++;
        }
      } catch (error) {
        closeSync(this.fd);
        this.fd = null;
        // The word stays: the next start must not trust what this fdatasync may have left marked clean.
        throw ioError(`cannot make WAL segment ${last.path} durable${this.fsync ? ` (${RESYNC_NEEDED_FILE_NAME} left: the next start writes it again before its fdatasync)` : ''}`, error);
      }
      for (const scanned of recovered.segments.slice(0, -1)) {
        this.closedSegments.push({ name: segmentFileName(scanned.sequence), bytes: scanned.validBytes, maxIndex: scanned.maxIndex });
      }
    }
    try {
      // The marker names the newest segment: made for a new WAL (or one of format 1, which
      // had none), moved up after a crash between a roll's new segment and its rename.
      if (marker === null) {
        closeSync(openSync(join(this.dir, tailMarkerName(this.segment)), 'wx'));
        if (recovered.records > 0) notes.push(`the WAL in ${this.dir} had no tail marker (written before the WAL recorded its newest segment, format 1): made ${tailMarkerName(this.segment)}`);
      } else if (marker !== this.segment) {
        renameSync(join(this.dir, tailMarkerName(marker)), join(this.dir, tailMarkerName(this.segment)));
      }
      for (const stale of markers.slice(0, -1)) unlinkSync(join(this.dir, tailMarkerName(stale)));
    } catch (error) {
      throw ioError(`cannot mark the newest WAL segment in ${this.dir}`, error);
    }
    this.tailMarker = this.segment;
    // So are the names a crashed process gave files and did not sync (a snapshot file renamed
    // into place, a segment renamed redundant, the segment just created). If this fails, the
    // word stays, and the next start writes the last segment again before trusting it.
    if (this.fsync) {
      try {
        if (this.testOnly.ioErrorOnLoadDirectoryFsync === true) throw ioError(`cannot fsync directory ${this.dir}`, injectedIoError('fsync'));
        fsyncDirectory(this.dir);
      } catch (error) {
        throw error instanceof StorageError && last !== undefined
          ? new StorageError(error.code, `${error.message} (${RESYNC_NEEDED_FILE_NAME} left: the next start writes the last segment again before its fdatasync)`, { cause: error.cause })
          : error;
      }
    }
    if (this.fsync && (resync || last !== undefined)) {
      // Not synced: a removal a power loss undoes costs the next start a write of the last segment, no more.
      try {
        unlinkSync(join(this.dir, RESYNC_NEEDED_FILE_NAME));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw ioError(`cannot remove ${join(this.dir, RESYNC_NEEDED_FILE_NAME)}`, error);
        }
      }
      if (resync && last !== undefined) {
        notes.push(`an earlier start left ${RESYNC_NEEDED_FILE_NAME} (its fdatasync or directory fsync failed, or it stopped midway; or a failed storage could not cut its WAL back): the last WAL segment's ${resyncedBytes} bytes were written again and made durable`);
      }
    }
    this.synced = { segment: this.segment, offset: this.segmentOffset };
    this.onSynced?.(this.synced);
    // Appends from now on are checked against what was recovered.
    this.shape = recovered.shape;
    this.snapshotIndex = snapshot?.index ?? 0;
    this.snapshotBytes = snapshot?.data.byteLength ?? 0;
    this.phase = Phase.Open;
    if (snapshot !== null && recovered.snapshotUnrecorded) {
      // A crash came after the snapshot file and before its WAL record: finish the job,
      // so that what recovery decided (the log after the snapshot) is what the WAL says.
      this.recordSnapshot(snapshot.index, snapshot.term);
      this.deleteSegmentsUpTo(snapshot.index);
    }
    const recovery: RecoveryReport = {
      segments: recovered.segments.length,
      records: recovered.records,
      entries: recovered.entries.length,
      snapshotIndex: this.snapshotIndex,
      truncatedBytes,
      truncatedFile,
      resyncedBytes,
      notes,
      durationMs: performance.now() - started,
    };
    this.written.restore(recovered.entries);
    this.prepareSpareWhenDue();
    return { state: { hardState: recovered.shape.hardState, snapshot, entries: recovered.entries }, recovery };
  }

  /**
   * Refuses (WAL_CORRUPT) a WAL whose newest segments are gone: its tail marker names a
   * segment newer than any left, or it has none although its segments were written with
   * one (format 2). Such a WAL would load shorter, without entries it acknowledged and
   * perhaps the vote it gave. A WAL of format 1 (no marker then) loads as it is.
   */
  private checkTail(recovered: Recovered, marker: number | null): void {
    const newest = recovered.segments[recovered.segments.length - 1]?.sequence ?? 0;
    if (marker !== null && marker > newest) {
      throw new StorageCorruptionError(
        join(this.dir, tailMarkerName(marker)),
        0,
        `segment ${segmentFileName(marker)} (the newest the WAL made, as its tail marker says) or a newer one`,
        newest === 0 ? 'no WAL segment (they were removed)' : `${segmentFileName(newest)} the newest (the segments after it were removed)`,
      );
    }
    if (marker === null && recovered.markedFormat) {
      throw new StorageCorruptionError(
        this.dir,
        0,
        `a tail marker (${TAIL_MARKER_PREFIX}<sequence>) naming the newest segment: every WAL whose headers are of format ${WAL_FORMAT_VERSION} has one`,
        `none, beside segments up to ${segmentFileName(newest)} (the marker and perhaps the newest segments were removed)`,
      );
    }
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
    const fd = this.writePending();
    const written = this.lastWrite;
    this.lastWrite = null;
    if (fd === null || !this.fsync) return 0;
    const started = performance.now();
    try {
      this.syncWritten(fd, written);
    } catch (error) {
      throw this.fail(error instanceof StorageError ? error : ioError(`cannot fdatasync WAL segment ${join(this.dir, segmentFileName(this.segment))}`, error));
    }
    return this.markSynced(performance.now() - started);
  }

  /**
   * fdatasync of the segment `fd` after `written`, its last write. One that runs out of
   * space while a spare is held gives the spare back and is tried once more, if `written`
   * is all that was unsynced: a failed fdatasync may have marked the pages it could not
   * write clean ("fsyncgate"), so a second fdatasync alone could succeed without them;
   * written again, every page it touched is dirty again and the retry covers it.
   */
  private syncWritten(fd: number, written: UnsyncedWrite | null): void {
    try {
      this.fdatasyncWal(fd);
    } catch (error) {
      if (written === null || !this.giveSpareBack(error)) throw error;
      this.writeOnce(fd, written.buffer, written.length, written.position);
      this.fdatasyncWal(fd);
    }
  }

  /** fdatasyncSync, or the injected ENOSPC of testOnly.noSpaceOnFdatasyncs. */
  private fdatasyncWal(fd: number): void {
    const attempt = ++this.fdatasyncAttempts;
    if (this.testOnly.noSpaceOnFdatasyncs?.includes(attempt) === true) throw injectedNoSpace('fdatasync');
    fdatasyncSync(fd);
  }

  /** Writes buffer[0, length) at `position` of the segment `fd` whole, in one attempt (a short write continues it). */
  private writeOnce(fd: number, buffer: Buffer, length: number, position: number): void {
    const attempt = ++this.walWriteAttempts;
    let written = 0;
    if (this.testOnly.noSpaceOnWrites?.includes(attempt) === true) {
      // A full disk takes what fits, returns a short count, and refuses the rest.
      const partial = Math.min(this.testOnly.noSpaceAfterBytes ?? 0, length - 1);
      if (partial > 0) writeSync(fd, buffer, 0, partial, position);
      throw injectedNoSpace('write');
    }
    while (written < length) written += writeSync(fd, buffer, written, length - written, position + written);
  }

  /**
   * Writes a WAL record (buffer[0, length)) at `position` of the current segment `fd`. One
   * that runs out of space while a spare is held gives the spare back and is made again,
   * whole and at the same position: what a short write left there is overwritten with the
   * same bytes. One that still fails cuts the segment back to `position` (best effort),
   * so that no part of the unacknowledged record is left for recovery to judge.
   */
  private writeRecord(fd: number, buffer: Buffer, length: number, position: number): void {
    try {
      try {
        this.writeOnce(fd, buffer, length, position);
      } catch (error) {
        if (!this.giveSpareBack(error)) throw error;
        this.writeOnce(fd, buffer, length, position);
      }
    } catch (error) {
      try {
        ftruncateSync(fd, position);
      } catch {
        // Recovery cuts a torn tail anyway; the write's own error is the one to report.
      }
      throw error;
    }
  }

  /**
   * A WAL operation failed with `error`: if the disk is full and a spare is held (being
   * filled or ready), the spare's space is given back at once (dropSpare) and no other
   * is prepared during this segment. True when the caller may try the operation once more.
   */
  private giveSpareBack(error: unknown): boolean {
    if (!isNoSpace(error) || this.spare === null || this.phase !== Phase.Open) return false;
    this.dropSpare();
    this.sparesDropped++;
    this.noSpareInSegment = true;
    return true;
  }

  /**
   * Deletes the spare, if any, and frees its blocks before returning. A ready one's fd is
   * closed; one being filled keeps its fd until its fill's next step (which sees it is no
   * longer wanted: closing the fd under a write in flight is unsafe, see fillSpareSegment),
   * so its file is truncated to nothing by name first: an unlinked file's blocks are only
   * freed with its last fd. A fill write already queued may still allocate one step
   * (SPARE_FILL_CHUNK_BYTES) until then.
   */
  private dropSpare(): void {
    const spare = this.spare;
    if (spare === null) return;
    this.spare = null;
    try {
      if (spare.fd !== null) closeSync(spare.fd);
      else truncateSync(spare.path, 0);
    } catch {
      // Its fill gave up and deleted it already, or the fd was closed: the unlink still runs.
    }
    try {
      unlinkSync(spare.path);
    } catch {
      // Its fill gave up and deleted it already.
    }
  }

  /**
   * No more writes: what reached the disk is unknown. Returns `failure`, which every call
   * from now on reports (failedEarlier): it may have come off the caller's thread, with
   * nobody to tell (the deletion of segments a synchronous snapshot made redundant).
   *
   * With fsync on, the WAL is cut back to what was acknowledged (syncedPosition), best
   * effort: a failed fdatasync may have marked the pages it could not write clean
   * ("fsyncgate"), so a restart would read the records in them from the page cache, and
   * load()'s fdatasync would succeed without writing them: the node would answer for
   * entries and votes no disk holds. Nothing after that position was acknowledged, so
   * nothing is lost that a power loss now could not lose. With fsync off nothing is
   * synced, and everything written counts: nothing is cut.
   *
   * The spare is deleted now, so its space is free for the other nodes on the disk even
   * if the worker dies without close().
   */
  private fail(failure: StorageError): StorageError {
    this.phase = Phase.Failed;
    this.failure = failure;
    this.dropSpare();
    if (this.fsync) {
      try {
        if (this.testOnly.ioErrorOnCutBack === true) throw injectedIoError('ftruncate');
        truncateToSyncedPosition(this.dir, this.synced);
      } catch (cutBackError) {
        // The disk that failed may refuse this too: the failure is the error to report.
        // The next start must then not trust the pages left: it writes them again first.
        try {
          leaveResyncWord(this.dir, this.testOnly.ioErrorOnResyncWord);
        } catch (wordError) {
          // Nothing left to tell the next start: the failure says so, for whoever restarts it.
          const cutBack = cutBackError instanceof Error ? cutBackError.message : String(cutBackError);
          const word = wordError instanceof Error ? wordError.message : String(wordError);
          this.failure = new StorageError(
            failure.code,
            `${failure.message}; and the WAL could not be cut back to what it acknowledged (${cutBack}) nor word left for the next start (${word}): ` +
              `a start before the page cache is dropped may trust records no disk holds`,
            { cause: failure.cause },
          );
        }
      }
    }
    return this.failure ?? failure;
  }

  /**
   * What a call on a failed storage throws: the failure again, its code (WAL_IO, with the
   * system's error as cause) and message kept, so that the node stops as a disk failure
   * that names the file and errno, wherever the failure came from.
   */
  private failedEarlier(operation: string): StorageError {
    const failure = this.failure;
    invariant(failure !== null, () => `${operation}: the storage is failed, with no failure recorded`);
    return new StorageError(failure.code, `${operation}() refused: the WAL failed earlier: ${failure.message}`, { cause: failure.cause });
  }

  /**
   * sync() with the fdatasync on libuv's thread pool, so the caller's thread keeps working
   * (thesis §10.2.1: the leader writes its disk in parallel with everything else). The
   * write happens now; `done` runs once the batch is durable. Meanwhile appends may be
   * buffered, and sync() and saveSnapshot() may run (they make everything durable at
   * once); a segment they roll over is synced and closed only after this fdatasync, which
   * may still be using it. Up to MAX_ASYNC_SYNCS calls may be in flight; their `done`s
   * run in call order (settleAsyncSyncs).
   */
  syncAsync(done: (error: Error | null, latencyMs: number) => void): void {
    this.requirePhase(Phase.Open, 'syncAsync');
    invariant(this.asyncSyncs.length < MAX_ASYNC_SYNCS, () => `syncAsync: ${this.asyncSyncs.length} asynchronous syncs are still in flight (at most ${MAX_ASYNC_SYNCS})`);
    let syncFd: SyncFd | null = null;
    try {
      const fd = this.writePending();
      // An fd of its own, taken after the write: a write-back error before it was opened
      // is reported to it too, unless an fdatasync of this storage saw it first, and that
      // one failed the storage.
      if (fd !== null && this.fsync) syncFd = this.takeSyncFd();
    } catch (error) {
      queueMicrotask(() => done(error as Error, 0));
      return;
    }
    // Its fdatasync runs on the pool, and is not retried: the writes it covers are not kept.
    this.lastWrite = null;
    const sync: AsyncSync = {
      number: ++this.asyncSyncsStarted,
      position: { segment: this.segment, offset: this.segmentOffset },
      started: performance.now(),
      done,
      ownFdatasync: syncFd !== null,
      syncFd,
      returned: false,
    };
    this.asyncSyncs.push(sync);
    if (syncFd === null) {
      // Nothing written (or fsync off): durable as soon as the syncs before it are.
      queueMicrotask(() => this.settleAsyncSyncs(null, null));
      return;
    }
    this.fdatasyncsRunning.add(sync.number);
    const attempt = ++this.asyncFdatasyncAttempts;
    const injected = this.testOnly.ioErrorOnAsyncFdatasyncs?.includes(attempt) === true;
    if (this.testOnly.writebackErrorOnAsyncFdatasyncs?.includes(attempt) === true) this.writebackErrors.set(sync.number, syncFd.fd);
    fdatasync(syncFd.fd, (error) => {
      const returned = (): void => {
        this.fdatasyncsRunning.delete(sync.number);
        this.releaseSyncFd(syncFd);
        const reported = error ?? this.modelWritebackError(sync.number, syncFd.fd);
        if (!injected) return this.settleAsyncSyncs(sync, reported);
        // Test aid: the failure is reported once every later fdatasync in flight has
        // returned, the order in which it could hide behind their success.
        const report = (): void => {
          if ([...this.fdatasyncsRunning].some((number) => number > sync.number)) setImmediate(report);
          else this.settleAsyncSyncs(sync, injectedIoError('fdatasync'));
        };
        report();
      };
      // Test aid (writebackErrorOnAsyncFdatasyncs): a later fdatasync on the fd of an
      // earlier one whose pages fail write-back returns after it, the order in which the
      // earlier's success could be taken before the later's error.
      if (this.writebackErrors.size === 0) return returned();
      const held = (): boolean => [...this.writebackErrors].some(([number, fd]) => number < sync.number && fd === syncFd.fd);
      const whenFree = (): void => (held() ? void setImmediate(whenFree) : returned());
      whenFree();
    });
  }

  /**
   * Test aid: the error an fdatasync that just returned on `fd` reports under
   * testOnly.writebackErrorOnAsyncFdatasyncs, as the kernel reports a write-back error:
   * once per open file, to the fdatasync that checks first. The one whose pages failed
   * returns success if a later fdatasync on the same fd is in flight (that one took it).
   */
  private modelWritebackError(number: number, fd: number): Error | null {
    if (this.writebackErrorTakenBy.delete(number)) return injectedIoError('fdatasync (write-back error of an earlier write)');
    if (!this.writebackErrors.delete(number)) return null;
    const later = [...this.fdatasyncsRunning].find((running) => running > number && this.asyncSyncs.find((sync) => sync.number === running)?.syncFd?.fd === fd);
    if (later === undefined) return injectedIoError('fdatasync (write-back error)');
    this.writebackErrorTakenBy.add(later);
    return null;
  }

  /** A sync fd of the current segment no fdatasync runs on: a free one, or a new one. */
  private takeSyncFd(): SyncFd {
    const free = this.freeSyncFds.pop();
    if (free !== undefined) return free;
    const path = join(this.dir, segmentFileName(this.segment));
    try {
      return { fd: openSync(path, 'r'), segment: this.segment };
    } catch (error) {
      throw this.fail(ioError(`cannot open WAL segment ${path} to fdatasync it`, error));
    }
  }

  /** Its fdatasync returned: kept for the next syncAsync if its segment is still the current one, else closed. */
  private releaseSyncFd(syncFd: SyncFd): void {
    if (this.phase === Phase.Open && syncFd.segment === this.segment) {
      this.freeSyncFds.push(syncFd);
      return;
    }
    try {
      closeSync(syncFd.fd);
    } catch {
      // Only an fdatasync used it, and that returned: nothing was lost with it.
    }
  }

  /** Closes the sync fds no fdatasync runs on (at a roll, at close()); the others are closed as theirs return. */
  private closeFreeSyncFds(): void {
    for (const { fd } of this.freeSyncFds.splice(0)) {
      try {
        closeSync(fd);
      } catch {
        // As in releaseSyncFd.
      }
    }
  }

  /**
   * An fdatasync returned (`returned`; null: none, a sync of nothing became due). The
   * calls whose own fdatasync returned, and those that wrote nothing after them, are
   * settled in call order, oldest first; a call waits for every earlier one. A later
   * fdatasync's success does not stand for an earlier one still running: the kernel
   * reports a writeback error once per open file, and both run on the same fd, so when the
   * earlier call's pages fail to write, the later one may return success after the
   * earlier took the error (or the earlier, after the later took it: nothing here can
   * tell that apart). A failed fdatasync fails the storage and every call still waiting.
   */
  private settleAsyncSyncs(returned: AsyncSync | null, error: Error | null): void {
    if (error !== null || this.phase !== Phase.Open) {
      const failure =
        error !== null && this.phase === Phase.Open
          ? this.fail(ioError(`cannot fdatasync WAL segment ${join(this.dir, segmentFileName(this.segment))}`, error))
          : this.phase === Phase.Failed
            ? this.failedEarlier('syncAsync')
            : new StorageError(StorageErrorCode.State, `syncAsync: the storage became ${this.phase} during the sync`);
      for (const waiting of this.asyncSyncs.splice(0)) waiting.done(failure, 0);
      return;
    }
    if (returned !== null) returned.returned = true;
    let settled = 0;
    while (settled < this.asyncSyncs.length && (this.asyncSyncs[settled]!.returned || !this.asyncSyncs[settled]!.ownFdatasync)) settled++;
    const now = performance.now();
    for (const sync of this.asyncSyncs.splice(0, settled)) {
      if (sync.ownFdatasync) this.markSynced(now - sync.started, sync.position);
      sync.done(null, sync.ownFdatasync ? now - sync.started : 0);
    }
  }

  /**
   * A sync made everything up to `position` durable (by default all that is written; an
   * asynchronous one, what was written when it was called). The position never moves back:
   * an earlier syncAsync may be settled after a sync() that covered more.
   */
  private markSynced(latencyMs: number, position: SyncedPosition = { segment: this.segment, offset: this.segmentOffset }): number {
    // With fsync off nothing was fdatasynced: the position moves, the count does not.
    if (this.fsync) this.fsyncCount++;
    this.fsyncTotalMs += latencyMs;
    const synced = this.synced;
    if (position.segment > synced.segment || (position.segment === synced.segment && position.offset > synced.offset)) {
      this.synced = position;
      this.onSynced?.(position);
    }
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
    this.ensureWriteBuffer(batchFrameBytes + (needsHeader ? SEGMENT_HEADER_FRAME_MAX_BYTES : 0));
    // The batch payload is a view into the encoder's buffer, and a segment header is
    // encoded into that buffer too: with a header, the batch goes to a copy first.
    const batch = needsHeader ? Buffer.from(payload) : payload;
    const batchFrameAt = needsHeader ? writeFrame(this.writeBuffer, 0, encodeSegmentHeaderPayload(sequence, this.owner)) : 0;
    const length = batchFrameAt + writeFrame(this.writeBuffer, batchFrameAt, batch);
    if (this.verifyWrites) this.verifyFrames(this.writeBuffer.subarray(0, length), needsHeader ? sequence : null);

    // Everything written before is durable unless a syncAsync is still in flight: then
    // this write alone is what sync()'s fdatasync must make durable (see syncWritten).
    const everythingBeforeSynced = this.asyncSyncs.length === 0;
    try {
      if (roll) this.rollTo(sequence);
      const fd = this.fd;
      invariant(fd !== null, () => 'sync: no open segment');
      this.writeRecord(fd, this.writeBuffer, length, this.segmentOffset);
      this.lastWrite = everythingBeforeSynced ? { buffer: this.writeBuffer, length, position: this.segmentOffset } : null;
      const place: RecordPlace = { segment: this.segment, offset: this.segmentOffset + batchFrameAt, bytes: batchFrameBytes };
      this.segmentOffset += length;
      if (this.pending.entries.length > 0) {
        this.segmentMaxIndex = Math.max(this.segmentMaxIndex, this.pending.firstIndex + this.pending.entries.length - 1);
        this.written.written(this.pending.firstIndex, this.pending.entries.length, place);
      }
    } catch (error) {
      throw this.fail(error instanceof StorageError ? error : ioError(`cannot write WAL segment ${join(this.dir, segmentFileName(this.segment))}`, error));
    }
    this.pending.clear();
    if (this.writeBuffer.byteLength > WRITE_BUFFER_KEEP_BYTES) this.writeBuffer = Buffer.allocUnsafe(WRITE_BUFFER_INITIAL_BYTES);
    this.prepareSpareWhenDue();
    return this.fd;
  }

  /**
   * The payload of a batch record this storage wrote, read back from its segment (from
   * the page cache, as a rule: only a follower that fell behind needs it) and checked
   * against its frame's length and CRC. What it wrote and no longer reads back is a
   * disk that lost or changed it: a corruption error, and the node stops loudly.
   */
  private readRecord(place: RecordPlace): Uint8Array {
    const path = join(this.dir, segmentFileName(place.segment));
    const buffer = Buffer.allocUnsafe(place.bytes);
    let read = 0;
    let fd: number | null = null;
    try {
      fd = openSync(path, 'r');
      for (let n = -1; read < place.bytes && n !== 0; read += n) n = readSync(fd, buffer, read, place.bytes - read, place.offset + read);
    } catch (error) {
      throw ioError(`cannot read back the WAL record at offset ${place.offset} of ${path}`, error);
    } finally {
      if (fd !== null) closeSync(fd);
    }
    if (read < place.bytes) throw new StorageCorruptionError(path, place.offset, `the ${place.bytes}-byte record written there`, `${read} bytes before the end of the file`);
    const frame = readFrame(buffer, 0);
    if (!frame.ok) throw new StorageCorruptionError(path, place.offset, `the record written there: ${frame.expected}`, frame.found);
    return frame.payload;
  }

  entries(from: number, to: number): readonly Entry[] {
    this.requirePhase(Phase.Open, 'entries');
    const entries = this.written.read(from, to);
    invariant(entries !== null, () => `entries: [${from}, ${to}] is not within the written log [${this.written.firstIndex()}, ${this.written.lastIndex()}]`);
    return entries;
  }

  termRuns(maxRuns: number): TermRun[] {
    return this.shape.termRuns(maxRuns);
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
    return {
      walBytes,
      files,
      fsyncCount: this.fsyncCount,
      fsyncTotalMs: this.fsyncTotalMs,
      sparesPrepared: this.sparesPrepared,
      sparesUsed: this.sparesUsed,
      spareErrors: this.spareErrors,
      sparesDropped: this.sparesDropped,
      sparesSkipped: this.sparesSkipped,
      snapshotIndex: this.snapshotIndex,
      snapshotBytes: this.snapshotBytes,
    };
  }

  close(): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.pending.clear();
    this.lastWrite = null;
    // Gone before close() returns, so nothing is left for whoever removes the directory
    // next. One still being filled stops at its next step (phase Closed) and closes its fd.
    this.dropSpare();
    this.closeFreeSyncFds();
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
    if (this.phase === Phase.Failed && expected === Phase.Open) throw this.failedEarlier(operation);
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

  /**
   * Creates a new, empty segment and makes its name durable. A creation that runs out of
   * space (an inode, a directory block) while a spare is held gives it back and is tried
   * once more.
   */
  private createSegment(sequence: number): number {
    const path = join(this.dir, segmentFileName(sequence));
    const create = (): number => {
      const attempt = ++this.segmentCreationAttempts;
      if (this.testOnly.noSpaceOnSegmentCreations?.includes(attempt) === true) throw injectedNoSpace('open');
      return openSync(path, 'wx+');
    };
    let fd: number;
    try {
      try {
        fd = create();
      } catch (error) {
        if (!this.giveSpareBack(error)) throw error;
        fd = create();
      }
    } catch (error) {
      throw ioError(`cannot create WAL segment ${path}`, error);
    }
    // Its name is made durable by the caller (rollTo, load), with the tail marker's.
    return fd;
  }

  /**
   * Closes the current segment and opens segment `sequence`, empty: the spare one if it is
   * ready. Then the tail marker is renamed to it, and one directory fsync makes both names
   * durable: the segment's first, as the file system keeps renames in order (ext4 and XFS
   * do), so the marker never names a segment a power loss could take.
   */
  private rollTo(sequence: number): void {
    this.closeCurrentSegment();
    this.fd = this.takeSpare(sequence) ?? this.createSegment(sequence);
    this.segment = sequence;
    this.segmentOffset = 0;
    try {
      renameSync(join(this.dir, tailMarkerName(this.tailMarker)), join(this.dir, tailMarkerName(sequence)));
    } catch (error) {
      throw ioError(`cannot mark ${segmentFileName(sequence)} the newest WAL segment in ${this.dir}`, error);
    }
    this.tailMarker = sequence;
    if (this.fsync) fsyncDirectory(this.dir);
  }

  /**
   * Starts preparing the segment the next roll will take (see SPARE_START_BYTES): zero-
   * filled and made durable on libuv's pool (64 MiB took 0.1 s here). A roll that comes
   * before it is ready creates an empty segment, as without preparation, and leaves the
   * spare for the roll after. Writes past a spare's size append, as without preparation.
   * The spare takes disk space the WAL may need: none is prepared while the disk has less
   * than SPARE_FREE_SPACE_FACTOR times its size free, and a WAL write that runs out of
   * space while one is held takes its space back (giveSpareBack).
   */
  private prepareSpareWhenDue(): void {
    if (!this.preallocate || this.spare !== null || this.noSpareInSegment || this.phase !== Phase.Open) return;
    if (this.segmentOffset < Math.min(SPARE_START_BYTES, this.segmentBytes / 2)) return;
    const bytes = Math.min(this.segmentBytes, Math.max(SPARE_MIN_BYTES, Math.ceil(this.lastClosedSegmentBytes * 1.25)));
    const free = this.freeBytes();
    if (free !== null && free < SPARE_FREE_SPACE_FACTOR * bytes) {
      this.sparesSkipped++;
      this.noSpareInSegment = true;
      return;
    }
    const spare: SpareSegment = { path: join(this.dir, `${SPARE_SEGMENT_PREFIX}${randomBytes(6).toString('hex')}${SPARE_SEGMENT_SUFFIX}`), fd: null };
    // Created here, on the caller's thread (one system call), so that close() knows the
    // file exists and can delete it: created on the pool, it could appear after close().
    let fillFd: number;
    try {
      fillFd = openSync(spare.path, SPARE_FILL_FLAGS, 0o644);
    } catch {
      this.spareErrors++;
      this.noSpareInSegment = true;
      return;
    }
    this.spare = spare;
    fillSpareSegment(
      spare.path,
      fillFd,
      bytes,
      () => this.spare === spare && this.phase === Phase.Open,
      (fd, error) => {
        if (this.spare !== spare) {
          if (fd !== null) close(fd, () => unlink(spare.path, () => {}));
          return;
        }
        if (fd === null) {
          // No room, or the directory is gone: the fill deleted its file, rolls create empty
          // segments, as without preparation, and a preparation is tried again after the
          // next roll. (A spare that filled while the WAL ran short is given back by the
          // WAL's write: giveSpareBack.)
          if (error !== null) {
            this.spareErrors++;
            this.noSpareInSegment = true;
          }
          this.spare = null;
          return;
        }
        spare.fd = fd;
        this.sparesPrepared++;
      },
    );
  }

  /** Bytes free to this process on the WAL's file system (testOnly.freeBytes), or null if statfs fails: the fill finds out. */
  private freeBytes(): number | null {
    if (this.testOnly.freeBytes !== undefined) return this.testOnly.freeBytes;
    try {
      const stats = statfsSync(this.dir);
      return stats.bavail * stats.bsize;
    } catch {
      return null;
    }
  }

  /** The prepared segment, renamed `sequence`'s segment, or null when none is ready. */
  private takeSpare(sequence: number): number | null {
    const spare = this.spare;
    if (spare === null || spare.fd === null) return null;
    this.spare = null;
    const path = join(this.dir, segmentFileName(sequence));
    try {
      // A link, not a rename: it refuses to replace a segment that exists.
      linkSync(spare.path, path);
    } catch (error) {
      closeSync(spare.fd);
      try {
        unlinkSync(spare.path);
      } catch {
        // Load removes a stray spare; the link's error is the one to report.
      }
      // Out of space for the new name: with the spare's blocks freed, the roll creates
      // an empty segment instead (and tries that twice if need be: createSegment).
      if (isNoSpace(error)) {
        this.sparesDropped++;
        this.noSpareInSegment = true;
        return null;
      }
      throw ioError(`cannot rename spare WAL segment ${spare.path} to ${path}`, error);
    }
    try {
      unlinkSync(spare.path);
    } catch (error) {
      closeSync(spare.fd);
      throw ioError(`cannot rename spare WAL segment ${spare.path} to ${path}`, error);
    }
    // Its new name is made durable by rollTo, with the tail marker's.
    this.sparesUsed++;
    return spare.fd;
  }

  private closeCurrentSegment(): void {
    const fd = this.fd;
    invariant(fd !== null, () => 'roll: no open segment');
    this.fd = null;
    // An fdatasync of syncAsync may still run on the segment (on a sync fd of its own,
    // closed when it returns): it is synced here so that what the caller is told is
    // durable is (and what syncAsync calls after the roll cover).
    if (this.fdatasyncsRunning.size > 0 && this.fsync) fdatasyncSync(fd);
    closeSync(fd);
    this.closeFreeSyncFds();
    this.closedSegments.push({ name: segmentFileName(this.segment), bytes: this.segmentOffset, maxIndex: this.segmentMaxIndex });
    this.lastClosedSegmentBytes = this.segmentOffset;
    this.noSpareInSegment = false;
    this.segmentMaxIndex = 0;
  }

  saveSnapshot(snapshot: Snapshot): void {
    this.requireSavable(snapshot, 'saveSnapshot');
    // What was buffered goes first: the snapshot record must follow it in the WAL.
    this.sync();
    try {
      // 1. The snapshot file, atomically and durably. From here on a restart loads it.
      writeSnapshotFile(this.dir, snapshot, this.fsync, this.injectSnapshotFileNoSpace(), this.snapshotFileWatch());
    } catch (error) {
      throw this.fail(error as StorageError);
    }
    this.cutAt(snapshot);
  }

  saveSnapshotAsync(snapshot: Snapshot, done: (error: Error | null, saved: boolean) => void): void {
    this.requireSavable(snapshot, 'saveSnapshotAsync');
    invariant(!this.snapshotInFlight, () => 'saveSnapshotAsync: another asynchronous snapshot is still being written');
    this.snapshotInFlight = true;
    // Still wanted only if the storage is open and no newer snapshot was saved meanwhile.
    const wanted = (): boolean => this.phase === Phase.Open && snapshot.index > this.snapshotIndex;
    writeSnapshotFileAsync(this.dir, snapshot, this.fsync, this.injectSnapshotFileNoSpace(), this.snapshotFileWatch(), wanted, (error, renamed) => {
      this.snapshotInFlight = false;
      if (this.phase !== Phase.Open) {
        // Closed meanwhile (a stop): whatever the file's fate, nothing here depends on it.
        done(null, false);
        return;
      }
      if (error !== null) {
        done(this.fail(error as StorageError), false);
        return;
      }
      // The file may have gone in and a newer snapshot been saved during the directory
      // fsync: that one's cut stands.
      if (!renamed || !wanted()) {
        done(null, false);
        return;
      }
      try {
        // What was buffered goes before the cut in the WAL, as in saveSnapshot. The
        // deletions' callback runs later (unlinkAsync), so what done throws is never
        // caught here and given to done a second time.
        this.sync();
        this.cutAt(snapshot, (error) => done(error, true));
      } catch (error) {
        done(error as Error, false);
      }
    });
  }

  private snapshotFileWatch(): SnapshotFileWatch {
    return {
      onRename: this.onSnapshotRename,
      skipFsync: this.testOnly.snapshotRenameBeforeFsync === true,
      directorySyncDelayMs: this.testOnly.snapshotDirectorySyncDelayMs ?? 0,
    };
  }

  /** Whether this snapshot file's write is to fail (testOnly.noSpaceOnSnapshotFiles). */
  private injectSnapshotFileNoSpace(): boolean {
    return this.testOnly.noSpaceOnSnapshotFiles?.includes(++this.snapshotFileAttempts) === true;
  }

  /** The storage is open and `snapshot` is a log position past the current snapshot. */
  private requireSavable(snapshot: Snapshot, operation: string): void {
    this.requirePhase(Phase.Open, operation);
    invariant(
      Number.isSafeInteger(snapshot.index) && snapshot.index >= 1 && Number.isSafeInteger(snapshot.term) && snapshot.term >= 1,
      () => `${operation}: ${snapshot.index}@t${snapshot.term} is not a log position`,
    );
    invariant(snapshot.index > this.snapshotIndex, () => `${operation}: index ${snapshot.index} is not past the current snapshot at ${this.snapshotIndex}`);
    // Refused before anything is written: a configuration the file could not load back.
    const membership = snapshot.membership === undefined ? null : checkMembership(snapshot.membership, false);
    invariant(typeof membership !== 'string', () => `${operation}: ${membership as string}`);
  }

  /** The snapshot file is durable: 2. the cut, recorded in the WAL; 3. segments it made redundant, deleted (deleteSegmentsUpTo). */
  private cutAt(snapshot: Snapshot, deleted?: (error: Error | null) => void): void {
    this.snapshotIndex = snapshot.index;
    this.snapshotBytes = snapshot.data.byteLength;
    this.written.cutAt(snapshot.index);
    this.recordSnapshot(snapshot.index, snapshot.term);
    // A leader's snapshot that replaced a log disagreeing with it leaves nothing after it.
    this.written.keepThrough(this.shape.lastIndex);
    this.deleteSegmentsUpTo(snapshot.index, deleted);
  }

  /** Applies the cut at (index, term) to the log's shape and records it, synced, as the first record of a fresh segment. */
  private recordSnapshot(index: number, term: number): void {
    try {
      this.shape.compactTo(index, term);
      const payload = encodeSnapshotRecordPayload(index, term, this.shape.hardState);
      // An empty current segment (nothing written since it was created) takes the record itself.
      const roll = this.segmentOffset > 0;
      const sequence = roll ? this.segment + 1 : this.segment;
      this.ensureWriteBuffer(SEGMENT_HEADER_FRAME_MAX_BYTES + FRAME_HEADER_BYTES + payload.byteLength);
      const recordCopy = Buffer.from(payload);
      let length = writeFrame(this.writeBuffer, 0, encodeSegmentHeaderPayload(sequence, this.owner));
      length += writeFrame(this.writeBuffer, length, recordCopy);
      if (roll) this.rollTo(sequence);
      const fd = this.fd;
      invariant(fd !== null, () => 'recordSnapshot: no open segment');
      this.writeRecord(fd, this.writeBuffer, length, 0);
      this.segmentOffset = length;
      // Every write before it was synced (by sync() before it, or load()'s recovery).
      if (this.fsync) this.syncWritten(fd, { buffer: this.writeBuffer, length, position: 0 });
    } catch (error) {
      throw this.fail(error instanceof StorageError ? error : ioError(`cannot record snapshot ${index} in the WAL in ${this.dir}`, error));
    }
    this.markSynced(0);
  }

  /**
   * Deletes the closed segments that hold no entry after `index`: renamed here, oldest
   * first (cheap; a crash midway leaves a contiguous run of segments, which recovery
   * accepts after a snapshot, and renamed ones, which load() removes), then unlinked on
   * libuv's pool, where an error leaves the storage failed. `done`, if given, runs once
   * they are gone.
   */
  private deleteSegmentsUpTo(index: number, done?: (error: Error | null) => void): void {
    const retired: string[] = [];
    let redundant = 0;
    while (redundant < this.closedSegments.length && this.closedSegments[redundant]!.maxIndex <= index) redundant++;
    const sequences = this.closedSegments.slice(0, redundant).map((segment) => segmentSequence(segment.name)!);
    // Told before the first rename: from here until the directory fsync after them returns, a power loss may bring them back.
    const batch = sequences.length > 0 ? (this.onSegmentDeletion?.retiring(sequences) ?? 0) : 0;
    try {
      while (this.closedSegments.length > 0 && this.closedSegments[0]!.maxIndex <= index) {
        const path = join(this.dir, this.closedSegments[0]!.name);
        renameSync(path, path + REDUNDANT_SEGMENT_SUFFIX);
        this.closedSegments.shift();
        retired.push(path + REDUNDANT_SEGMENT_SUFFIX);
      }
    } catch (error) {
      throw this.fail(ioError(`cannot delete a WAL segment made redundant by snapshot ${index} in ${this.dir}`, error));
    }
    const injectFailure = (): boolean => this.testOnly.ioErrorOnSegmentDeletions?.includes(++this.segmentDeletionAttempts) === true;
    const renamesDurable = (): void => this.onSegmentDeletion?.retired(batch);
    unlinkAsync(this.dir, retired, this.fsync, this.testOnly.segmentDeletionSyncDelayMs ?? 0, injectFailure, renamesDurable, (error) => {
      if (error !== null && this.phase === Phase.Open) this.fail(error as StorageError);
      done?.(error);
    });
  }

  /** Test aid: the frames about to be written decode back to what was buffered. */
  private verifyFrames(frames: Buffer, headerSequence: number | null): void {
    let offset = 0;
    if (headerSequence !== null) {
      const read = readFrame(frames, 0);
      invariant(read.ok, () => 'verifyWrites: header frame does not read back');
      const decoded = decodeRecord(read.payload);
      invariant(
        decoded.ok &&
          decoded.record.kind === RecordKind.SegmentHeader &&
          decoded.record.sequence === headerSequence &&
          (decoded.record.owner === null ? this.owner === null : this.owner !== null && sameOwner(decoded.record.owner, this.owner)),
        () => 'verifyWrites: header record does not decode back',
      );
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
      const decodedEntry = batchEntry(record, i);
      const data = decodedEntry.data;
      invariant(decodedEntry.term === entry.term, () => `verifyWrites: entry ${entry.index} term differs`);
      invariant(data === null ? entry.data === null : entry.data !== null && Buffer.compare(data, entry.data) === 0, () => `verifyWrites: entry ${entry.index} data differs`);
      invariant(sameEntryMembership(decodedEntry.membership, entry.membership), () => `verifyWrites: entry ${entry.index} configuration differs`);
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
 * The owner the WAL in `dir` names in its newest segment header that can be read (see
 * FileStorageOptions.owner), or null: none names one (format 1, or written without an
 * owner), or there is no WAL (nor a readable directory). Reads nothing else; load()
 * checks the whole WAL.
 */
export function walOwnerOf(dir: string): WalOwner | null {
  let names: string[];
  try {
    names = walFiles(dir);
  } catch {
    // Not a directory, or unreadable: the node's start reports it.
    return null;
  }
  for (let i = names.length - 1; i >= 0; i--) {
    // Its header only: a segment may hold 64 MiB.
    const head = Buffer.alloc(SEGMENT_HEADER_FRAME_MAX_BYTES);
    let fd: number | null = null;
    try {
      fd = openSync(join(dir, names[i]!), 'r');
      readSync(fd, head, 0, head.length, 0);
    } catch {
      continue;
    } finally {
      if (fd !== null) closeSync(fd);
    }
    const read = readFrame(head, 0);
    if (!read.ok) continue;
    const decoded = decodeRecord(read.payload);
    if (decoded.ok && decoded.record.kind === RecordKind.SegmentHeader) return decoded.record.owner;
  }
  return null;
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
 * after position.segment, cuts that one to position.offset, and moves the tail marker
 * back to it. For the supervisor, on a node whose storage is closed (its worker is gone).
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
  // The segments dropped were the newest: the tail marker goes back with them.
  for (const marker of tailMarkers(dir)) {
    if (marker <= position.segment) continue;
    try {
      renameSync(join(dir, tailMarkerName(marker)), join(dir, tailMarkerName(position.segment)));
    } catch (error) {
      throw ioError(`cannot mark ${segmentFileName(position.segment)} the newest WAL segment in ${dir}`, error);
    }
    changed = true;
  }
  if (changed) fsyncDirectory(dir);
  return { bytesDropped };
}
