// The storage contract: what a node host (workers/) and the simulator (lib/sim) need
// from a durable log. Two implementations: FileStorage (WAL segment files, fdatasync)
// and MemoryStorage (the same semantics in memory, for the simulator and unit tests).

import type { Entry, HardState, RestoredState, Snapshot, TermRun } from '../raft/types.js';

/** What load() found and did, for the restart event and the node's log. */
export interface RecoveryReport {
  /** WAL segment files read. */
  readonly segments: number;
  /** Records read and verified (segment headers included). */
  readonly records: number;
  /** Entries in the recovered log (after replaying truncations), after the snapshot. */
  readonly entries: number;
  /** The snapshot's last index (0: no snapshot). */
  readonly snapshotIndex: number;
  /** Bytes cut from the end of the last segment because its final record was torn. */
  readonly truncatedBytes: number;
  /** The file that was cut (absolute path), or null when nothing was cut. */
  readonly truncatedFile: string | null;
  /**
   * Bytes of the last segment written again before its fdatasync, because an earlier
   * start's fdatasync of it failed (see FileStorage's `wal-resync-needed`); 0 as a rule.
   */
  readonly resyncedBytes: number;
  /** What load() noticed and did that is worth a line in the node's log (a WAL of an older format, ...). */
  readonly notes: readonly string[];
  readonly durationMs: number;
}

/** Whose WAL it is: the cluster (its id, made at its first start) and the node. */
export interface WalOwner {
  /** 1 to 64 letters, digits, '-' or '_'. */
  readonly cluster: string;
  readonly node: number;
}

/**
 * The durable end of the WAL: the segment sequence number and the byte length of that
 * segment that an fdatasync has covered. Everything before it survives a power loss.
 */
export interface SyncedPosition {
  readonly segment: number;
  readonly offset: number;
}

export interface StorageStats {
  /** Total bytes in all WAL segments (MemoryStorage: an estimate of the same). */
  readonly walBytes: number;
  /** WAL segment file names, oldest first (MemoryStorage: none). */
  readonly files: string[];
  /** fdatasync calls on WAL segments since open. */
  readonly fsyncCount: number;
  readonly fsyncTotalMs: number;
  /** Segments prepared ahead (FileStorageOptions.preallocate), rolls that took one, and preparations that failed. */
  readonly sparesPrepared: number;
  readonly sparesUsed: number;
  readonly spareErrors: number;
  /**
   * Spares given back at once because a WAL write, fdatasync or segment creation ran out
   * of space while one was held (the failed operation was then tried once more), and
   * preparations skipped because the disk's free space was below the margin.
   */
  readonly sparesDropped: number;
  readonly sparesSkipped: number;
  /** The durable snapshot's last index (0: none) and size of its data. */
  readonly snapshotIndex: number;
  readonly snapshotBytes: number;
}

/**
 * A node's durable log and hard state. The calling pattern is the Ready loop
 * (lib/raft/types.ts, Ready): load() once, then per turn append() and setHardState()
 * followed by one sync(); only after sync() returns may the node send the messages
 * that depend on those records (vote grants, append acknowledgements: thesis §3.8).
 *
 * Nothing appended or set is durable, or even written, before sync(). close() does
 * not sync: a caller that wants buffered records kept must sync() first.
 */
