// The storage under RaftLog: a double-ended sequence of entries in fixed-size chunks.
//
// One array holding the whole log regrew by half whenever it filled: with a long
// compaction period (or none), a leader with 3 million entries in its log copied 2
// million slots into a fresh 24 MB backing store in the middle of a turn, and writes
// stalled 50-120 ms each time (`bench --snapshot-entries 100000000`, 1 node at 270,000
// writes/s). Here the log grows a chunk at a time and never copies what it holds;
// dropping a prefix (compaction) releases whole chunks, which are kept for reuse, so a
// steady compaction cycle allocates nothing new and promotes nothing into the old
// generation.

import { assert } from './assert.js';
import type { Entry } from './types.js';

const CHUNK_SHIFT = 12;
/** Entries per chunk: a 32 KiB backing store, below V8's large-object size. */
const CHUNK_ENTRIES = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK_ENTRIES - 1;
/** Released chunks kept for reuse: 1 MiB of slots, a compaction period's worth at 100,000 entries and more. */
const SPARE_CHUNKS_KEPT = 32;

type Chunk = (Entry | undefined)[];

export class EntryDeque {
  /** chunks[0][#head] holds position 0. Slots outside [#head, #head + #length) are undefined. */
  #chunks: Chunk[] = [];
  #head = 0;
  #length = 0;
  readonly #spare: Chunk[] = [];

  get length(): number {
    return this.#length;
  }

  /** The entry at `position` (0-based), or undefined outside [0, length). */
  at(position: number): Entry | undefined {
    if (position < 0 || position >= this.#length) return undefined;
    const slot = this.#head + position;
    return this.#chunks[slot >>> CHUNK_SHIFT]![slot & CHUNK_MASK];
  }

  /** Replaces the entry at `position` (< length). */
  set(position: number, entry: Entry): void {
    assert(position >= 0 && position < this.#length, () => `entry position ${position} outside [0, ${this.#length})`);
    const slot = this.#head + position;
    this.#chunks[slot >>> CHUNK_SHIFT]![slot & CHUNK_MASK] = entry;
  }

  push(entry: Entry): void {
    const slot = this.#head + this.#length;
    const chunkAt = slot >>> CHUNK_SHIFT;
    if (chunkAt === this.#chunks.length) this.#chunks.push(this.#spare.pop() ?? new Array<Entry | undefined>(CHUNK_ENTRIES).fill(undefined));
    this.#chunks[chunkAt]![slot & CHUNK_MASK] = entry;
    this.#length++;
  }

  /** Entries at positions [start, end), copied into a new array (one native slice per chunk crossed). */
  copy(start: number, end: number): Entry[] {
    assert(start >= 0 && start <= end && end <= this.#length, () => `entry range [${start}, ${end}) outside [0, ${this.#length}]`);
    if (start === end) return [];
    const first = this.#head + start;
    const last = this.#head + end - 1;
    const firstChunk = first >>> CHUNK_SHIFT;
    const lastChunk = last >>> CHUNK_SHIFT;
    if (firstChunk === lastChunk) return this.#chunks[firstChunk]!.slice(first & CHUNK_MASK, (last & CHUNK_MASK) + 1) as Entry[];
    const out = this.#chunks[firstChunk]!.slice(first & CHUNK_MASK) as Entry[];
    for (let chunk = firstChunk + 1; chunk < lastChunk; chunk++) {
      const whole = this.#chunks[chunk]!;
      for (let i = 0; i < CHUNK_ENTRIES; i++) out.push(whole[i]!);
    }
    const tail = this.#chunks[lastChunk]!;
    for (let i = 0; i <= (last & CHUNK_MASK); i++) out.push(tail[i]!);
    return out;
  }

  /** Drops the first `count` entries. */
  dropFront(count: number): void {
    assert(count >= 0 && count <= this.#length, () => `cannot drop ${count} of ${this.#length} entries`);
    if (count === 0) return;
    if (count === this.#length) {
      this.truncate(0);
      return;
    }
    const newHead = this.#head + count;
    const whole = newHead >>> CHUNK_SHIFT;
    for (let chunk = 0; chunk < whole; chunk++) this.#release(this.#chunks[chunk]!);
    if (whole > 0) this.#chunks.splice(0, whole);
    const clearFrom = whole > 0 ? 0 : this.#head;
    this.#head = newHead & CHUNK_MASK;
    this.#chunks[0]!.fill(undefined, clearFrom, this.#head);
    this.#length -= count;
  }

  /** Keeps the first `count` entries (count <= length). */
  truncate(count: number): void {
    assert(count >= 0 && count <= this.#length, () => `cannot keep ${count} of ${this.#length} entries`);
    if (count === this.#length) return;
    const end = this.#head + this.#length;
    const keepEnd = this.#head + count;
    // Chunks holding nothing kept go back whole; the one the cut falls in is cleared after it.
    const chunksKept = count === 0 ? 0 : ((keepEnd - 1) >>> CHUNK_SHIFT) + 1;
    for (let chunk = this.#chunks.length - 1; chunk >= chunksKept; chunk--) this.#release(this.#chunks.pop()!);
    if (chunksKept > 0) {
      const cut = this.#chunks[chunksKept - 1]!;
      cut.fill(undefined, keepEnd - ((chunksKept - 1) << CHUNK_SHIFT), Math.min(CHUNK_ENTRIES, end - ((chunksKept - 1) << CHUNK_SHIFT)));
    } else {
      this.#head = 0;
    }
    this.#length = count;
  }

  #release(chunk: Chunk): void {
    if (this.#spare.length >= SPARE_CHUNKS_KEPT) return;
    chunk.fill(undefined);
    this.#spare.push(chunk);
  }
}
