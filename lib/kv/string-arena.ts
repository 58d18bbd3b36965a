// The store's string values, kept as UTF-8 bytes in one growing buffer instead of as one
// JS string per write. A put of a string on a key that holds one overwrites its bytes in
// place: no string is decoded, no object allocated, nothing new for the garbage collector
// to copy and promote. (Each write's value string, promoted because the store keeps it,
// cost 10% of the throughput at 3 nodes and 16% at 7.)
//
// Pure: no node: imports (Node's Buffer slice is used when present: flat-tuple's utf8Slice).

import { utf8Slice } from './flat-tuple.js';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** A string value in the arena: where its bytes are and how many fit there. One per key, reused by every overwrite. */
export class ArenaString {
  constructor(
    public start: number,
    public length: number,
    public capacity: number,
  ) {}
}

const INITIAL_BYTES = 64 * 1024;
/** Slack given to a new region, so values that vary by a few bytes (digits) overwrite in place. */
const SLACK_BYTES = 8;

export class StringArena {
  #bytes = new Uint8Array(INITIAL_BYTES);
  /** Bytes in use up to here; regions are taken from the top. */
  #top = 0;
  /** Bytes of regions given up (deleted keys, values that outgrew theirs). */
  #dead = 0;

  /**
   * @param live every ArenaString still in use, for compaction (the store's values).
   */
  constructor(private readonly live: () => Iterable<unknown>) {}

  /** The string's UTF-8 bytes (a view into the arena: read it before the next write). */
  bytesOf(value: ArenaString): Uint8Array {
    return this.#bytes.subarray(value.start, value.start + value.length);
  }

  read(value: ArenaString): string {
    const end = value.start + value.length;
    return utf8Slice !== null ? utf8Slice.call(this.#bytes, value.start, end) : utf8Decoder.decode(this.#bytes.subarray(value.start, end));
  }

  /** Stores `source[start..end)` (valid UTF-8) into `into` (overwriting it) or, if null, a new ArenaString. */
  storeBytes(into: ArenaString | null, source: Uint8Array, start: number, end: number): ArenaString {
    const length = end - start;
    const target = this.#place(into, length);
    const bytes = this.#bytes;
    const at = target.start;
    if (length <= 64) {
      for (let i = 0; i < length; i++) bytes[at + i] = source[start + i]!;
    } else {
      bytes.set(source.subarray(start, end), at);
    }
    return target;
  }

  /** Stores `text` into `into` (overwriting it) or, if null, a new ArenaString. */
  storeString(into: ArenaString | null, text: string): ArenaString {
    const encoded = utf8Encoder.encode(text);
    return this.storeBytes(into, encoded, 0, encoded.length);
  }

  /** `value` is no longer used (its key was deleted or now holds something else). */
  release(value: ArenaString): void {
    this.#dead += value.capacity;
  }

  /** For tests: bytes in use, and of those, given up. */
  usage(): { top: number; dead: number; size: number } {
    return { top: this.#top, dead: this.#dead, size: this.#bytes.length };
  }

  #place(into: ArenaString | null, length: number): ArenaString {
    if (into !== null && length <= into.capacity) {
      into.length = length;
      return into;
    }
    if (into !== null) this.#dead += into.capacity;
    const capacity = length + SLACK_BYTES;
    if (this.#top + capacity > this.#bytes.length) this.#makeRoom(capacity, into);
    const start = this.#top;
    this.#top += capacity;
    if (into === null) return new ArenaString(start, length, capacity);
    into.start = start;
    into.length = length;
    into.capacity = capacity;
    return into;
  }

  /** Compacts (when at least half is dead) into a buffer with room for `needed` more, or grows. */
  #makeRoom(needed: number, moving: ArenaString | null): void {
    const liveBytes = this.#top - this.#dead;
    let size = this.#bytes.length;
    while (size < 2 * (liveBytes + needed)) size *= 2;
    const from = this.#bytes;
    const to = new Uint8Array(size);
    let top = 0;
    for (const value of this.live()) {
      if (!(value instanceof ArenaString) || value === moving) continue;
      to.set(from.subarray(value.start, value.start + value.length), top);
      value.start = top;
      top += value.capacity;
    }
    this.#bytes = to;
    this.#top = top;
    this.#dead = 0;
  }
}
