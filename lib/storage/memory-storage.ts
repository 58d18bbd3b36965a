// MemoryStorage: the LogStorage contract in memory, for the simulator and unit tests.
// "Durable" here means "covered by a sync()": crash() keeps exactly that, as a power
// loss keeps exactly what an fdatasync covered.

import type { Entry, HardState, RestoredState, Snapshot, TermRun } from '../raft/types.js';
import { NONE } from '../raft/types.js';
import { StorageError, StorageErrorCode, invariant } from './errors.js';
import { LogShape, PendingBatch, checkEntriesForAppend } from './record.js';
import type { LogStorage, RecoveryReport, StorageStats, SyncedPosition } from './types.js';
import { checkMembership } from '../transport/membership-wire.js';

/** Per-entry bytes counted in the walBytes estimate besides the data (index, term, framing share). */
const ESTIMATED_ENTRY_OVERHEAD_BYTES = 12;
/** Bytes counted per sync record in the walBytes estimate (frame header and hard state). */
const ESTIMATED_RECORD_OVERHEAD_BYTES = 24;

export class MemoryStorage implements LogStorage {
  /** The durable log: what sync() covered, after the durable snapshot. */
  private durableEntries: Entry[] = [];
  private durableSnapshot: Snapshot | null = null;
  private durableHardState: HardState = { currentTerm: 0, votedFor: NONE, commitIndex: 0 };
  /** Sync records written, the in-memory analogue of the WAL's byte offset. */
  private durableRecords = 0;
  private walBytesEstimate = 0;
  private fsyncCount = 0;
  private loaded = false;
  private shape = new LogShape();
  private readonly pending = new PendingBatch();

  /** Reads back what sync() covered. Call once per "process lifetime": at start and after crash() or close(). */
  load(): { state: RestoredState; recovery: RecoveryReport } {
    if (this.loaded) throw new StorageError(StorageErrorCode.State, 'load() on MemoryStorage that is already loaded (crash() or close() first)');
    this.loaded = true;
    this.shape = new LogShape();
    const snapshot = this.durableSnapshot;
    if (snapshot !== null) this.shape.resetTo(snapshot.index, snapshot.term);
    if (this.durableEntries.length > 0) this.shape.applyAppend(this.shape.firstIndex, this.durableEntries.map((entry) => entry.term));
    this.shape.applyHardState(this.durableHardState);
    const state: RestoredState = { hardState: this.durableHardState, snapshot, entries: this.durableEntries.slice() };
    const recovery: RecoveryReport = {
      segments: 1,
      records: this.durableRecords,
      entries: this.durableEntries.length,
      snapshotIndex: snapshot?.index ?? 0,
      truncatedBytes: 0,
      truncatedFile: null,
      resyncedBytes: 0,
      notes: [],
      durationMs: 0,
    };
    return { state, recovery };
  }

  append(entries: readonly Entry[]): void {
    this.requireLoaded('append');
    if (entries.length === 0) return;
    const terms = checkEntriesForAppend(this.shape, entries);
    this.shape.applyAppend(entries[0]!.index, terms);
    this.pending.addEntries(entries);
  }

  setHardState(hardState: HardState): void {
    this.requireLoaded('setHardState');
    const violation = this.shape.checkHardState(hardState);
    invariant(violation === null, () => `setHardState: ${violation}`);
    this.shape.applyHardState(hardState);
    this.pending.hardState = this.shape.hardState;
  }

  syncAsync(done: (error: Error | null, latencyMs: number) => void): void {
    let latencyMs: number;
    try {
      latencyMs = this.sync();
    } catch (error) {
      queueMicrotask(() => done(error as Error, 0));
      return;
    }
    queueMicrotask(() => done(null, latencyMs));
  }

