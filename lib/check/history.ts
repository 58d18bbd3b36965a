// Histories in the format of DESIGN.md ("The command line"): a JSON array of events
// {process, type, f, key, value, time}. This module is the one gateway from untrusted
// input (a file, another tool's output) to typed events, and pairs each invoke with its
// completion into an operation, the unit the checkers reason about.
//
// One extension, as Jepsen writes it: an event whose process is "nemesis" records a fault
// (a partition, a crash, a heal...) at its time, with `f` naming it and `value` saying
// what it did. The checkers pass over it; reports show it beside what went wrong.

import { open } from 'node:fs/promises';
import type { JsonValue } from '../cluster/types.js';
import { assertNever } from '../raft/assert.js';

export const EventType = {
  Invoke: 'invoke',
  Ok: 'ok',
  Fail: 'fail',
  Info: 'info',
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

export const OpFunction = {
  Get: 'get',
  Put: 'put',
  Delete: 'delete',
  Append: 'append',
  Cas: 'cas',
} as const;
export type OpFunction = (typeof OpFunction)[keyof typeof OpFunction];

/** A client's event: an invoke or a completion of one operation. */
export interface HistoryEvent {
  readonly process: number;
  readonly type: EventType;
  readonly f: OpFunction;
  readonly key: string;
  /** invoke: the argument (cas: [expected, new]); ok: the result; fail/info: ignored. */
  readonly value: JsonValue;
  /** Milliseconds; non-decreasing along the history. */
  readonly time: number;
}

/** The process of a nemesis event (Jepsen's `:process :nemesis`). */
export const NEMESIS_PROCESS = 'nemesis';

/**
 * What the nemesis did, at `time`: `f` names the action (partition, heal, crash, lose,
 * restart, ...: lib/check/README.md lists what `raftlab check` records) and `value` says
 * to whom and how. Its type is "info", as in Jepsen's histories: no client waits on it.
 */
export interface NemesisEvent {
  readonly process: typeof NEMESIS_PROCESS;
  readonly type: typeof EventType.Info;
  readonly f: string;
  readonly value: JsonValue;
  /** Milliseconds, on the clients' clock: non-decreasing along the history with theirs. */
  readonly time: number;
}

/** One element of a history: a client's event, or the nemesis's. */
export type HistoryEntry = HistoryEvent | NemesisEvent;

export function isNemesisEvent(entry: HistoryEntry): entry is NemesisEvent {
  return entry.process === NEMESIS_PROCESS;
}

/** The process of a history's header (its first element, if it has one). */
export const HEADER_PROCESS = 'header';

/**
 * The limits the recorded run put on what a client could write, from the history's
 * header: `{"process": "header", "limits": {"maxValueBytes": N}}`, the array's first
 * element when present. A history without one (from before the header, or from another
 * tool) has none, and the checks that need them are skipped.
 */
export interface HistoryLimits {
  /**
   * The most bytes (msgpack, lib/kv's jsonEncodedSize) a value, or a list grown by
   * appends, may encode to: every append the run's clients sent carried at most this
   * bound, so the store refuses (VALUE_TOO_LARGE) an append that would pass it. null: not
   * recorded.
   */
  readonly maxValueBytes: number | null;
}

export const OperationStatus = {
  /** Completed: it took effect exactly once, between call and return, with this output. */
  Ok: 'ok',
  /** Unknown outcome: it may have taken effect at any point after its call, or never. */
  Info: 'info',
} as const;
export type OperationStatus = (typeof OperationStatus)[keyof typeof OperationStatus];

export interface Operation {
  /** Dense, in invoke order: 0..operations.length-1. */
  readonly id: number;
  readonly process: number;
  readonly f: OpFunction;
  readonly key: string;
  readonly input: JsonValue;
  /** The result for an ok operation; null for info (unknown). */
  readonly output: JsonValue;
  /** Time of the invoke, ms. */
  readonly call: number;
  /** Time of the completion, ms; Infinity when the outcome is unknown (info or never completed). */
  readonly return: number;
  /** Position of the invoke event in the history: real-time order is decided on positions,
   *  because two events may share a millisecond but the recorder saw them in order. */
  readonly callPosition: number;
  /** Position of the completion event; Infinity for info operations. */
  readonly returnPosition: number;
  readonly status: OperationStatus;
}

export interface History {
  /** The run's limits, from the history's header; null when it has none. */
  readonly limits: HistoryLimits | null;
  /** Every element after the header, in history order (positions are indices here): client and nemesis events. */
  readonly events: readonly HistoryEntry[];
  /** The nemesis events among them, in order (none in a history without them). */
  readonly nemesis: readonly NemesisEvent[];
  /** ok and info operations; fail operations never happened and are left out. */
  readonly operations: readonly Operation[];
  readonly counts: {
    readonly ok: number;
    readonly fail: number;
    /** Completed with an explicit info event. */
    readonly info: number;
    /** Invoked and never completed before the history ended: treated as info. */
    readonly neverCompleted: number;
  };
}

export const HistoryErrorCode = {
  NotJson: 'HISTORY_NOT_JSON',
  BadEvent: 'HISTORY_BAD_EVENT',
  BadSequence: 'HISTORY_BAD_SEQUENCE',
  /** One event is larger than historyLimits.maxEventBytes. */
  TooLarge: 'HISTORY_TOO_LARGE',
} as const;
export type HistoryErrorCode = (typeof HistoryErrorCode)[keyof typeof HistoryErrorCode];

/** Why a history cannot be checked; `verify` turns it into exit code 3. */
export class HistoryError extends Error {
  readonly code: HistoryErrorCode;
  constructor(code: HistoryErrorCode, message: string) {
    super(message);
    this.name = 'HistoryError';
    this.code = code;
  }
}

export const historyLimits = {
  /** How deep a value may nest: the checkers walk values recursively. */
  maxValueDepth: 256,
  /**
   * The largest single event read, in bytes of JSON text: one event is parsed as one
   * string, and V8 refuses strings over 2^29 - 24 characters (about 512 MiB). A history
   * file as a whole has no limit: it is read in chunks, event by event.
   */
  maxEventBytes: 256 * 1024 * 1024,
  /** Bytes read from a file at a time. */
  chunkBytes: 1024 * 1024,
} as const;

export interface HistoryReadLimits {
  readonly maxEventBytes?: number;
  readonly chunkBytes?: number;
}

const eventTypes: ReadonlySet<string> = new Set(Object.values(EventType));
const opFunctions: ReadonlySet<string> = new Set(Object.values(OpFunction));

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What a field held, for an error message. JSON.stringify would call an out-of-range
 * number (1e400 parses to Infinity) null.
 */
function describeGot(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return Number.isNaN(value) ? 'NaN' : 'a number out of range (it parses to Infinity: a double holds at most about 1.8e308)';
  }
  if (value === undefined) return 'nothing';
  return JSON.stringify(value) ?? String(value);
}

