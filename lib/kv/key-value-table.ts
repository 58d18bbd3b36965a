// The store's keys and values, laid out for the cache. Every node looks up the key of
// every write it applies; with a Map<string, value> of 10,000 keys that lookup was 12-18%
// of a 7-node cluster's CPU (perf, Builtins_FindOrderedHashMapEntry): the Map's buckets,
// its entries, the key strings and the value objects sit on different pages of a 50 MB
// heap, seven such heaps share two cores' caches and TLBs, and a lookup with cold caches
// took 380-430 ns. Without the lookup (an unsafe experiment) the cluster did x1.35-1.41
// the writes/s; with this table a cold lookup takes 85-120 ns.
//
// Here a key is found by hashing its UTF-8 bytes into an open-addressing table of
// [hash, id] pairs (one cache line holds eight), its bytes are compared in a key arena,
// and everything else about it is a few integers in one record array: where its key
// bytes are, where its value's bytes are if the value is a string (strings live in a
// value arena and an overwrite that fits is done in place), or that the value is another
// JSON value, kept in a plain array by id. A plain put is applied from the command's
// bytes without making a string. Iteration is in insertion order, as a Map's is (a list
// threaded through the records), so two machines holding the same keys inserted in the
// same order write the same snapshot bytes, whatever ids their keys happen to have.
//
// Pure: no node: imports (Node's Buffer#utf8Slice is used when present, via flat-tuple).

import { utf8Slice } from './flat-tuple.js';
import type { JsonValue } from './command.js';
import { copyInto, subarrayOf } from '../transport/typed-array-calls.js';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Int32 fields per id in #records. */
const RECORD_INTS = 8;
const KEY_START = 0;
/** -1 marks a free id. */
const KEY_LENGTH = 1;
const HASH = 2;
const VALUE_START = 3;
/** -1: the value is not a string; it is #json[id]. */
const VALUE_LENGTH = 4;
const VALUE_CAPACITY = 5;
/** The ids inserted just before and after this one (-1: none): iteration order. */
const PREVIOUS = 6;
const NEXT = 7;

const INITIAL_IDS = 64;
/** Slots are kept at most half full (linear probing degrades fast above that). */
const INITIAL_SLOTS = 2 * INITIAL_IDS;
const INITIAL_ARENA_BYTES = 64 * 1024;
const MAX_ARENA_BYTES = 0x7fffffff;
/** Keys given as strings up to this many characters are encoded into a reused buffer (a stored key is at most 1 KiB). */
const SCRATCH_KEY_CHARS = 2048;
/** Slack given to a new value region, so values that vary by a few bytes (digits) overwrite in place. */
const VALUE_SLACK_BYTES = 8;
/** Values up to this long are copied a byte at a time (set() with a subarray costs more for them). */
const BYTE_LOOP_MAX = 64;

/**
 * A 32-bit hash of bytes[start, end): four bytes a step (a multiply by the golden-ratio
 * constant per little-endian word), then the MurmurHash3 finalizer, so that the low bits
 * the slots are chosen by depend on every byte. A byte at a time (FNV-1a) made hashing a
 * 36-byte client id half the cost of finding its session.
 */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let hash = end - start;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const word = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    hash = Math.imul(hash ^ word, 0x9e3779b1);
    hash = (hash << 13) | (hash >>> 19);
  }
  for (; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x9e3779b1);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  return hash ^ (hash >>> 16);
}

/** A byte arena: regions taken from the top; dead bytes reclaimed by compaction when it fills. */
interface Arena {
  bytes: Uint8Array;
  top: number;
  dead: number;
}

function newArena(): Arena {
  return { bytes: new Uint8Array(INITIAL_ARENA_BYTES), top: 0, dead: 0 };
}

