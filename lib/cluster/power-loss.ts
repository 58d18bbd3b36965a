// A power loss, simulated (Cluster.crash with loseUnsynced): what it takes from a node's
// directory. The WAL is cut back to the position the storage last published as synced
// (onSynced). Besides the WAL, a power loss may take what no fsync made durable yet: a
// snapshot file renamed into place before the directory fsync after it returned (the
// previous snapshot file, or none, comes back), a snapshot file's data not fsynced before
// its rename (a test-only bug: the file comes back empty, as ext4 could leave it), and
// files created and not yet named durably (snapshots being written, spare segments), and
// the deletion of WAL segments a compaction made redundant, while their renames are not yet
// durable (they come back whole under their names: their content is cut only once those
// renames are). The worker publishes what is pending in a SharedArrayBuffer the
// supervisor reads after the worker is gone, as it does the synced position.

import { closeSync, existsSync, fsyncSync, linkSync, openSync, readdirSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import {
  REDUNDANT_SEGMENT_SUFFIX,
  segmentFileName,
  SNAPSHOT_ASYNC_TEMP_PREFIX,
  SNAPSHOT_ASYNC_TEMP_SUFFIX,
  SNAPSHOT_FILE_NAME,
  SNAPSHOT_TEMP_FILE_NAME,
  SPARE_SEGMENT_PREFIX,
  SPARE_SEGMENT_SUFFIX,
} from '../storage/record.js';
import type { SegmentDeletionHooks, SnapshotRenameHooks } from '../storage/types.js';

/** The Int32 slots of a node's power-loss state (NodeSlot.syncedPosition). */
export const PowerLossSlot = {
  /** The synced WAL position: segment sequence (0: none published yet). */
  Segment: 0,
  /** The synced WAL position: offset in that segment. */
  Offset: 1,
  /** A SnapshotRenameState. */
  SnapshotRename: 2,
  /** 1 while the snapshot file in place (or being renamed in) holds data never fsynced. */
  SnapshotDataUnsynced: 3,
  /** The WAL segments whose renames as redundant are not yet durable: the first's sequence (0: none). */
  RetiringFrom: 4,
  /** And the last's. */
  RetiringTo: 5,
} as const;

/** Bytes of the SharedArrayBuffer that holds a node's PowerLossSlots. */
export const POWER_LOSS_STATE_BYTES = 24;

export const SnapshotRenameState = {
  /** No rename of the snapshot file pending: its name is durable. */
  Durable: 0,
  /** A rename pending; the snapshot file it replaces is kept at PREVIOUS_SNAPSHOT_LINK. */
  PendingOverPrevious: 1,
  /** A rename pending, over no snapshot file. */
  PendingOverNone: 2,
} as const;

/**
 * A second name for the snapshot file a pending rename replaces, so that a simulated power
 * loss can bring it back (a hard link: nothing is copied). Removed once the rename is durable.
 */
export const PREVIOUS_SNAPSHOT_LINK = `${SNAPSHOT_FILE_NAME}.before-rename`;

/**
 * Worker side: FileStorageOptions.onSnapshotRename, publishing into `state` (a node's
 * POWER_LOSS_STATE_BYTES). Renames are numbered: a directory fsync makes durable the
 * renames made before it began, not one made while it ran (an asynchronous save's fsync
 * may return after a synchronous save renamed its file in), so the state turns durable
 * only when the newest rename is. While several are pending, the oldest file that may
 * come back is the one kept, the worst a power loss could leave.
 */
export function snapshotRenameHooks(dir: string, state: SharedArrayBuffer): SnapshotRenameHooks {
  const slots = new Int32Array(state);
  const snapshotFile = join(dir, SNAPSHOT_FILE_NAME);
  const previous = join(dir, PREVIOUS_SNAPSHOT_LINK);
  let renamed = 0;
  let durableThrough = 0;
  let newestDataSynced = true;
  return {
    renaming(dataSynced: boolean): number {
      const rename = ++renamed;
      newestDataSynced = dataSynced;
      if (!dataSynced) Atomics.store(slots, PowerLossSlot.SnapshotDataUnsynced, 1);
      // An older rename still pending: the file it replaced stays the one to bring back.
      if (Atomics.load(slots, PowerLossSlot.SnapshotRename) !== SnapshotRenameState.Durable) return rename;
      // The link first, then the state: a worker stopped in between leaves a stray link
      // and a durable state, which the supervisor removes and believes.
      let pending: number = SnapshotRenameState.Durable;
      try {
        rmSync(previous, { force: true });
        try {
          linkSync(snapshotFile, previous);
          pending = SnapshotRenameState.PendingOverPrevious;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          pending = SnapshotRenameState.PendingOverNone;
        }
      } catch {
        // Bookkeeping for a simulation must not stop the node: this rename is not undone.
        pending = SnapshotRenameState.Durable;
      }
      Atomics.store(slots, PowerLossSlot.SnapshotRename, pending);
      return rename;
    },
    durable(rename: number): void {
      durableThrough = Math.max(durableThrough, rename);
      if (durableThrough < renamed) return;
      Atomics.store(slots, PowerLossSlot.SnapshotRename, SnapshotRenameState.Durable);
      // The file now in place is the newest: its data's fate is all that counts.
      Atomics.store(slots, PowerLossSlot.SnapshotDataUnsynced, newestDataSynced ? 0 : 1);
      try {
        rmSync(previous, { force: true });
      } catch {
        // A stray link is removed at the next crash, rename or start.
      }
    },
  };
}

/**
 * Worker side: FileStorageOptions.onSegmentDeletion, publishing into `state` which WAL
 * segments a power loss would bring back: those renamed redundant (or about to be) whose
 * renames no directory fsync has covered yet. Batches are numbered as snapshot renames
 * are: the directory fsync after a batch's renames covers every batch before it, so the
 * range published runs from the oldest batch still pending to the newest. Its segments
 * are cut down and unlinked only once their batch is durable (FileStorage waits for
 * `retired`), so each file in the range is still whole. Resets the state: a worker that
 * came before this one left nothing pending that its load() did not settle.
 */
export function segmentDeletionHooks(state: SharedArrayBuffer): SegmentDeletionHooks {
  const slots = new Int32Array(state);
  const pending: { batch: number; from: number; to: number }[] = [];
  let batches = 0;
  const publish = (): void => {
    // From (0: none) cleared first and set last: it never names a range whose end is not yet there.
    Atomics.store(slots, PowerLossSlot.RetiringFrom, 0);
    if (pending.length === 0) {
      Atomics.store(slots, PowerLossSlot.RetiringTo, 0);
      return;
    }
    Atomics.store(slots, PowerLossSlot.RetiringTo, pending[pending.length - 1]!.to);
    Atomics.store(slots, PowerLossSlot.RetiringFrom, pending[0]!.from);
  };
  publish();
  return {
    retiring(sequences: readonly number[]): number {
      const batch = ++batches;
      pending.push({ batch, from: sequences[0]!, to: sequences[sequences.length - 1]! });
      publish();
      return batch;
    },
    retired(batch: number): void {
      while (pending.length > 0 && pending[0]!.batch <= batch) pending.shift();
      publish();
    },
  };
}

/**
 * Worker side, after the storage's load(): its directory fsync made every name durable,
 * so no rename is pending (a snapshot file's unsynced data stays unsynced).
 */
export function renamesDurableAfterLoad(dir: string, state: SharedArrayBuffer): void {
  Atomics.store(new Int32Array(state), PowerLossSlot.SnapshotRename, SnapshotRenameState.Durable);
  try {
    rmSync(join(dir, PREVIOUS_SNAPSHOT_LINK), { force: true });
  } catch {
    // Removed at the next crash or rename.
  }
}

function sameFile(a: string, b: string): boolean {
  const first = statSync(a);
  const second = statSync(b);
  return first.ino === second.ino && first.dev === second.dev;
}

function isScratchFile(name: string): boolean {
  return (
    name === SNAPSHOT_TEMP_FILE_NAME ||
    (name.startsWith(SNAPSHOT_ASYNC_TEMP_PREFIX) && name.endsWith(SNAPSHOT_ASYNC_TEMP_SUFFIX)) ||
    (name.startsWith(SPARE_SEGMENT_PREFIX) && name.endsWith(SPARE_SEGMENT_SUFFIX))
  );
}

/**
 * Supervisor side, for a node whose worker is gone: takes from `dir` what a power loss
 * could, besides the WAL's unsynced tail (truncateToSyncedPosition): a pending rename of
 * the snapshot file is undone; a snapshot file whose data was never fsynced is left
 * empty; snapshot files being written and spare segments (names never made durable) go.
 * Returns what it took, one phrase each (none: an empty list).
 */
export function loseUnsyncedFiles(dir: string, state: SharedArrayBuffer): string[] {
  const slots = new Int32Array(state);
  const lost: string[] = [];
  const snapshotFile = join(dir, SNAPSHOT_FILE_NAME);
  const previous = join(dir, PREVIOUS_SNAPSHOT_LINK);
  const rename = Atomics.load(slots, PowerLossSlot.SnapshotRename);
  if (rename === SnapshotRenameState.PendingOverPrevious && existsSync(previous)) {
    // Stopped before its rename: both names are the old file, and nothing was pending.
    const renamed = !existsSync(snapshotFile) || !sameFile(previous, snapshotFile);
    if (renamed) {
      renameSync(previous, snapshotFile);
      lost.push(`the rename of a new ${SNAPSHOT_FILE_NAME} (the previous one is back)`);
    }
  } else if (rename === SnapshotRenameState.PendingOverNone && existsSync(snapshotFile)) {
    rmSync(snapshotFile);
    lost.push(`the rename of the first ${SNAPSHOT_FILE_NAME} (none is back)`);
  }
  rmSync(previous, { force: true });
  if (Atomics.load(slots, PowerLossSlot.SnapshotDataUnsynced) === 1 && existsSync(snapshotFile) && statSync(snapshotFile).size > 0) {
    truncateSync(snapshotFile, 0);
    lost.push(`the data of ${SNAPSHOT_FILE_NAME}, never fsynced (it is empty)`);
  }
  const retiringFrom = Atomics.load(slots, PowerLossSlot.RetiringFrom);
  const retiringTo = Atomics.load(slots, PowerLossSlot.RetiringTo);
  const back: string[] = [];
  for (let sequence = retiringFrom; retiringFrom > 0 && sequence <= retiringTo; sequence++) {
    const name = segmentFileName(sequence);
    if (!existsSync(join(dir, name + REDUNDANT_SEGMENT_SUFFIX))) continue;
    renameSync(join(dir, name + REDUNDANT_SEGMENT_SUFFIX), join(dir, name));
    back.push(name);
  }
  if (back.length > 0) lost.push(`the deletion of ${back.length} WAL segment${back.length === 1 ? '' : 's'} a snapshot made redundant (${back.join(', ')} back)`);
  const scratch = readdirSync(dir).filter(isScratchFile);
  for (const name of scratch) rmSync(join(dir, name), { force: true });
  if (scratch.length > 0) lost.push(`${scratch.length} file${scratch.length === 1 ? '' : 's'} not yet named durably (${scratch.join(', ')})`);
  if (lost.length > 0) {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  Atomics.store(slots, PowerLossSlot.SnapshotRename, SnapshotRenameState.Durable);
  Atomics.store(slots, PowerLossSlot.SnapshotDataUnsynced, 0);
  Atomics.store(slots, PowerLossSlot.RetiringFrom, 0);
  Atomics.store(slots, PowerLossSlot.RetiringTo, 0);
  return lost;
}

/** Supervisor side, for a node stopped without a power loss: its names are as they are; a stray link goes. */
export function forgetPendingRenames(dir: string, state: SharedArrayBuffer): void {
  Atomics.store(new Int32Array(state), PowerLossSlot.SnapshotRename, SnapshotRenameState.Durable);
  // Its redundant segments stay redundant: the next load() removes them.
  Atomics.store(new Int32Array(state), PowerLossSlot.RetiringFrom, 0);
  Atomics.store(new Int32Array(state), PowerLossSlot.RetiringTo, 0);
  rmSync(join(dir, PREVIOUS_SNAPSHOT_LINK), { force: true });
}
