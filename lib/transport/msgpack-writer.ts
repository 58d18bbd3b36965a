// A msgpack writer for the hot paths whose shape is fixed (Raft batches, WAL records,
// client frames and replies): it writes straight into one growing buffer, so encoding
// an AppendEntries of a thousand entries builds no intermediate tuple arrays and makes
// no per-value dispatch. Every value is written in msgpack's smallest form, as msgpackr
// writes it, so msgpackr reads the result and the bytes match what it would produce
// for the same tuples (codec.ts relies on that for the offset of `to`).
//
// Anything of a shape the writer does not know (a client's JSON value) goes through
// msgpackr and is copied in with raw().

import { copyInto, subarrayOf } from './typed-array-calls.js';

export class MsgpackWriter {
  private bytes: Buffer;
  private view: DataView;
  /** Bytes written so far. */
  length = 0;

  /** `reuse`: a buffer to write into instead of a new one (its contents are overwritten). */
  constructor(private readonly initialBytes = 16 * 1024, reuse?: Buffer) {
    this.bytes = reuse ?? Buffer.allocUnsafeSlow(initialBytes);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  /** Starts over (the buffer is kept, unless one huge value made it huge). */
  reset(): void {
    this.length = 0;
    if (this.bytes.length > KEEP_BYTES) {
      this.bytes = Buffer.allocUnsafeSlow(this.initialBytes);
      this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    }
  }

  arrayHeader(count: number): void {
    this.reserve(5);
    if (count < 0x10) {
      this.bytes[this.length++] = 0x90 | count;
    } else if (count < 0x10000) {
      this.bytes[this.length] = 0xdc;
      this.view.setUint16(this.length + 1, count);
      this.length += 3;
    } else {
      this.bytes[this.length] = 0xdd;
      this.view.setUint32(this.length + 1, count);
      this.length += 5;
    }
  }

  /** An array32 header whose count is filled in later (patchArray32): for batches built one item at a time. */
  array32Placeholder(): number {
    return this.placeholder32(0xdd);
  }

  patchArray32(at: number, count: number): void {
    this.view.setUint32(at + 1, count);
  }

  /** A bin32 header whose length is filled in by patchBin32 once its bytes are written after it. */
  bin32Placeholder(): number {
    return this.placeholder32(0xc6);
  }

  /** A type byte and four bytes of length or count left to patch; returns where it is. */
  private placeholder32(type: number): number {
    this.reserve(5);
    const at = this.length;
    this.bytes[at] = type;
    this.length += 5;
    return at;
  }

  patchBin32(at: number): void {
    this.view.setUint32(at + 1, this.length - at - 5);
  }

  /** A non-negative safe integer. */
  uint(value: number): void {
    if (!(Number.isSafeInteger(value) && value >= 0)) throw notSafeUint(value);
    this.reserve(9);
    if (value < 0x80) {
      this.bytes[this.length++] = value;
    } else if (value < 0x100) {
      this.bytes[this.length] = 0xcc;
      this.bytes[this.length + 1] = value;
      this.length += 2;
    } else if (value < 0x10000) {
      this.bytes[this.length] = 0xcd;
      this.view.setUint16(this.length + 1, value);
      this.length += 3;
    } else if (value <= 0xffffffff) {
      this.bytes[this.length] = 0xce;
      this.view.setUint32(this.length + 1, value);
      this.length += 5;
    } else {
      this.bytes[this.length] = 0xcb; // float64 holds every safe integer exactly
      this.view.setFloat64(this.length + 1, value);
      this.length += 9;
    }
  }

  nil(): void {
    this.reserve(1);
    this.bytes[this.length++] = 0xc0;
  }

  bool(value: boolean): void {
    this.reserve(1);
    this.bytes[this.length++] = value ? 0xc3 : 0xc2;
  }

  bin(data: Uint8Array): void {
    const length = data.length;
    this.reserve(5 + length);
    this.lengthHeader(length, 0xc4, 0xc5, 0xc6);
    this.bytes.set(data, this.length);
    this.length += length;
  }

  /** A header of a type with 8-, 16- and 32-bit length forms (`code8` etc.), the smallest that fits; room reserved by the caller. */
  private lengthHeader(length: number, code8: number, code16: number, code32: number): void {
    if (length < 0x100) {
      this.bytes[this.length] = code8;
      this.bytes[this.length + 1] = length;
      this.length += 2;
    } else if (length < 0x10000) {
      this.bytes[this.length] = code16;
      this.view.setUint16(this.length + 1, length);
      this.length += 3;
    } else {
      this.bytes[this.length] = code32;
      this.view.setUint32(this.length + 1, length);
      this.length += 5;
    }
  }

  str(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    this.reserve(5 + text.length * 3);
    const start = this.length;
    if (text.length < ASCII_LOOP_MAX && this.asciiStr(text, start)) return;
    // The header's size follows the encoded length, known only after encoding: encode
    // after the largest header, then move the bytes back if a smaller one fits.
    // (Buffer#write encodes in place: no view to allocate, as encodeInto would need.)
    const written = this.bytes.write(text, start + 5, text.length * 3, 'utf8');
    let header: number;
    if (written < 0x20) {
      this.bytes[start] = 0xa0 | written;
      header = 1;
    } else if (written < 0x100) {
      this.bytes[start] = 0xd9;
      this.bytes[start + 1] = written;
      header = 2;
    } else if (written < 0x10000) {
      this.bytes[start] = 0xda;
      this.view.setUint16(start + 1, written);
      header = 3;
    } else {
      this.bytes[start] = 0xdb;
      this.view.setUint32(start + 1, written);
      header = 5;
    }
    if (header < 5) this.bytes.copyWithin(start + header, start + 5, start + 5 + written);
    this.length = start + header + written;
  }

  /**
   * The header of a string of `byteLength` bytes, in the form str() would choose; the
   * caller writes exactly that many bytes of text next (asciiDigits, fill). For text
   * generated on the hot path without building a JS string first.
   */
  strHeader(byteLength: number): void {
    this.reserve(5 + byteLength);
    if (byteLength < 0x20) this.bytes[this.length++] = 0xa0 | byteLength;
    else this.lengthHeader(byteLength, 0xd9, 0xda, 0xdb);
  }

  /**
   * The decimal digits of a non-negative safe integer as ASCII text. `length` is
   * decimalLength(value), passed by a caller that already computed it for strHeader.
   */
  asciiDigits(value: number, length = decimalLength(value)): void {
    this.reserve(length);
    let rest = value;
    for (let at = this.length + length - 1; at >= this.length; at--) {
      this.bytes[at] = 0x30 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
    // Too short a length leaves digits over; too long, a leading zero.
    if (rest !== 0 || (length > 1 && this.bytes[this.length] === 0x30)) throw notDigits(value, length);
    this.length += length;
  }

  /** One byte (of text begun with strHeader). */
  byte(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  /** `count` copies of `byte`. */
  fill(byte: number, count: number): void {
    this.reserve(count);
    this.bytes.fill(byte, this.length, this.length + count);
    this.length += count;
  }

  /** A short ASCII string, byte by byte (no encoder call, no view); false if it is not ASCII. */
  private asciiStr(text: string, start: number): boolean {
    const length = text.length;
    const header = length < 0x20 ? 1 : 2;
    const bytes = this.bytes;
    for (let i = 0; i < length; i++) {
      const unit = text.charCodeAt(i);
      if (unit >= 0x80) return false;
      bytes[start + header + i] = unit;
    }
    if (header === 1) {
      bytes[start] = 0xa0 | length;
    } else {
      bytes[start] = 0xd9;
      bytes[start + 1] = length;
    }
    this.length = start + header + length;
    return true;
  }

  /** Bytes that already are one msgpack value (copied now: a view into msgpackr's scratch buffer is fine). */
  raw(encoded: Uint8Array): void {
    this.reserve(encoded.length);
    this.bytes.set(encoded, this.length);
    this.length += encoded.length;
  }

  /** What was written, as a view into the writer's buffer: valid until the next write. */
  written(): Uint8Array {
    return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset, this.length);
  }

  /** What was written, as an exact-size array that owns its buffer (transferable); the writer starts over. */
  take(): Uint8Array {
    // A plain Uint8Array, not a Buffer (whose slice would be a view into this writer's buffer).
    const copy = new Uint8Array(this.length);
    copyInto(copy, subarrayOf(this.bytes, 0, this.length), 0);
    this.reset();
    return copy;
  }

  /**
   * What was written, as a view into the writer's own buffer, which the writer gives up
   * (it starts over with a new one): no copy. For one large value written once, such as
   * a snapshot. take()'s copy goes into freshly allocated memory, and here a page touched
   * for the first time costs about 10 us (a 1.4 MB copy took 3.4 ms, copying it again
   * into the same memory 0.04 ms); the writer's buffer was touched as it was written.
   */
  release(): Uint8Array {
    const released = new Uint8Array(this.bytes.buffer, this.bytes.byteOffset, this.length);
    this.bytes = EMPTY;
    this.view = new DataView(EMPTY.buffer, EMPTY.byteOffset, 0);
    this.length = 0;
    return released;
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    let size = Math.max(this.bytes.length * 2, this.initialBytes, 1);
    while (size < this.length + extra) size *= 2;
    const grown = Buffer.allocUnsafeSlow(size);
    copyInto(grown, subarrayOf(this.bytes, 0, this.length), 0);
    this.bytes = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }
}

/** How many decimal digits a non-negative safe integer has. */
export function decimalLength(value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 0)) throw notSafeUint(value);
  let length = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) length++;
  return length;
}

/** Strings shorter than this are tried as ASCII, byte by byte, first. */
const ASCII_LOOP_MAX = 32;
/** A released writer's buffer until it writes again. */
const EMPTY = Buffer.alloc(0);

/** A buffer grown beyond this (by a snapshot, say) is dropped when the writer starts over. */
const KEEP_BYTES = 4 * 1024 * 1024;

// The errors of the writers above are made out of line: with a template literal in the
// hot function, the optimising compiler computed its number-to-string conversions before
// the check that guards the throw, on every call (`perf`: Builtins_NumberToString under
// the load generators' put writer and the followers' AppendEntries reader).
function notSafeUint(value: number): RangeError {
  return new RangeError(`${value} is not a safe non-negative integer`);
}

function notDigits(value: number, length: number): RangeError {
  return new RangeError(`${value} does not have ${length} decimal digits`);
}