  sync(): number {
    this.requireLoaded('sync');
    if (this.pending.isEmpty) return 0;
    if (this.pending.entries.length > 0) {
      this.durableEntries.length = this.pending.firstIndex - this.shape.firstIndex;
      for (const entry of this.pending.entries) {
        this.durableEntries.push(entry);
        this.walBytesEstimate += ESTIMATED_ENTRY_OVERHEAD_BYTES + (entry.data?.byteLength ?? 0);
      }
    }
    if (this.pending.hardState !== null) this.durableHardState = this.pending.hardState;
    this.walBytesEstimate += ESTIMATED_RECORD_OVERHEAD_BYTES;
    this.durableRecords++;
    this.fsyncCount++;
    this.pending.clear();
    invariant(
      this.shape.firstIndex + this.durableEntries.length - 1 === this.shape.lastIndex,
      () => `sync: ${this.durableEntries.length} durable entries from ${this.shape.firstIndex} but last index ${this.shape.lastIndex}`,
    );
    return 0;
  }

  saveSnapshot(snapshot: Snapshot): void {
    this.requireLoaded('saveSnapshot');
    invariant(snapshot.index >= 1 && snapshot.term >= 1, () => `saveSnapshot: ${snapshot.index}@t${snapshot.term} is not a log position`);
    invariant(snapshot.index >= this.shape.firstIndex, () => `saveSnapshot: index ${snapshot.index} is not past the current snapshot at ${this.shape.firstIndex - 1}`);
    // What FileStorage refuses, so that the simulator finds what a node on disk would.
    const membership = snapshot.membership === undefined ? null : checkMembership(snapshot.membership, false);
    invariant(typeof membership !== 'string', () => `saveSnapshot: ${membership as string}`);
    this.sync();
    const keep = this.shape.holds(snapshot.index, snapshot.term);
    this.durableEntries = keep ? this.durableEntries.slice(snapshot.index + 1 - this.shape.firstIndex) : [];
    this.shape.compactTo(snapshot.index, snapshot.term);
    this.durableSnapshot = snapshot;
    this.durableRecords++;
    this.fsyncCount++;
  }

  saveSnapshotAsync(snapshot: Snapshot, done: (error: Error | null, saved: boolean) => void): void {
    this.requireLoaded('saveSnapshotAsync');
    queueMicrotask(() => {
      if (snapshot.index < this.shape.firstIndex) {
        done(null, false); // a newer snapshot was saved meanwhile
        return;
      }
      try {
        this.saveSnapshot(snapshot);
      } catch (error) {
        done(error as Error, false);
        return;
      }
      done(null, true);
    });
  }

  entries(from: number, to: number): readonly Entry[] {
    this.requireLoaded('entries');
    const first = this.shape.firstIndex;
    invariant(from >= first && to < first + this.durableEntries.length, () => `entries: [${from}, ${to}] is not within the written log [${first}, ${first + this.durableEntries.length - 1}]`);
    return this.durableEntries.slice(from - first, to - first + 1);
  }

  termRuns(maxRuns: number): TermRun[] {
    return this.shape.termRuns(maxRuns);
  }

  /** Segment 1, offset = sync records so far (not bytes: nothing here is a file). */
  syncedPosition(): SyncedPosition {
    return { segment: 1, offset: this.durableRecords };
  }

  stats(): StorageStats {
    return {
      walBytes: this.walBytesEstimate,
      files: [],
      fsyncCount: this.fsyncCount,
      fsyncTotalMs: 0,
      sparesPrepared: 0,
      sparesUsed: 0,
      spareErrors: 0,
      sparesDropped: 0,
      sparesSkipped: 0,
      snapshotIndex: this.durableSnapshot?.index ?? 0,
      snapshotBytes: this.durableSnapshot?.data.byteLength ?? 0,
    };
  }

  /** A stop: buffered, unsynced records are dropped; load() may be called again. */
  close(): void {
    this.pending.clear();
    this.loaded = false;
  }

  /** The process (or machine) dies: everything not covered by a sync() is lost. load() may follow. */
  crash(): void {
    this.close();
  }

  private requireLoaded(operation: string): void {
    if (!this.loaded) throw new StorageError(StorageErrorCode.State, `${operation}() on MemoryStorage before load()`);
  }
}