export interface LogStorage {
  /**
   * Reads everything back. Must be called exactly once, before anything else.
   * Throws StorageCorruptionError (code 'WAL_CORRUPT') naming the file, the offset and
   * what was expected for a bad record anywhere except a torn tail, or
   * SnapshotCorruptionError (code 'SNAPSHOT_CORRUPT') for a damaged snapshot file, and
   * then has modified no file. The state holds the snapshot (if any) and the entries
   * after it. A torn tail (the final record of the last segment, cut short or
   * failing its CRC, with nothing valid after it) is cut off and reported.
   * The entries' data may be views sharing one ArrayBuffer: copy, never transfer, them.
   * Configuration entries come back with their `membership` (and null data), the
   * snapshot with the `membership` it was saved with (none: no such key).
   */
  load(): { state: RestoredState; recovery: RecoveryReport };
  /**
   * Buffers entries. If entries[0].index <= the current last index, the log is
   * truncated from there first (Raft's conflict truncation, §5.3); the record says so,
   * so replay does the same. entries[0].index may not be beyond last index + 1. A
   * configuration entry (with `membership`) must have null data and a valid
   * configuration (sorted, disjoint lists of positive ids), or it is refused (WAL_INVARIANT).
   */
  append(entries: readonly Entry[]): void;
  /**
   * Makes `snapshot` durable at once (with fsync on: its own file written to a temporary
   * file, fsynced, renamed, the directory fsynced), after writing and syncing anything
   * buffered. Then the log up to snapshot.index is dropped (§7): if the log holds
   * snapshot.index with snapshot.term, the entries after it stay (the host compacted);
   * otherwise the whole log is discarded (a snapshot from the leader replaced a log that
   * disagreed). The cut is recorded, synced, and WAL segments that held nothing after the
   * snapshot are deleted (unlinked off the caller's thread; a crash before that leaves
   * them for the next load to remove). Not allowed while an asynchronous sync is in flight.
   * The snapshot's `membership`, if any, is kept with it; an invalid one is refused
   * (WAL_INVARIANT) before anything is written.
   */
  saveSnapshot(snapshot: Snapshot): void;
  /**
   * saveSnapshot with the snapshot file written, fsynced, renamed and its directory
   * fsynced off the caller's thread (thesis §5.1: snapshotting should not stall normal
   * operation); the sync and the cut run on the caller's thread when the file is
   * durable, the redundant segments are deleted off it again, then `done(null, true)`.
   * An error in any step leaves the storage failed. `done(null, false)`: dropped,
   * because a newer snapshot was saved meanwhile (saveSnapshot may run while this one is
   * in flight, and wins) or the storage was closed. One at a time.
   */
  saveSnapshotAsync(snapshot: Snapshot, done: (error: Error | null, saved: boolean) => void): void;
  /** Buffers the hard state; the last one set before a sync() is the one written. */
  setHardState(hardState: HardState): void;
  /**
   * Writes everything buffered since the last sync with ONE write and makes it durable
   * with ONE fdatasync (group commit). With fsync:false it writes but does not
   * fdatasync (unsafe; for benchmarks). Returns the fdatasync latency in ms (0 when
   * there was nothing to do or fsync is off). A write or fdatasync that fails (here, in
   * syncAsync, in a snapshot's steps) leaves the storage failed: FileStorage cuts its WAL
   * back to syncedPosition() (with fsync on: what it did not acknowledge may be in the
   * page cache only), and every later call throws that failure again, with its code.
   */
  sync(): number;
  /**
   * sync() with the fdatasync off the caller's thread: the write happens now and `done`
   * runs once the batch is durable (latency in ms, 0 when nothing was synced). A second
   * call may come before the first one's `done` (FileStorage: at most MAX_ASYNC_SYNCS in
   * flight); the `done`s run in the order of the calls, and a sync() meanwhile makes
   * everything durable at once.
   */
  syncAsync(done: (error: Error | null, latencyMs: number) => void): void;
  /**
   * The entries [from, to] (inclusive) that sync() or syncAsync() wrote, read back (the
   * Raft core's Config.entryLoader). Throws WAL_INVARIANT when the log does not hold
   * them all (before the snapshot, or never written), and FileStorage throws WAL_CORRUPT
   * when a record it reads back from its segment no longer checks out (its CRC).
   */
  entries(from: number, to: number): readonly Entry[];
  syncedPosition(): SyncedPosition;
  /**
   * The terms of the log held (appended, synced or not) as runs of equal terms, oldest
   * first: the newest `maxRuns` of them, so the first run starts at the log's first index
   * unless older runs were left out. Empty when the log is. For a status display: a log
   * has a run per term it was written in, so a few cover everything.
   */
  termRuns(maxRuns: number): TermRun[];
  stats(): StorageStats;
  /** Releases the files. Buffered, unsynced records are dropped (as in a crash). */
  close(): void;
}

export interface FileStorageOptions {
  /**
   * true: every sync() ends with fdatasync, and segment rolls fsync the directory.
   * false: UNSAFE, for benchmarks only: writes reach the OS page cache but nothing is
   * forced to disk, so a power loss can lose acknowledged writes and votes.
   */
  readonly fsync: boolean;
  /** Roll to a new segment file once the current one would grow past this. Default 64 MiB. */
  readonly segmentBytes?: number | undefined;
  /**
   * Prepare each next segment ahead of its roll, zero-filled (a quarter above what the
   * previous segment held, at most segmentBytes) and made durable off the caller's thread,
   * so that an fdatasync into it flushes data only: appending to a file also changes its
   * size, which costs an inode write, and a journal commit on a journaled ext4. Default: fsync.
   */
  readonly preallocate?: boolean | undefined;
  /**
   * Called with the new synced position (syncedPosition()) each time it moves: by load(),
   * by every sync that covered more, and by a snapshot's record, synced into a fresh
   * segment, before the segments it makes redundant are deleted. Whoever cuts a crashed
   * node's WAL back to its synced position (truncateToSyncedPosition) must know it by then:
   * a position older than the deleted segments would cut everything, hard state included.
   */
  readonly onSynced?: ((position: SyncedPosition) => void) | undefined;
  /**
   * Whose WAL this is. Every segment header written names it, and load() refuses
   * (WAL_FOREIGN) a WAL whose segment headers name another owner: a WAL copied in from
   * another cluster's node, or another node's. Segments written before headers named an
   * owner (or without this option) name none and load as before. Default: none.
   */
  readonly owner?: WalOwner | undefined;
  /**
   * For whoever simulates a power loss (Cluster.crash with loseUnsynced), as onSynced is
   * for the WAL: told just before a snapshot file is renamed into place (`renaming`, with
   * whether its data was fsynced first) and once the directory fsync after that rename has
   * returned (`durable`). In between, a power loss may undo the rename: the previous
   * snapshot file (or none) comes back.
   */
  readonly onSnapshotRename?: SnapshotRenameHooks | undefined;
  /**
   * For whoever simulates a power loss, as onSnapshotRename: told just before closed
   * segments a snapshot made redundant are renamed so (`retiring`, with their sequences,
   * ascending) and once the directory fsync after those renames has returned (`retired`).
   * In between, a power loss may bring them back whole under their names; only after it
   * are they cut down and unlinked.
   */
  readonly onSegmentDeletion?: SegmentDeletionHooks | undefined;
  /** Test aid: decode every record right after encoding it and compare. Default false. */
  readonly verifyWrites?: boolean | undefined;
  /** Test aid: a full disk, for tests that cannot fill a real one (no mounts in CI). */
  readonly testOnly?: FileStorageTestOnly | undefined;
}

