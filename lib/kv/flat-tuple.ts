// A fast path for decoding the common shape of a command: a msgpack array whose elements
// are all scalars (nil, booleans, integers up to 32 bits, float64, strings). Every put of
// a string or number value, every delete, get and register has that shape; decoding it by
// hand skips msgpackr's per-call setup and its per-call native string extraction, which
// together cost more than the rest of applying a put.
//
// Anything else (a nested value, 64-bit integers, float32, extensions, invalid UTF-8,
// trailing bytes) returns null, and the caller decodes with msgpackr as before: the fast
// path never decides what a byte string means differently, it only declines.
//
// Pure: no node: imports, so lib/kv stays runnable in the simulator.

// ignoreBOM: a leading U+FEFF is part of the string, as msgpackr reads it.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strings shorter than this, if ASCII, are built with String.fromCharCode. */
const SHORT_STRING_BYTES = 12;

/** What readFlatTuple returns for "not this shape: decode it the general way". */
export const NOT_FLAT = null;

/** The elements of a msgpack array of scalars filling `bytes` exactly, or null. */
export function readFlatTuple(bytes: Uint8Array): unknown[] | null {
  const end = bytes.length;
  if (end === 0) return NOT_FLAT;
  const head = bytes[0]!;
  let count: number;
  let at: number;
  if (head >= 0x90 && head <= 0x9f) {
    count = head & 0x0f;
    at = 1;
  } else if (head === 0xdc && end >= 3) {
    count = (bytes[1]! << 8) | bytes[2]!;
    at = 3;
  } else {
    return NOT_FLAT;
  }
  const elements = new Array<unknown>(count);
  for (let i = 0; i < count; i++) {
    if (at >= end) return NOT_FLAT;
    const type = bytes[at]!;
    if (type < 0x80) {
      elements[i] = type;
      at += 1;
      continue;
    }
    if (type >= 0xe0) {
      elements[i] = type - 0x100;
      at += 1;
      continue;
    }
    let length: number;
    if (type >= 0xa0 && type <= 0xbf) {
      length = type & 0x1f;
      at += 1;
    } else {
      switch (type) {
        case 0xc0:
          elements[i] = null;
          at += 1;
          continue;
        case 0xc2:
          elements[i] = false;
          at += 1;
          continue;
        case 0xc3:
          elements[i] = true;
          at += 1;
          continue;
        case 0xcc:
          if (at + 2 > end) return NOT_FLAT;
          elements[i] = bytes[at + 1]!;
          at += 2;
          continue;
        case 0xcd:
          if (at + 3 > end) return NOT_FLAT;
          elements[i] = (bytes[at + 1]! << 8) | bytes[at + 2]!;
          at += 3;
          continue;
        case 0xce:
          if (at + 5 > end) return NOT_FLAT;
          elements[i] = uint32(bytes, at + 1);
          at += 5;
          continue;
        case 0xd0:
          if (at + 2 > end) return NOT_FLAT;
          elements[i] = (bytes[at + 1]! << 24) >> 24;
          at += 2;
          continue;
        case 0xd1:
          if (at + 3 > end) return NOT_FLAT;
          elements[i] = (((bytes[at + 1]! << 8) | bytes[at + 2]!) << 16) >> 16;
          at += 3;
          continue;
        case 0xd2:
          if (at + 5 > end) return NOT_FLAT;
          elements[i] = uint32(bytes, at + 1) | 0;
          at += 5;
          continue;
        case 0xcb:
          if (at + 9 > end) return NOT_FLAT;
          elements[i] = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 8).getFloat64(0);
          at += 9;
          continue;
        case 0xd9:
          if (at + 2 > end) return NOT_FLAT;
          length = bytes[at + 1]!;
          at += 2;
          break;
        case 0xda:
          if (at + 3 > end) return NOT_FLAT;
          length = (bytes[at + 1]! << 8) | bytes[at + 2]!;
          at += 3;
          break;
        case 0xdb:
          if (at + 5 > end) return NOT_FLAT;
          length = uint32(bytes, at + 1);
          at += 5;
          break;
        default:
          return NOT_FLAT;
      }
    }
    if (at + length > end) return NOT_FLAT;
    const text = readString(bytes, at, length);
    if (text === null) return NOT_FLAT;
    elements[i] = text;
    at += length;
  }
  return at === end ? elements : NOT_FLAT;
}

function uint32(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

function readString(bytes: Uint8Array, at: number, length: number): string | null {
  if (length < SHORT_STRING_BYTES) {
    let text = '';
    for (let i = at; i < at + length; i++) {
      const byte = bytes[i]!;
      if (byte >= 0x80) return decodeUtf8(bytes, at, length);
      text += String.fromCharCode(byte);
    }
    return text;
  }
  return decodeUtf8(bytes, at, length);
}

function decodeUtf8(bytes: Uint8Array, at: number, length: number): string | null {
  try {
    return utf8.decode(bytes.subarray(at, at + length));
  } catch {
    return null; // not valid UTF-8: let msgpackr decide what it means
  }
}
