// Fast paths for the common shapes on the hot path: a command that is a msgpack array
// of scalars (nil, booleans, integers up to 32 bits, float64, strings), which every put
// of a string or number, every delete, get and register is; and (through ScalarCursor)
// client frame and reply batches. Reading these by hand skips msgpackr's per-call setup
// and its per-call native string extraction, which together cost more than the rest of
// applying a put.
//
// Anything else (a nested value, 64-bit integers, float32, extensions, invalid UTF-8,
// trailing bytes) is declined, and the caller decodes with msgpackr as before: a fast
// path never decides what a byte string means differently, it only declines.
//
// Pure: no node: imports, so lib/kv stays runnable in the simulator.

import { subarrayOf } from '../transport/typed-array-calls.js';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Node's Buffer has a native UTF-8 slice that reads any Uint8Array without a view (a
 * subarray per string was a tenth of what a node allocated) at twice TextDecoder's speed.
 * It replaces invalid UTF-8 with U+FFFD instead of failing, so a result holding U+FFFD
 * is decided again by the strict decoder. Elsewhere (no Buffer) only TextDecoder is used.
 */
const nativeUtf8Slice = (globalThis as { Buffer?: { prototype?: { utf8Slice?: unknown } } }).Buffer?.prototype?.utf8Slice;
export const utf8Slice =
  typeof nativeUtf8Slice === 'function'
    ? (nativeUtf8Slice as (this: Uint8Array, start: number, end: number) => string)
    : null;

/** Strings shorter than this, if ASCII, are built with one String.fromCharCode call. */
const SHORT_STRING_BYTES = 16;

/**
 * Reads a msgpack array of scalars filling `bytes` exactly into `out` (its length set to
 * the element count), for a caller that reads the elements at once and reuses the array:
 * false, with `out` in any state, if `bytes` is not a flat tuple.
 */
export function readFlatTupleInto(bytes: Uint8Array, out: unknown[]): boolean {
  const cursor = sharedCursor;
  cursor.reset(bytes);
  const count = cursor.arrayHeader();
  // Each element takes a byte at least: a longer count is a lie, and `out` is not grown to
  // it. (A 7-byte write frame counting 2^24 grew the shared array to 128 MB in seconds, and
  // left it slow for every command after: a batch of eight stalled a leader 22 s.)
  if (count < 0 || count > bytes.length - cursor.at) return false;
  if (out.length !== count) out.length = count;
  for (let i = 0; i < count; i++) {
    if (!cursor.scalar()) return false;
    out[i] = cursor.value;
  }
  return cursor.atEnd();
}

/**
 * Reads msgpack scalars and array headers one at a time from `bytes`, allocation-free
 * apart from the strings it returns. Every method reports "not this shape" (false or -1)
 * rather than throwing, and then the caller falls back to msgpackr.
 */
export class ScalarCursor {
  at = 0;
  /** The value the last successful scalar() read. */
  value: unknown = null;

  constructor(public bytes: Uint8Array = EMPTY) {}

  /** Starts over on `bytes` (a shared cursor, so a hot path allocates none). */
  reset(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.at = 0;
    this.value = null;
  }

  atEnd(): boolean {
    return this.at === this.bytes.length;
  }

  /** A fixarray, array16 or array32 header: its length, or -1. */
  arrayHeader(): number {
    const bytes = this.bytes;
    const at = this.at;
    if (at >= bytes.length) return -1;
    const head = bytes[at]!;
    if (head >= 0x90 && head <= 0x9f) {
      this.at = at + 1;
      return head & 0x0f;
    }
    if (head === 0xdc && at + 3 <= bytes.length) {
      this.at = at + 3;
      return (bytes[at + 1]! << 8) | bytes[at + 2]!;
    }
    if (head === 0xdd && at + 5 <= bytes.length) {
      this.at = at + 5;
      return uint32(bytes, at + 1);
    }
    return -1;
  }

  /** A bin8/16/32 as a view into `bytes` (no copy), or null. */
  bin(): Uint8Array | null {
    const bytes = this.bytes;
    let at = this.at;
    if (at >= bytes.length) return null;
    let length: number;
    switch (bytes[at]) {
      case 0xc4:
        if (at + 2 > bytes.length) return null;
        length = bytes[at + 1]!;
        at += 2;
        break;
      case 0xc5:
        if (at + 3 > bytes.length) return null;
        length = (bytes[at + 1]! << 8) | bytes[at + 2]!;
        at += 3;
        break;
      case 0xc6:
        if (at + 5 > bytes.length) return null;
        length = uint32(bytes, at + 1);
        at += 5;
        break;
      default:
        return null;
    }
    if (at + length > bytes.length) return null;
    this.at = at + length;
    return subarrayOf(bytes, at, at + length);
  }