/**
 * Disk faults injected by number. Each kind of operation is counted from 1 per storage,
 * every attempt counted (a retry is the next number): the ones listed fail with ENOSPC,
 * or with EIO where said.
 */
export interface SnapshotRenameHooks {
  /** Returns a number for this rename, given back to `durable` once it is durable. */
  renaming(dataSynced: boolean): number;
  /** The directory fsync after rename `rename` returned: it and every rename before it are durable. */
  durable(rename: number): void;
}

export interface SegmentDeletionHooks {
  /** Returns a number for this batch of renames, given back to `retired` once they are durable. */
  retiring(sequences: readonly number[]): number;
  /** The directory fsync after batch `batch`'s renames returned: they and every rename before them are durable. */
  retired(batch: number): void;
}

export interface FileStorageTestOnly {
  /** Writes of WAL records (one per sync() or syncAsync() that writes, one per snapshot record). */
  readonly noSpaceOnWrites?: readonly number[] | undefined;
  /** Bytes of a failing write that reach the file first, as a short write (default 0). */
  readonly noSpaceAfterBytes?: number | undefined;
  /** The fdatasyncs of sync() and of snapshot records (not syncAsync's, on the pool). */
  readonly noSpaceOnFdatasyncs?: readonly number[] | undefined;
  /** Creations of a new, empty segment file (at the first load and at rolls that find no spare ready). */
  readonly noSpaceOnSegmentCreations?: readonly number[] | undefined;
  /** What the free-space check before a spare's preparation reports, instead of statfs. */
  readonly freeBytes?: number | undefined;
  /** The fdatasyncs of syncAsync() (on the pool), counted apart: the ones listed fail with EIO. */
  readonly ioErrorOnAsyncFdatasyncs?: readonly number[] | undefined;
  /**
   * The fdatasyncs of syncAsync(), counted as above: the pages of the writes the ones
   * listed cover fail write-back, and the error is reported as the kernel reports it, once
   * per open file, to the first fdatasync that checks: a later fdatasync in flight on the
   * same fd takes it (and returns after), the listed one returns success.
   */
  readonly writebackErrorOnAsyncFdatasyncs?: readonly number[] | undefined;
  /** Snapshot files written (saveSnapshot and saveSnapshotAsync): the ones listed fail with ENOSPC once their head is written. */
  readonly noSpaceOnSnapshotFiles?: readonly number[] | undefined;
  /** Deletions of segments a snapshot made redundant (one per segment, off the caller's thread): the ones listed fail with EIO. */
  readonly ioErrorOnSegmentDeletions?: readonly number[] | undefined;
  /** load()'s fdatasync of the last segment fails with EIO. */
  readonly ioErrorOnLoadFdatasync?: boolean | undefined;
  /** A failed storage's cut back to its synced position (truncateToSyncedPosition) fails with EIO. */
  readonly ioErrorOnCutBack?: boolean | undefined;
  /** Leaving `wal-resync-needed` (at every load() with fsync on, and by a failed storage whose cut back failed) fails with EIO at this step. */
  readonly ioErrorOnResyncWord?: 'create' | 'fsync' | 'directory-fsync' | undefined;
  /** load()'s directory fsync (after its fdatasync and tail marker) fails with EIO. */
  readonly ioErrorOnLoadDirectoryFsync?: boolean | undefined;
  /**
   * A durability bug, for proving that a simulated power loss finds it: snapshot files are
   * renamed into place without their fsync (a rename can then reach the disk before the
   * data it names).
   */
  readonly snapshotRenameBeforeFsync?: boolean | undefined;
  /**
   * The directory fsync after an asynchronous snapshot file's rename (saveSnapshotAsync, a
   * compaction) starts this many ms late: a window in which a test can cut the power with
   * the rename not yet durable.
   */
  readonly snapshotDirectorySyncDelayMs?: number | undefined;
  /**
   * The directory fsync after segments a snapshot made redundant are renamed so starts
   * this many ms late (they are cut down and unlinked only after it): a window in which a
   * test can cut the power with those renames not yet durable.
   */
  readonly segmentDeletionSyncDelayMs?: number | undefined;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Smallest allowed segment size: a segment must at least hold its header and a small record. */
export const MIN_SEGMENT_BYTES = 256;
/** Largest payload of one record. A turn's batch is bounded far below this by the core's limits. */
export const MAX_RECORD_PAYLOAD_BYTES = 512 * 1024 * 1024;
