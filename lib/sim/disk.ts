// A simulated disk for one node: what the host has written (the node's log as the
// host sees it) and what has been made durable by a completed sync. A crash keeps
// only the durable part, exactly what a power cut does to a file written without
// fdatasync. The undo log makes both a write and a crash cost only what changed.
//
// Snapshots (§7): a snapshot received from the leader is installed as part of a write
// (lost in a crash before the sync, like any write); a compaction by the host is
// durable at once (the host writes its snapshot file with fsync before it returns).
// Entries covered by the snapshot are gone: their slots are left empty.

import type { Entry, HardState, RestoredState, Snapshot } from '../raft/types.js';
import { assertNever } from '../raft/assert.js';

const EMPTY_HARD_STATE: HardState = { currentTerm: 0, votedFor: 0, commitIndex: 0 };

type Undo = (
  | { readonly kind: 'entries'; readonly fromIndex: number; readonly removed: readonly Entry[] }
  | { readonly kind: 'hardState'; readonly previous: HardState }
  | { readonly kind: 'snapshot'; readonly previous: Snapshot | null; readonly entries: readonly Entry[] }
) & { readonly sequence: number };

export class SimDisk {
  /** The written log, index i at position i - 1: synced entries plus unsynced writes. Empty slots up to the snapshot's index. */
  #entries: Entry[] = [];
  #snapshot: Snapshot | null = null;
  #hardState: HardState = EMPTY_HARD_STATE;
  /** Everything written since the last sync, newest last, so a crash can roll it back. */
  #undo: Undo[] = [];
  /** False until the first sync: a node that never synced restarts as brand new. */
  #everSynced = false;
  /** Numbers every write, so an fdatasync can cover exactly the writes issued before it started. */
  #writeSequence = 0;

  /** The number of the last write: what an fdatasync started now will cover (see syncThrough). */
  get writeSequence(): number {
    return this.#writeSequence;
  }

  get lastIndex(): number {
    return this.#entries.length;
  }

  get hardState(): HardState {
    return this.#hardState;
  }

  /** The hard state a crash now would leave: the last one synced. */
  get durableHardState(): HardState {
    const oldest = this.#undo.find((undo) => undo.kind === 'hardState');
    return oldest?.kind === 'hardState' ? oldest.previous : this.#hardState;
  }

  /** The last index a crash now would leave (the unsynced writes rolled back). */
  get durableLastIndex(): number {
    let length = this.#entries.length;
    for (let position = this.#undo.length - 1; position >= 0; position--) {
      const undo = this.#undo[position]!;
      if (undo.kind === 'entries') length = undo.fromIndex - 1 + undo.removed.length;
      else if (undo.kind === 'snapshot') length = undo.entries.length;
    }
    return length;
  }

  /** The last index covered by the snapshot (0: none); entries up to it are gone. */
  get snapshotIndex(): number {
    return this.#snapshot?.index ?? 0;
  }

  get snapshot(): Snapshot | null {
    return this.#snapshot;
  }

  get dirty(): boolean {
    return this.#undo.length > 0;
  }

  /** Whether the log itself (entries or a snapshot from the leader) has writes not yet synced, not just the hard state. */
  get logDirty(): boolean {
    return this.#undo.some((undo) => undo.kind !== 'hardState');
  }

  /** The written entry at `index` (1-based), synced or not. */
  entry(index: number): Entry | undefined {
    return index > this.snapshotIndex ? this.#entries[index - 1] : undefined;
  }