export class KeyValueTable {
  /** [hash, id + 1] pairs; id + 1 === 0 is an empty slot. Capacity a power of two. */
  #slots = new Int32Array(2 * INITIAL_SLOTS);
  #records = new Int32Array(RECORD_INTS * INITIAL_IDS).fill(-1);
  /** Non-string values by id. */
  #json: (JsonValue | undefined)[] = [];
  /** Freed ids, reused last-freed first. */
  #freeIds: number[] = [];
  /** Ids below this have been handed out at some point. */
  #idsUsed = 0;
  #size = 0;
  /** The oldest and newest live ids (-1: empty). */
  #head = -1;
  #tail = -1;
  /** The walk (walkNext): the id it returned last, or -1 before its first. */
  #walkAt = -1;
  #keys = newArena();
  #values = newArena();
  /** A key given as a string is encoded here to be looked up (up to SCRATCH_KEY_CHARS characters). */
  readonly #scratch = new Uint8Array(3 * SCRATCH_KEY_CHARS);
  /** Where #encode put the key: #scratch, or a buffer of its own for a longer key. */
  #encoded = this.#scratch;

  get size(): number {
    return this.#size;
  }

  // ---------------------------------------------------------------------------
  // Keys

  /** The id of the key whose UTF-8 bytes are bytes[start, end), or -1. */
  findBytes(bytes: Uint8Array, start: number, end: number): number {
    return this.#find(bytes, start, end, hashBytes(bytes, start, end));
  }