/** Why `value` is not a JSON value a history may hold, or null. JSON.parse only produces
 *  JSON values, but numbers out of range become Infinity, and a caller may hand us any object graph. */
function whyNotJsonValue(value: unknown, depth = 0): string | null {
  if (depth > historyLimits.maxValueDepth) {
    return `is nested deeper than ${historyLimits.maxValueDepth} levels (the most a history's values may nest)`;
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : `holds ${describeGot(value)}`;
  const items = Array.isArray(value) ? value : isRecord(value) ? Object.values(value) : null;
  if (items === null) return `holds a ${typeof value}, which is not JSON`;
  for (const item of items) {
    const why = whyNotJsonValue(item, depth + 1);
    if (why !== null) return why;
  }
  return null;
}

/** Functions whose invoke takes no argument (DESIGN.md: "get/delete: null"). */
const noArgument: ReadonlySet<OpFunction> = new Set([OpFunction.Get, OpFunction.Delete]);
/** Functions whose ok result is always null (DESIGN.md: "others null"). */
const nullResult: ReadonlySet<OpFunction> = new Set([OpFunction.Put, OpFunction.Delete, OpFunction.Append]);

/** The longest name of a nemesis action read (a name, not a payload: that goes in value). */
const maxNemesisFunctionLength = 64;

/** A nemesis event: type "info", f a name, value any JSON value; a key, if any, is ignored. */
function decodeNemesisEvent(raw: Record<string, unknown>, bad: (why: string) => HistoryError): NemesisEvent {
  const { type, f, value, time } = raw;
  if (type !== EventType.Info) throw bad(`a nemesis event's type must be "info", got ${describeGot(type)}`);
  if (typeof f !== 'string' || f.length === 0 || f.length > maxNemesisFunctionLength) {
    throw bad(`a nemesis event's f must be a name of 1 to ${maxNemesisFunctionLength} characters, got ${describeGot(f)}`);
  }
  if (!('value' in raw)) throw bad('value is missing (use null when there is none)');
  const notJson = whyNotJsonValue(value);
  if (notJson !== null) throw bad(`value ${notJson}`);
  if (typeof time !== 'number' || !Number.isFinite(time)) throw bad(`time must be a finite number, got ${describeGot(time)}`);
  return { process: NEMESIS_PROCESS, type: EventType.Info, f, value: value as JsonValue, time };
}

/** The header's limits (see HistoryLimits); extra fields, in it and in limits, are ignored. */
function decodeHeader(raw: Record<string, unknown>): HistoryLimits {
  const bad = (why: string): HistoryError => new HistoryError(HistoryErrorCode.BadEvent, `the header: ${why}`);
  const { limits } = raw;
  if (limits === undefined) return { maxValueBytes: null };
  if (!isRecord(limits)) throw bad(`limits must be an object, got ${describeGot(limits)}`);
  const { maxValueBytes } = limits;
  if (maxValueBytes === undefined || maxValueBytes === null) return { maxValueBytes: null };
  if (typeof maxValueBytes !== 'number' || !Number.isSafeInteger(maxValueBytes) || maxValueBytes < 1) {
    throw bad(`limits.maxValueBytes must be an integer of at least 1, got ${describeGot(maxValueBytes)}`);
  }
  return { maxValueBytes };
}

function decodeEvent(raw: unknown, position: number): HistoryEntry {
  const bad = (why: string): HistoryError =>
    new HistoryError(HistoryErrorCode.BadEvent, `event ${position}: ${why}`);
  if (!isRecord(raw)) throw bad('not an object');
  const { process, type, f, key, value, time } = raw;
  if (process === NEMESIS_PROCESS) return decodeNemesisEvent(raw, bad);
  if (process === HEADER_PROCESS) throw bad(`a header (process "${HEADER_PROCESS}") may only be the history's first element`);
  if (typeof process !== 'number' || !Number.isSafeInteger(process)) throw bad(`process must be an integer (or "${NEMESIS_PROCESS}"), got ${describeGot(process)}`);
  if (typeof type !== 'string' || !eventTypes.has(type)) throw bad(`type must be one of ${[...eventTypes].join('|')}, got ${describeGot(type)}`);
  if (typeof f !== 'string' || !opFunctions.has(f)) throw bad(`f must be one of ${[...opFunctions].join('|')}, got ${describeGot(f)}`);
  if (typeof key !== 'string') throw bad(`key must be a string, got ${describeGot(key)}`);
  if (!('value' in raw)) throw bad('value is missing (use null when there is none)');
  const notJson = whyNotJsonValue(value);
  if (notJson !== null) throw bad(`value ${notJson}`);
  if (typeof time !== 'number' || !Number.isFinite(time)) throw bad(`time must be a finite number, got ${describeGot(time)}`);
  const event: HistoryEvent = { process, type: type as EventType, f: f as OpFunction, key, value: value as JsonValue, time };
  if (event.type === EventType.Invoke && event.f === OpFunction.Cas && !(Array.isArray(value) && value.length === 2)) {
    throw bad(`a cas invoke's value must be [expected, new], got ${describeGot(value)}`);
  }
  if (event.type === EventType.Invoke && noArgument.has(event.f) && value !== null) {
    throw bad(`a ${event.f} invoke's value must be null (${event.f} takes no argument), got ${describeGot(value)}`);
  }
  if (event.type === EventType.Ok && event.f === OpFunction.Cas && typeof value !== 'boolean') {
    throw bad(`an ok cas must return true or false, got ${describeGot(value)}`);
  }
  if (event.type === EventType.Ok && nullResult.has(event.f) && value !== null) {
    throw bad(`an ok ${event.f} returns null (only get and cas return a result), got ${describeGot(value)}`);
  }
  return event;
}

/** Decodes events one at a time, in history order (for a history read in pieces), and the header first, if there is one. */
class EventDecoder {
  readonly events: HistoryEntry[] = [];
  limits: HistoryLimits | null = null;
  private headerSeen = false;
  private elements = 0;

  /** The array's element `index` as errors name it: events are counted after the header. */
  nameOf(index: number): string {
    if (!this.headerSeen) return `event ${index}`;
    return index === 0 ? 'the header' : `event ${index - 1}`;
  }
  private previousTime = -Infinity;

  add(raw: unknown): void {
    if (this.elements++ === 0 && isRecord(raw) && raw.process === HEADER_PROCESS) {
      this.limits = decodeHeader(raw);
      this.headerSeen = true;
      return;
    }
    const position = this.events.length;
    const event = decodeEvent(raw, position);
    if (event.time < this.previousTime) {
      throw new HistoryError(
        HistoryErrorCode.BadSequence,
        `event ${position}: time ${event.time} is before the previous event's time ${this.previousTime} (events must be in time order)`,
      );
    }
    this.previousTime = event.time;
    this.events.push(event);
  }
}

/** Unknown (parsed JSON) → typed events (a header, if first, is checked and left out). Throws HistoryError with the first problem found. */
export function decodeEvents(raw: unknown): HistoryEntry[] {
  if (!Array.isArray(raw)) throw new HistoryError(HistoryErrorCode.BadEvent, 'a history must be a JSON array of events');
  const decoder = new EventDecoder();
  for (const item of raw) decoder.add(item);
  return decoder.events;
}

interface Pending {
  readonly event: HistoryEvent;
  readonly position: number;
}

/**
 * Pairs each invoke with the next completion of the same process. A process has at most
 * one operation outstanding, and after an info it issues nothing more (its outcome is
 * unknown forever, so a client that carried on would make the history ambiguous).
 */
export function pairOperations(events: readonly HistoryEntry[], limits: HistoryLimits | null = null): History {
  const pending = new Map<number, Pending>();
  const finished = new Set<number>();
  const operations: Operation[] = [];
  const built: { op: Omit<Operation, 'id'>; order: number }[] = [];
  let ok = 0;
  let fail = 0;
  let info = 0;
  const badSequence = (position: number, why: string): HistoryError =>
    new HistoryError(HistoryErrorCode.BadSequence, `event ${position}: ${why}`);

  const nemesis: NemesisEvent[] = [];
  events.forEach((event, position) => {
    // A fault, not an operation: it constrains nothing the checkers search.
    if (isNemesisEvent(event)) {
      nemesis.push(event);
      return;
    }
    const { process } = event;
    if (event.type === EventType.Invoke) {
      if (finished.has(process)) throw badSequence(position, `process ${process} invoked after an info (an info process issues nothing more)`);
      const outstanding = pending.get(process);
      if (outstanding !== undefined) {
        throw badSequence(position, `process ${process} invoked while its ${outstanding.event.f} from event ${outstanding.position} is still outstanding`);
      }
      pending.set(process, { event, position });
      return;
    }
    const invoked = pending.get(process);
    if (invoked === undefined) throw badSequence(position, `${event.type} for process ${process}, which has no outstanding invoke`);
    if (invoked.event.f !== event.f || invoked.event.key !== event.key) {
      throw badSequence(
        position,
        `${event.type} ${event.f} ${JSON.stringify(event.key)} does not match process ${process}'s invoke of ${invoked.event.f} ${JSON.stringify(invoked.event.key)} at event ${invoked.position}`,
      );
    }
    pending.delete(process);
    switch (event.type) {
      case EventType.Ok:
        ok++;
        built.push({ op: operationOf(invoked, event.value, event.time, position, OperationStatus.Ok), order: invoked.position });
        return;
      case EventType.Fail:
        // Definitely did not happen: it constrains nothing.
        fail++;
        return;
      case EventType.Info:
        info++;
        finished.add(process);
        built.push({ op: operationOf(invoked, null, Infinity, Infinity, OperationStatus.Info), order: invoked.position });
        return;
      default:
        return assertNever(event.type, 'history event type');
    }
  });
  for (const invoked of pending.values()) {
    built.push({ op: operationOf(invoked, null, Infinity, Infinity, OperationStatus.Info), order: invoked.position });
  }
  built.sort((a, b) => a.order - b.order);
  built.forEach(({ op }, id) => operations.push({ id, ...op }));
  return { limits, events, nemesis, operations, counts: { ok, fail, info, neverCompleted: pending.size } };
}

function operationOf(
  invoked: Pending,
  output: JsonValue,
  returnTime: number,
  returnPosition: number,
  status: OperationStatus,
): Omit<Operation, 'id'> {
  return {
    process: invoked.event.process,
    f: invoked.event.f,
    key: invoked.event.key,
    input: invoked.event.value,
    output,
    call: invoked.event.time,
    return: returnTime,
    callPosition: invoked.position,
    returnPosition,
    status,
  };
}

const openBracket = 0x5b;
const closeBracket = 0x5d;
const openBrace = 0x7b;
const closeBrace = 0x7d;
const comma = 0x2c;
const quote = 0x22;
const backslash = 0x5c;
const byteOrderMarkFirst = 0xef;

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** First bytes of a JSON value other than an array: valid JSON, perhaps, but no history. */
const otherValueStarts: ReadonlySet<number> = new Set([...'{"-0123456789tfn'].map((c) => c.charCodeAt(0)));

const SplitPhase = {
  /** Before the history's "[". */
  Start: 'start',
  /** Right after "[": an element or "]". */
  Open: 'open',
  /** After a ",": an element. */
  AfterComma: 'after-comma',
  /** Inside an element. */
  Element: 'element',
  /** After the closing "]": only whitespace. */
  End: 'end',
} as const;
type SplitPhase = (typeof SplitPhase)[keyof typeof SplitPhase];

/**
 * Splits the JSON text of a history (one array), fed in chunks of bytes, into the texts of
 * its elements, each parsed on its own: so no string ever holds the whole file (V8 caps a
 * string at about 512 MiB) and memory holds only the parsed events. Structural bytes are
 * ASCII and UTF-8 continuation bytes never are, so scanning bytes is safe across chunk
 * boundaries. Each element's text is checked by JSON.parse; the scan only finds where an
 * element ends (a "," or "]" outside strings and brackets).
 */
class HistorySplitter {
  private phase: SplitPhase = SplitPhase.Start;
  /** Bytes fed before the current chunk. */
  private offset = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** The current element's bytes from earlier chunks (copies). */
  private pieces: Buffer[] = [];
  private piecesBytes = 0;
  /** Where the current element began, in bytes from the start of the input. */
  private elementStart = 0;
  private elements = 0;

  constructor(
    private readonly onElement: (value: unknown) => void,
    /** How errors name element `index` ("event 3"): the decoder knows whether a header came first. */
    private readonly nameOf: (index: number) => string,
    private readonly maxEventBytes: number,
  ) {}

  private notJson(why: string): HistoryError {
    return new HistoryError(HistoryErrorCode.NotJson, `not valid JSON: ${why}`);
  }

  private beginElement(at: number): void {
    this.phase = SplitPhase.Element;
    this.elementStart = this.offset + at;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
  }

  private checkSize(bytes: number): void {
    if (bytes > this.maxEventBytes) {
      throw new HistoryError(
        HistoryErrorCode.TooLarge,
        `${this.nameOf(this.elements)} (at byte ${this.elementStart}) is over ${this.maxEventBytes} bytes of JSON text, the most read for one event ` +
          `(a history file may be of any size, but each event is parsed as one string)`,
      );
    }
  }

  /** The element ending before `end` (exclusive) of `chunk`, which began at `begin` (-1: in an earlier chunk). */
  private endElement(chunk: Buffer, begin: number, end: number): void {
    this.checkSize(this.piecesBytes + end - Math.max(begin, 0));
    let text: string;
    if (begin >= 0) {
      text = chunk.toString('utf8', begin, end);
    } else {
      this.pieces.push(chunk.subarray(0, end));
      text = Buffer.concat(this.pieces).toString('utf8');
      this.pieces = [];
      this.piecesBytes = 0;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw this.notJson(`${this.nameOf(this.elements)} (at byte ${this.elementStart}): ${error instanceof Error ? error.message : String(error)}`);
    }
    this.elements++;
    this.onElement(value);
  }

  feed(chunk: Buffer): void {
    /** Where the current element began in this chunk, or -1 (before it, or none). */
    let begin = -1;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      switch (this.phase) {
        case SplitPhase.Element:
          if (this.inString) {
            if (this.escaped) this.escaped = false;
            else if (byte === backslash) this.escaped = true;
            else if (byte === quote) this.inString = false;
          } else if (byte === quote) {
            this.inString = true;
          } else if (byte === openBrace || byte === openBracket) {
            this.depth++;
          } else if (byte === closeBrace || byte === closeBracket || byte === comma) {
            if (this.depth > 0) {
              if (byte !== comma) this.depth--;
            } else if (byte === closeBrace) {
              throw this.notJson(`unexpected "}" at byte ${this.offset + i}`);
            } else {
              this.endElement(chunk, begin, i);
              begin = -1;
              this.phase = byte === comma ? SplitPhase.AfterComma : SplitPhase.End;
            }
          }
          break;
        case SplitPhase.Start:
          if (isWhitespace(byte)) break;
          if (byte === openBracket) {
            this.phase = SplitPhase.Open;
            break;
          }
          if (otherValueStarts.has(byte)) throw new HistoryError(HistoryErrorCode.BadEvent, 'a history must be a JSON array of events');
          if (byte === byteOrderMarkFirst && this.offset + i === 0) throw this.notJson('the input starts with a byte order mark (JSON text must not)');
          throw this.notJson(`unexpected byte 0x${byte.toString(16).padStart(2, '0')} at byte ${this.offset + i}, where a history's "[" belongs`);
        case SplitPhase.Open:
        case SplitPhase.AfterComma:
          if (isWhitespace(byte)) break;
          if (byte === closeBracket && this.phase === SplitPhase.Open) {
            this.phase = SplitPhase.End;
            break;
          }
          if (byte === comma || byte === closeBracket) throw this.notJson(`unexpected "${String.fromCharCode(byte)}" at byte ${this.offset + i}, where ${this.nameOf(this.elements)} belongs`);
          this.beginElement(i);
          begin = i;
          // This byte opens the element: the loop scans it again, as part of it.
          i--;
          break;
        case SplitPhase.End:
          if (!isWhitespace(byte)) throw this.notJson(`unexpected data at byte ${this.offset + i}, after the history's closing "]"`);
          break;
        default:
          assertNever(this.phase, 'split phase');
      }
    }
    if (this.phase === SplitPhase.Element) {
      const from = Math.max(begin, 0);
      this.checkSize(this.piecesBytes + chunk.length - from);
      // A copy: the caller may reuse the chunk's memory.
      this.pieces.push(Buffer.from(chunk.subarray(from)));
      this.piecesBytes += chunk.length - from;
    }
    this.offset += chunk.length;
  }

  finish(): void {
    if (this.phase === SplitPhase.End) return;
    if (this.phase === SplitPhase.Start) throw this.notJson('the input is empty');
    throw this.notJson(`the input ends at byte ${this.offset}, before the history's closing "]"`);
  }
}