  /** Reads one scalar into `value`; false (position unchanged) if the next item is not one. */
  scalar(): boolean {
    const bytes = this.bytes;
    const end = bytes.length;
    let at = this.at;
    if (at >= end) return false;
    const type = bytes[at]!;
    if (type < 0x80) {
      this.value = type;
      this.at = at + 1;
      return true;
    }
    if (type >= 0xe0) {
      this.value = type - 0x100;
      this.at = at + 1;
      return true;
    }
    let length: number;
    if (type >= 0xa0 && type <= 0xbf) {
      length = type & 0x1f;
      at += 1;
    } else {
      switch (type) {
        case 0xc0:
          return this.took(null, at + 1);
        case 0xc2:
          return this.took(false, at + 1);
        case 0xc3:
          return this.took(true, at + 1);
        case 0xcc:
          return at + 2 <= end && this.took(bytes[at + 1]!, at + 2);
        case 0xcd:
          return at + 3 <= end && this.took((bytes[at + 1]! << 8) | bytes[at + 2]!, at + 3);
        case 0xce:
          return at + 5 <= end && this.took(uint32(bytes, at + 1), at + 5);
        case 0xd0:
          return at + 2 <= end && this.took((bytes[at + 1]! << 24) >> 24, at + 2);
        case 0xd1:
          return at + 3 <= end && this.took((((bytes[at + 1]! << 8) | bytes[at + 2]!) << 16) >> 16, at + 3);
        case 0xd2:
          return at + 5 <= end && this.took(uint32(bytes, at + 1) | 0, at + 5);
        case 0xcb:
          return at + 9 <= end && this.took(new DataView(bytes.buffer, bytes.byteOffset + at + 1, 8).getFloat64(0), at + 9);
        case 0xd9:
          if (at + 2 > end) return false;
          length = bytes[at + 1]!;
          at += 2;
          break;
        case 0xda:
          if (at + 3 > end) return false;
          length = (bytes[at + 1]! << 8) | bytes[at + 2]!;
          at += 3;
          break;
        case 0xdb:
          if (at + 5 > end) return false;
          length = uint32(bytes, at + 1);
          at += 5;
          break;
        default:
          return false;
      }
    }
    if (at + length > end) return false;
    const text = readString(bytes, at, length);
    return text !== null && this.took(text, at + length);
  }

  private took(value: unknown, next: number): true {
    this.value = value;
    this.at = next;
    return true;
  }
}

const EMPTY = new Uint8Array(0);

/** The cursor of readFlatTupleInto, which runs to completion and is never re-entered. */
const sharedCursor = new ScalarCursor();