  termAt(index: number): number {
    if (index === 0) return 0;
    if (this.#snapshot !== null && index === this.#snapshot.index) return this.#snapshot.term;
    return this.entry(index)?.term ?? -1;
  }

  /**
   * Ready step 1, before the entries: a snapshot from the leader replaces the whole log
   * (the core hands one out only when its log did not hold the snapshot's last entry).
   * Not durable until sync().
   */
  installSnapshot(snapshot: Snapshot): void {
    if (snapshot.index <= this.snapshotIndex) {
      throw new Error(`SimDisk.installSnapshot: snapshot at ${snapshot.index} is not past the current one at ${this.snapshotIndex}`);
    }
    this.#undo.push({ kind: 'snapshot', previous: this.#snapshot, entries: this.#entries, sequence: ++this.#writeSequence });
    this.#snapshot = snapshot;
    this.#entries = new Array<Entry>(snapshot.index);
  }

  /** The host compacted: `snapshot` is durable at once and the entries it covers are gone. Only on a clean disk. */
  compact(snapshot: Snapshot): void {
    if (this.dirty) throw new Error('SimDisk.compact: unsynced writes present');
    const entry = this.entry(snapshot.index);
    if (snapshot.index <= this.snapshotIndex || entry === undefined || entry.term !== snapshot.term) {
      throw new Error(`SimDisk.compact: snapshot at ${snapshot.index}@t${snapshot.term} does not cover a held entry past ${this.snapshotIndex}`);
    }
    for (let index = this.snapshotIndex + 1; index <= snapshot.index; index++) delete this.#entries[index - 1];
    this.#snapshot = snapshot;
    this.#everSynced = true;
  }

  /**
   * Ready step 1: append `entries`, first truncating the log from entries[0].index, and
   * record `hardState`. Not durable until sync().
   */
  write(entries: readonly Entry[], hardState: HardState | null): void {
    const first = entries[0];
    if (first !== undefined) {
      if (first.index <= this.snapshotIndex || first.index > this.#entries.length + 1) {
        throw new Error(
          `SimDisk.write: entries must start within the log or right after it: first index ${first.index}, last index ${this.#entries.length}`,
        );
      }
      entries.forEach((entry, offset) => {
        if (entry.index !== first.index + offset) {
          throw new Error(`SimDisk.write: entries must be contiguous: index ${entry.index} at offset ${offset} after ${first.index}`);
        }
      });
      const removed = this.#entries.splice(first.index - 1);
      this.#undo.push({ kind: 'entries', fromIndex: first.index, removed, sequence: ++this.#writeSequence });
      for (const entry of entries) this.#entries.push(entry);
    }
    if (hardState !== null) {
      this.#undo.push({ kind: 'hardState', previous: this.#hardState, sequence: ++this.#writeSequence });
      this.#hardState = hardState;
    }
  }

  /** The fdatasync completed: everything written so far survives a crash. */
  sync(): void {
    this.#undo = [];
    this.#everSynced = true;
  }

  /**
   * An fdatasync that started when writeSequence was `sequence` completed: the writes up
   * to it survive a crash, later ones (issued while it ran) do not yet.
   */
  syncThrough(sequence: number): void {
    let covered = 0;
    while (covered < this.#undo.length && this.#undo[covered]!.sequence <= sequence) covered++;
    if (covered === 0 && this.#undo.length > 0) return;
    this.#undo = this.#undo.slice(covered);
    this.#everSynced = true;
  }

  /**
   * Power loss. Unless `writesSurvived` (the disk happened to flush before the cut),
   * every unsynced write is rolled back, newest first.
   */
  crash(writesSurvived: boolean): void {
    if (writesSurvived) {
      this.sync();
      return;
    }
    for (let position = this.#undo.length - 1; position >= 0; position--) {
      const undo = this.#undo[position]!;
      switch (undo.kind) {
        case 'entries':
          this.#entries.length = undo.fromIndex - 1;
          for (const entry of undo.removed) this.#entries.push(entry);
          break;
        case 'hardState':
          this.#hardState = undo.previous;
          break;
        case 'snapshot':
          this.#snapshot = undo.previous;
          this.#entries = undo.entries.slice();
          break;
        default:
          assertNever(undo, 'disk undo record');
      }
    }
    this.#undo = [];
  }

  /** What a restarting node reads back (null: nothing was ever made durable). */
  restore(): RestoredState | null {
    if (this.dirty) {
      throw new Error('SimDisk.restore: unsynced writes present; crash() must come before a restart');
    }
    if (!this.#everSynced) return null;
    return { hardState: this.#hardState, snapshot: this.#snapshot, entries: this.#entries.slice(this.snapshotIndex) };
  }
}