  /** The id of `key`, or -1. */
  find(key: string): number {
    const length = this.#encode(key);
    return this.findBytes(this.#encoded, 0, length);
  }

  /** Adds the key bytes[start, end), which must be absent; returns its id (its value is null until set). */
  insertBytes(bytes: Uint8Array, start: number, end: number): number {
    const hash = hashBytes(bytes, start, end);
    if (2 * (this.#size + 1) > this.#slots.length / 2) this.#growSlots();
    const id = this.#freeIds.length > 0 ? this.#freeIds.pop()! : this.#newId();
    const length = end - start;
    const keyStart = this.#reserve(this.#keys, length);
    copyBytes(this.#keys.bytes, keyStart, bytes, start, end);
    const records = this.#records;
    const at = id * RECORD_INTS;
    records[at + KEY_START] = keyStart;
    records[at + KEY_LENGTH] = length;
    records[at + HASH] = hash;
    records[at + VALUE_START] = 0;
    records[at + VALUE_LENGTH] = -1;
    records[at + VALUE_CAPACITY] = 0;
    records[at + PREVIOUS] = this.#tail;
    records[at + NEXT] = -1;
    if (this.#tail >= 0) records[this.#tail * RECORD_INTS + NEXT] = id;
    else this.#head = id;
    this.#tail = id;
    this.#json[id] = null;
    this.#placeInSlots(hash, id);
    this.#size++;
    return id;
  }

  /** Adds `key`, which must be absent; returns its id. */
  insert(key: string): number {
    const length = this.#encode(key);
    return this.insertBytes(this.#encoded, 0, length);
  }

  /** Removes the key of `id` with its value; the id may be handed out again. */
  remove(id: number): void {
    const records = this.#records;
    const at = this.#checkLive(id);
    const hash = records[at + HASH]!;
    this.#removeFromSlots(hash, id);
    const previous = records[at + PREVIOUS]!;
    const next = records[at + NEXT]!;
    if (previous >= 0) records[previous * RECORD_INTS + NEXT] = next;
    else this.#head = next;
    if (next >= 0) records[next * RECORD_INTS + PREVIOUS] = previous;
    else this.#tail = previous;
    // A walk that stands on this id goes on from the one before it, as a Map iterator would.
    if (this.#walkAt === id) this.#walkAt = previous;
    this.#keys.dead += records[at + KEY_LENGTH]!;
    this.#values.dead += records[at + VALUE_CAPACITY]!;
    records[at + KEY_LENGTH] = -1;
    records[at + VALUE_LENGTH] = -1;
    records[at + VALUE_CAPACITY] = 0;
    this.#json[id] = undefined;
    this.#freeIds.push(id);
    this.#size--;
  }

  /** The key of `id` as a string. */
  keyOf(id: number): string {
    const at = this.#checkLive(id);
    const start = this.#records[at + KEY_START]!;
    return decode(this.#keys.bytes, start, start + this.#records[at + KEY_LENGTH]!);
  }

  /** The key of `id` as UTF-8 bytes (a view into the arena: use it before the next change). */
  keyBytesOf(id: number): Uint8Array {
    const at = this.#checkLive(id);
    const start = this.#records[at + KEY_START]!;
    return subarrayOf(this.#keys.bytes, start, start + this.#records[at + KEY_LENGTH]!);
  }

  /** Every id handed out so far is below this. */
  get idLimit(): number {
    return this.#idsUsed;
  }

  /** The oldest live id, or -1 (iteration in insertion order: first(), then next(id)). */
  first(): number {
    return this.#head;
  }

  /** The live id inserted after `id`, or -1. */
  next(id: number): number {
    return this.#records[this.#checkLive(id) + NEXT]!;
  }

  /**
   * Starts a walk over the keys that, like a Map iterator, may go on while keys are added
   * (they are reached, being newest) and removed (they are skipped). One walk at a time.
   */
  walkBegin(): void {
    this.#walkAt = -1;
  }

  /** The walk's next id, or -1 when it has reached the newest key. */
  walkNext(): number {
    const next = this.#walkAt < 0 ? this.#head : this.#records[this.#walkAt * RECORD_INTS + NEXT]!;
    if (next >= 0) this.#walkAt = next;
    return next;
  }

  // ---------------------------------------------------------------------------
  // Values

  /** True when the value of `id` is a string (kept in the value arena). */
  isString(id: number): boolean {
    return this.#records[this.#checkLive(id) + VALUE_LENGTH]! >= 0;
  }

  /** The value of `id` when it is not a string: the table's own object (append changes it in place). */
  json(id: number): JsonValue {
    const at = this.#checkLive(id);
    if (this.#records[at + VALUE_LENGTH]! >= 0) throw new Error(`KeyValueTable.json: the value of id ${id} is a string`);
    return this.#json[id]!;
  }

  /** The value of `id`, a string decoded from the arena or the stored JSON value itself. */
  value(id: number): JsonValue {
    const at = this.#checkLive(id);
    const length = this.#records[at + VALUE_LENGTH]!;
    if (length < 0) return this.#json[id]!;
    const start = this.#records[at + VALUE_START]!;
    return decode(this.#values.bytes, start, start + length);
  }

  /** A string value's UTF-8 bytes (a view into the arena: use it before the next change). */
  stringBytesOf(id: number): Uint8Array {
    const at = this.#checkLive(id);
    const length = this.#records[at + VALUE_LENGTH]!;
    if (length < 0) throw new Error(`KeyValueTable.stringBytesOf: the value of id ${id} is not a string`);
    const start = this.#records[at + VALUE_START]!;
    return subarrayOf(this.#values.bytes, start, start + length);
  }

  /** Sets the value of `id` to the string whose UTF-8 bytes are source[start, end), in place when it fits. */
  setStringBytes(id: number, source: Uint8Array, start: number, end: number): void {
    const at = this.#checkLive(id);
    const length = end - start;
    const records = this.#records;
    // Only a value that was not a string has anything in #json to let go of: an overwrite
    // of a string touches no line outside its record and its bytes.
    if (records[at + VALUE_LENGTH]! < 0) this.#json[id] = undefined;
    let valueStart = records[at + VALUE_START]!;
    if (length > records[at + VALUE_CAPACITY]!) {
      this.#values.dead += records[at + VALUE_CAPACITY]!;
      const capacity = length + VALUE_SLACK_BYTES;
      // Given up before the new region is taken: a compaction now must not keep the old bytes.
      records[at + VALUE_CAPACITY] = 0;
      records[at + VALUE_LENGTH] = -1;
      valueStart = this.#reserve(this.#values, capacity);
      records[at + VALUE_START] = valueStart;
      records[at + VALUE_CAPACITY] = capacity;
    }
    records[at + VALUE_LENGTH] = length;
    copyBytes(this.#values.bytes, valueStart, source, start, end);
  }

  setString(id: number, text: string): void {
    const encoded = utf8Encoder.encode(text);
    this.setStringBytes(id, encoded, 0, encoded.length);
  }

  /** Sets the value of `id` to a JSON value that is not a string. */
  setJson(id: number, value: JsonValue): void {
    if (typeof value === 'string') throw new Error('KeyValueTable.setJson: strings go to setString');
    const at = this.#checkLive(id);
    this.#values.dead += this.#records[at + VALUE_CAPACITY]!;
    this.#records[at + VALUE_LENGTH] = -1;
    this.#records[at + VALUE_CAPACITY] = 0;
    this.#json[id] = value;
  }

  /**
   * Makes room at once for `ids` more keys and `valueBytes` more bytes of string values
   * (a restore knows both, or a bound), where inserting one by one would grow every
   * table a dozen times over, each time copying or rehashing all it holds. Up to 512 MiB
   * of values; past that the arena grows as it fills.
   */
  reserve(ids: number, valueBytes: number): void {
    const keys = this.#size + ids;
    let slots = this.#slots.length;
    while (2 * (keys + 1) > slots / 2) slots *= 2;
    if (slots > this.#slots.length) this.#rehash(slots);
    let records = this.#records.length;
    while ((this.#idsUsed + ids) * RECORD_INTS > records) records *= 2;
    if (records > this.#records.length) {
      const grown = new Int32Array(records).fill(-1);
      grown.set(this.#records);
      this.#records = grown;
    }
    const values = this.#values;
    const needed = Math.min(valueBytes + ids * VALUE_SLACK_BYTES, MAX_ARENA_BYTES >>> 2);
    // Exactly this much: the doubling below is for an arena that fills as it goes.
    if (values.top + needed > values.bytes.length) this.#makeRoom(values, needed, values.top - values.dead + needed);
  }

  /** For tests: the arenas' and slots' use. */
  usage(): { ids: number; slots: number; keyBytes: number; keyDead: number; valueBytes: number; valueDead: number; valueArenaBytes: number } {
    return {
      ids: this.#idsUsed,
      slots: this.#slots.length / 2,
      keyBytes: this.#keys.top,
      keyDead: this.#keys.dead,
      valueBytes: this.#values.top,
      valueDead: this.#values.dead,
      valueArenaBytes: this.#values.bytes.length,
    };
  }

  // ---------------------------------------------------------------------------
  // Internals

  #checkLive(id: number): number {
    const at = id * RECORD_INTS;
    if (!(id >= 0 && id < this.#idsUsed && this.#records[at + KEY_LENGTH]! >= 0)) {
      throw new Error(`KeyValueTable: id ${id} is not a live key`);
    }
    return at;
  }

  /** UTF-8 of `key` into #encoded; returns its length. */
  #encode(key: string): number {
    if (key.length > SCRATCH_KEY_CHARS) {
      // Too long to be a stored key (at most 1 KiB), but a read may ask for one.
      this.#encoded = utf8Encoder.encode(key);
      return this.#encoded.length;
    }
    this.#encoded = this.#scratch;
    const scratch = this.#scratch;
    for (let i = 0; i < key.length; i++) {
      const code = key.charCodeAt(i);
      if (code >= 0x80) return utf8Encoder.encodeInto(key, scratch).written;
      scratch[i] = code;
    }
    return key.length;
  }

  #find(bytes: Uint8Array, start: number, end: number, hash: number): number {
    const slots = this.#slots;
    const mask = slots.length / 2 - 1;
    const records = this.#records;
    const keyBytes = this.#keys.bytes;
    const length = end - start;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const idPlusOne = slots[2 * slot + 1]!;
      if (idPlusOne === 0) return -1;
      if (slots[2 * slot] !== hash) continue;
      const id = idPlusOne - 1;
      const at = id * RECORD_INTS;
      if (records[at + KEY_LENGTH] !== length) continue;
      const keyStart = records[at + KEY_START]!;
      let same = true;
      for (let i = 0; i < length; i++) {
        if (keyBytes[keyStart + i] !== bytes[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return id;
    }
  }

  #placeInSlots(hash: number, id: number): void {
    const slots = this.#slots;
    const mask = slots.length / 2 - 1;
    let slot = hash & mask;
    while (slots[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
    slots[2 * slot] = hash;
    slots[2 * slot + 1] = id + 1;
  }

  /** Linear probing's deletion: empty the slot, then move back any later entry of the run that its home allows. */
  #removeFromSlots(hash: number, id: number): void {
    const slots = this.#slots;
    const mask = slots.length / 2 - 1;
    let hole = hash & mask;
    while (slots[2 * hole + 1] !== id + 1) {
      if (slots[2 * hole + 1] === 0) throw new Error(`KeyValueTable: id ${id} is not in the slots`);
      hole = (hole + 1) & mask;
    }
    slots[2 * hole + 1] = 0;
    for (let slot = (hole + 1) & mask; slots[2 * slot + 1] !== 0; slot = (slot + 1) & mask) {
      const home = slots[2 * slot]! & mask;
      // The entry at `slot` may move to `hole` unless its home lies cyclically in (hole, slot].
      const homeBetween = hole <= slot ? home > hole && home <= slot : home > hole || home <= slot;
      if (homeBetween) continue;
      slots[2 * hole] = slots[2 * slot]!;
      slots[2 * hole + 1] = slots[2 * slot + 1]!;
      slots[2 * slot + 1] = 0;
      hole = slot;
    }
  }

  #growSlots(): void {
    this.#rehash(2 * this.#slots.length); // doubles: twice as many [hash, id] pairs
  }

  #rehash(length: number): void {
    this.#slots = new Int32Array(length);
    const records = this.#records;
    for (let id = 0; id < this.#idsUsed; id++) {
      const at = id * RECORD_INTS;
      if (records[at + KEY_LENGTH]! >= 0) this.#placeInSlots(records[at + HASH]!, id);
    }
  }

  #newId(): number {
    const id = this.#idsUsed++;
    if (id * RECORD_INTS >= this.#records.length) {
      const grown = new Int32Array(this.#records.length * 2).fill(-1);
      grown.set(this.#records);
      this.#records = grown;
    }
    return id;
  }

  /** Takes `length` bytes from the top of `arena`, making room first if they do not fit. */
  #reserve(arena: Arena, length: number): number {
    if (arena.top + length > arena.bytes.length) this.#makeRoom(arena, length);
    const start = arena.top;
    arena.top += length;
    return start;
  }

  /**
   * Copies the live regions of `arena` into a new buffer with room for `needed` more (as
   * large, or larger when over half is live), or of `exactSize` bytes.
   */
  #makeRoom(arena: Arena, needed: number, exactSize?: number): void {
    const isKeys = arena === this.#keys;
    const live = arena.top - arena.dead;
    let size = arena.bytes.length;
    if (exactSize !== undefined) size = Math.max(exactSize, live + needed);
    else while (size < 2 * (live + needed)) size *= 2;
    // Offsets are kept in an Int32Array: past 2 GiB they would wrap, so refuse loudly first.
    if (size > MAX_ARENA_BYTES) throw new Error(`KeyValueTable: an arena of ${size} bytes would exceed ${MAX_ARENA_BYTES}`);
    const from = arena.bytes;
    const to = new Uint8Array(size);
    const records = this.#records;
    let top = 0;
    for (let id = 0; id < this.#idsUsed; id++) {
      const at = id * RECORD_INTS;
      if (records[at + KEY_LENGTH]! < 0) continue;
      if (isKeys) {
        const start = records[at + KEY_START]!;
        const length = records[at + KEY_LENGTH]!;
        to.set(from.subarray(start, start + length), top);
        records[at + KEY_START] = top;
        top += length;
      } else {
        const capacity = records[at + VALUE_CAPACITY]!;
        if (capacity === 0) continue;
        const start = records[at + VALUE_START]!;
        to.set(from.subarray(start, start + records[at + VALUE_LENGTH]!), top);
        records[at + VALUE_START] = top;
        top += capacity;
      }
    }
    arena.bytes = to;
    arena.top = top;
    arena.dead = 0;
  }
}

function copyBytes(to: Uint8Array, at: number, source: Uint8Array, start: number, end: number): void {
  if (end - start <= BYTE_LOOP_MAX) {
    for (let i = start; i < end; i++) to[at + i - start] = source[i]!;
  } else {
    // Through constants (typed-array-calls.ts): no inline cache to be left generic.
    copyInto(to, subarrayOf(source, start, end), at);
  }
}

function decode(bytes: Uint8Array, start: number, end: number): string {
  return utf8Slice !== null ? utf8Slice.call(bytes, start, end) : utf8Decoder.decode(bytes.subarray(start, end));
}