function uint32(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

/** The text of bytes[start..end), which the caller knows to be ASCII. */
export function asciiText(bytes: Uint8Array, start: number, end: number): string {
  const length = end - start;
  if (length < SHORT_STRING_BYTES) return shortAscii(bytes, start, length)!;
  return utf8Slice !== null ? utf8Slice.call(bytes, start, end) : utf8.decode(bytes.subarray(start, end));
}

function readString(bytes: Uint8Array, at: number, length: number): string | null {
  if (length < SHORT_STRING_BYTES) {
    const text = shortAscii(bytes, at, length);
    if (text !== null) return text;
  }
  return decodeUtf8(bytes, at, length);
}

/**
 * An ASCII string shorter than SHORT_STRING_BYTES in one allocation (keys and client ids
 * are usually this: building them a character at a time made a string per character),
 * or null if a byte is not ASCII.
 */
function shortAscii(b: Uint8Array, at: number, length: number): string | null {
  let bits = 0;
  for (let i = at; i < at + length; i++) bits |= b[i]!;
  if (bits >= 0x80) return null;
  const c = String.fromCharCode;
  // prettier-ignore
  switch (length) {
    case 0: return '';
    case 1: return c(b[at]!);
    case 2: return c(b[at]!, b[at + 1]!);
    case 3: return c(b[at]!, b[at + 1]!, b[at + 2]!);
    case 4: return c(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
    case 5: return c(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!);
    case 6: return c(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!);
    case 7: return c(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!, b[at + 6]!);
    default: return c(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!, b[at + 6]!, b[at + 7]!) + shortAscii(b, at + 8, length - 8)!;
  }
}

function decodeUtf8(bytes: Uint8Array, at: number, length: number): string | null {
  if (utf8Slice !== null) {
    const text = utf8Slice.call(bytes, at, at + length);
    if (text.indexOf('\uFFFD') === -1) return text;
  }
  try {
    return utf8.decode(bytes.subarray(at, at + length));
  } catch {
    return null; // not valid UTF-8: let msgpackr decide what it means
  }
}

/**
 * Where the msgpack item that starts at bytes[at] ends (its last byte + 1), or -1 if it
 * runs past the end or holds the never-used byte 0xc1. Nested items are counted, not
 * recursed into, so any depth is fine.
 */
export function msgpackItemEnd(bytes: Uint8Array, at: number): number {
  const end = bytes.length;
  let items = 1;
  while (items > 0) {
    if (at >= end) return -1;
    const type = bytes[at]!;
    items--;
    if (type < 0x80 || type >= 0xe0) {
      at += 1;
    } else if (type <= 0x8f) {
      items += 2 * (type & 0x0f);
      at += 1;
    } else if (type <= 0x9f) {
      items += type & 0x0f;
      at += 1;
    } else if (type <= 0xbf) {
      at += 1 + (type & 0x1f);
    } else {
      const size = SIZED_ITEMS[type - 0xc0]!;
      if (size === 0) return -1;
      if (at + size > end) return -1;
      switch (type) {
        case 0xc4: // bin8, str8
        case 0xd9:
          at += 2 + bytes[at + 1]!;
          break;
        case 0xc5: // bin16, str16
        case 0xda:
          at += 3 + ((bytes[at + 1]! << 8) | bytes[at + 2]!);
          break;
        case 0xc6: // bin32, str32
        case 0xdb:
          at += 5 + uint32(bytes, at + 1);
          break;
        case 0xc7: // ext8, ext16, ext32: length, then the type byte
          at += 3 + bytes[at + 1]!;
          break;
        case 0xc8:
          at += 4 + ((bytes[at + 1]! << 8) | bytes[at + 2]!);
          break;
        case 0xc9:
          at += 6 + uint32(bytes, at + 1);
          break;
        case 0xdc: // array16, array32
          items += (bytes[at + 1]! << 8) | bytes[at + 2]!;
          at += 3;
          break;
        case 0xdd:
          items += uint32(bytes, at + 1);
          at += 5;
          break;
        case 0xde: // map16, map32
          items += 2 * ((bytes[at + 1]! << 8) | bytes[at + 2]!);
          at += 3;
          break;
        case 0xdf:
          items += 2 * uint32(bytes, at + 1);
          at += 5;
          break;
        default: // fixed sizes: nil, booleans, numbers, fixext
          at += size;
      }
    }
  }
  return at <= end ? at : -1;
}

/**
 * For each type byte 0xc0-0xdf: the bytes of a fixed-size item, or of a sized item's
 * header (its length or count read from it); 0 for 0xc1, which msgpack never uses.
 */
const SIZED_ITEMS = new Uint8Array([
  1, 0, 1, 1, // nil, (never used), false, true
  2, 3, 5, // bin8/16/32 headers
  3, 4, 6, // ext8/16/32 headers
  5, 9, // float32, float64
  2, 3, 5, 9, // uint8/16/32/64
  2, 3, 5, 9, // int8/16/32/64
  3, 4, 6, 10, 18, // fixext 1/2/4/8/16
  2, 3, 5, // str8/16/32 headers
  3, 5, // array16/32 headers
  3, 5, // map16/32 headers
]);

/**
 * If bytes[at] starts a msgpack string whose bytes are all ASCII: sets `range` to its
 * text [start, end) and returns true. False (range untouched) for anything else, a
 * string with a byte over 0x7f included. `scan` false: the caller already knows the
 * bytes are ASCII (they were checked before), only where the text lies is found.
 */
export function asciiStrAt(bytes: Uint8Array, at: number, range: { start: number; end: number }, scan = true): boolean {
  const end = bytes.length;
  if (at >= end) return false;
  const type = bytes[at]!;
  let start: number;
  let length: number;
  if (type >= 0xa0 && type <= 0xbf) {
    start = at + 1;
    length = type & 0x1f;
  } else if (type === 0xd9 && at + 2 <= end) {
    start = at + 2;
    length = bytes[at + 1]!;
  } else if (type === 0xda && at + 3 <= end) {
    start = at + 3;
    length = (bytes[at + 1]! << 8) | bytes[at + 2]!;
  } else if (type === 0xdb && at + 5 <= end) {
    start = at + 5;
    length = uint32(bytes, at + 1);
  } else {
    return false;
  }
  const stop = start + length;
  if (stop > end) return false;
  if (scan) {
    // Eight bytes a step: a put's value is most of its bytes, and this runs for every write.
    let high = 0;
    let i = start;
    for (; i + 8 <= stop; i += 8) {
      high |= bytes[i]! | bytes[i + 1]! | bytes[i + 2]! | bytes[i + 3]! | bytes[i + 4]! | bytes[i + 5]! | bytes[i + 6]! | bytes[i + 7]!;
    }
    for (; i < stop; i++) high |= bytes[i]!;
    if ((high & 0x80) !== 0) return false;
  }
  range.start = start;
  range.end = stop;
  return true;
}