/** Text of a history → checked history. Throws HistoryError with a reason a person can act on. */
export function parseHistory(text: string, limits: HistoryReadLimits = {}): History {
  const decoder = new EventDecoder();
  const splitter = new HistorySplitter((raw) => decoder.add(raw), (index) => decoder.nameOf(index), limits.maxEventBytes ?? historyLimits.maxEventBytes);
  splitter.feed(Buffer.from(text, 'utf8'));
  splitter.finish();
  return pairOperations(decoder.events, decoder.limits);
}

/**
 * A history file → checked history, read in chunks: a file of any size is read (as long
 * as its events fit in memory), never as one string. Throws HistoryError for a history
 * that cannot be checked, and the file system's errors as they are.
 */
export async function readHistoryFile(file: string, limits: HistoryReadLimits = {}): Promise<History> {
  const decoder = new EventDecoder();
  const splitter = new HistorySplitter((raw) => decoder.add(raw), (index) => decoder.nameOf(index), limits.maxEventBytes ?? historyLimits.maxEventBytes);
  const chunk = Buffer.allocUnsafe(limits.chunkBytes ?? historyLimits.chunkBytes);
  const handle = await open(file, 'r');
  try {
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      splitter.feed(chunk.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  splitter.finish();
  return pairOperations(decoder.events, decoder.limits);
}
