// Histories in the format of DESIGN.md ("The command line"): a JSON array of events
// {process, type, f, key, value, time}. This module is the one gateway from untrusted
// input (a file, another tool's output) to typed events, and pairs each invoke with its
// completion into an operation, the unit the checkers reason about.

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
  readonly events: readonly HistoryEvent[];
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

const eventTypes: ReadonlySet<string> = new Set(Object.values(EventType));
const opFunctions: ReadonlySet<string> = new Set(Object.values(OpFunction));

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON.parse only produces JSON values, but a caller may hand us any object graph. */
function isJsonValue(value: unknown, depth = 0): value is JsonValue {
  const maxDepth = 256;
  if (depth > maxDepth) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((item) => isJsonValue(item, depth + 1));
  if (isRecord(value)) return Object.values(value).every((item) => isJsonValue(item, depth + 1));
  return false;
}

function decodeEvent(raw: unknown, position: number): HistoryEvent {
  const bad = (why: string): HistoryError =>
    new HistoryError(HistoryErrorCode.BadEvent, `event ${position}: ${why}`);
  if (!isRecord(raw)) throw bad('not an object');
  const { process, type, f, key, value, time } = raw;
  if (typeof process !== 'number' || !Number.isSafeInteger(process)) throw bad(`process must be an integer, got ${JSON.stringify(process)}`);
  if (typeof type !== 'string' || !eventTypes.has(type)) throw bad(`type must be one of ${[...eventTypes].join('|')}, got ${JSON.stringify(type)}`);
  if (typeof f !== 'string' || !opFunctions.has(f)) throw bad(`f must be one of ${[...opFunctions].join('|')}, got ${JSON.stringify(f)}`);
  if (typeof key !== 'string') throw bad(`key must be a string, got ${JSON.stringify(key)}`);
  if (!('value' in raw)) throw bad('value is missing (use null when there is none)');
  if (!isJsonValue(value)) throw bad('value is not a JSON value');
  if (typeof time !== 'number' || !Number.isFinite(time)) throw bad(`time must be a number, got ${JSON.stringify(time)}`);
  const event: HistoryEvent = { process, type: type as EventType, f: f as OpFunction, key, value, time };
  if (event.type === EventType.Invoke && event.f === OpFunction.Cas && !(Array.isArray(value) && value.length === 2)) {
    throw bad(`a cas invoke's value must be [expected, new], got ${JSON.stringify(value)}`);
  }
  if (event.type === EventType.Ok && event.f === OpFunction.Cas && typeof value !== 'boolean') {
    throw bad(`an ok cas must return true or false, got ${JSON.stringify(value)}`);
  }
  return event;
}

/** Unknown (parsed JSON) → typed events. Throws HistoryError with the first problem found. */
export function decodeEvents(raw: unknown): HistoryEvent[] {
  if (!Array.isArray(raw)) throw new HistoryError(HistoryErrorCode.BadEvent, 'a history must be a JSON array of events');
  const events: HistoryEvent[] = [];
  let previousTime = -Infinity;
  raw.forEach((item, position) => {
    const event = decodeEvent(item, position);
    if (event.time < previousTime) {
      throw new HistoryError(
        HistoryErrorCode.BadSequence,
        `event ${position}: time ${event.time} is before the previous event's time ${previousTime} (events must be in time order)`,
      );
    }
    previousTime = event.time;
    events.push(event);
  });
  return events;
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
export function pairOperations(events: readonly HistoryEvent[]): History {
  const pending = new Map<number, Pending>();
  const finished = new Set<number>();
  const operations: Operation[] = [];
  const built: { op: Omit<Operation, 'id'>; order: number }[] = [];
  let ok = 0;
  let fail = 0;
  let info = 0;
  const badSequence = (position: number, why: string): HistoryError =>
    new HistoryError(HistoryErrorCode.BadSequence, `event ${position}: ${why}`);

  events.forEach((event, position) => {
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
  return { events, operations, counts: { ok, fail, info, neverCompleted: pending.size } };
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

/** Text of a history file → checked history. Throws HistoryError with a reason a person can act on. */
export function parseHistory(text: string): History {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new HistoryError(HistoryErrorCode.NotJson, `not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  return pairOperations(decodeEvents(raw));
}
