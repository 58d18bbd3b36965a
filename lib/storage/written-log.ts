// The entries the WAL holds after the last snapshot, as the places of the batch records
// that wrote them: one (segment, offset, length) per write, not one object per entry and
// not the bytes. This is what lets the Raft core drop applied entries from its own log
// (Config.entryLoader): a follower that falls behind gets its entries read back from
// the segment (the page cache, as a rule) and decoded, as etcd's raft reads them from
// its Storage, while the entries of a busy node die young in the JS heap instead of
// being copied by every scavenge until the next compaction.
//
// Until the ninth session this kept a copy of every payload written, in memory until the
// next compaction: a fresh ArrayBuffer per write, about 40 MB a second at 250,000 writes
// a second, which V8 counts against the old generation's limit as external memory, so
// it set off a mark-compact every few hundred milliseconds (lib/bench/README.md, "What each
// optimisation gained").

import type { Entry, LogIndex } from '../raft/types.js';
import { invariant } from './errors.js';
import { RecordKind, batchEntry, decodeRecord } from './record.js';

/** Where a batch record was written: its frame starts `offset` bytes into segment `segment` and takes `bytes`. */
export interface RecordPlace {
  readonly segment: number;
  readonly offset: number;
  readonly bytes: number;
}

/** Reads back the payload of the record framed at `place` (checking its frame), or throws. */
export type RecordReader = (place: RecordPlace) => Uint8Array;

/** One write: entries [firstIndex, lastIndex] of a batch record, or entries recovered at load. */
interface Run {
  readonly firstIndex: LogIndex;
  /** Lowered when a later write replaced this run's tail (conflict truncation, §5.3). */
  lastIndex: LogIndex;
  /** Where the batch record (encodeBatchPayload, framed) was written: read back and decoded on demand. */
  readonly place: RecordPlace | null;
  /** Entries recovered at load, as they are. */
  readonly entries: readonly Entry[] | null;
}

export class WrittenLog {
  readonly #read: RecordReader;
  /** Ascending, without overlap: a write replaces every index at or after its first. */
  #runs: Run[] = [];
  /** The newest snapshot's index: nothing at or below it is handed out. */
  #cutIndex: LogIndex = 0;
  /** The last run decode() decoded, and its entries: a follower catching up reads a run in several slices. */
  #decodedRun: Run | null = null;
  #decoded: readonly Entry[] = [];

  constructor(read: RecordReader) {
    this.#read = read;
  }

  /** The entries load() recovered (views into the segments read). */
  restore(entries: readonly Entry[]): void {
    this.#runs = [];
    this.#cutIndex = 0;
    this.#forgetDecoded();
    const first = entries[0];
    if (first === undefined) return;
    this.#runs.push({ firstIndex: first.index, lastIndex: first.index + entries.length - 1, place: null, entries });
  }

  /** A batch record holding `count` entries from `firstIndex` was written at `place`. */
  written(firstIndex: LogIndex, count: number, place: RecordPlace): void {
    if (count === 0) return;
    this.#truncateFrom(firstIndex);
    this.#runs.push({ firstIndex, lastIndex: firstIndex + count - 1, place, entries: null });
  }

  /** A snapshot at `index` stands for everything up to it: runs wholly at or below it go. */
  cutAt(index: LogIndex): void {
    this.#cutIndex = Math.max(this.#cutIndex, index);
    let drop = 0;
    while (drop < this.#runs.length && this.#runs[drop]!.lastIndex <= index) drop++;
    if (drop > 0) this.#runs = this.#runs.slice(drop);
    this.#forgetDecoded();
  }

  /** Drops every index after `last` (the log was cut back to it). */
  keepThrough(last: LogIndex): void {
    this.#truncateFrom(last + 1);
  }

  /** The first index held (0: none). */
  firstIndex(): LogIndex {
    const first = this.#runs[0];
    return first === undefined ? 0 : Math.max(first.firstIndex, this.#cutIndex + 1);
  }

  /** The last index held (0: none). */
  lastIndex(): LogIndex {
    return this.#runs[this.#runs.length - 1]?.lastIndex ?? 0;
  }

  /** Entries [from, to]; null when some of them are not held (compacted, or never written). */
  read(from: LogIndex, to: LogIndex): Entry[] | null {
    if (to < from) return [];
    if (this.#runs.length === 0 || from < this.firstIndex() || to > this.lastIndex()) return null;
    const out: Entry[] = [];
    let position = this.#runAt(from);
    for (let index = from; index <= to; position++) {
      const run = this.#runs[position]!;
      invariant(run.firstIndex <= index, () => `written log: a gap before ${run.firstIndex} where ${index} was expected`);
      const entries = this.#entriesOf(run);
      const stop = Math.min(to, run.lastIndex);
      for (; index <= stop; index++) out.push(entries[index - run.firstIndex]!);
    }
    return out;
  }

  #truncateFrom(index: LogIndex): void {
    const runs = this.#runs;
    while (runs.length > 0 && runs[runs.length - 1]!.firstIndex >= index) runs.pop();
    const last = runs[runs.length - 1];
    if (last !== undefined && last.lastIndex >= index) last.lastIndex = index - 1;
    this.#forgetDecoded();
  }

  /** The position of the run holding `index` (which some run holds). */
  #runAt(index: LogIndex): number {
    let low = 0;
    let high = this.#runs.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.#runs[middle]!.firstIndex <= index) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  #entriesOf(run: Run): readonly Entry[] {
    if (run.entries !== null) return run.entries;
    if (this.#decodedRun === run) return this.#decoded;
    const place = run.place!;
    const decoded = decodeRecord(this.#read(place));
    invariant(
      decoded.ok && decoded.record.kind === RecordKind.Batch,
      () => `written log: the record of the batch from ${run.firstIndex} (segment ${place.segment}, offset ${place.offset}) does not decode as a batch`,
    );
    const record = decoded.record as Extract<typeof decoded.record, { kind: typeof RecordKind.Batch }>;
    invariant(record.firstIndex === run.firstIndex && record.terms.length >= run.lastIndex - run.firstIndex + 1, () => `written log: the batch from ${run.firstIndex} read back decodes as ${record.terms.length} entries from ${record.firstIndex}`);
    const entries = record.terms.map((_, i): Entry => batchEntry(record, i));
    this.#decodedRun = run;
    this.#decoded = entries;
    return entries;
  }

  #forgetDecoded(): void {
    this.#decodedRun = null;
    this.#decoded = [];
  }
}
