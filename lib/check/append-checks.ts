// Cheap checks for the append workload, independent of the linearizability search.
// Each anomaly they find is also a linearizability violation, but they name the bug
// directly (a duplicate is a retried append applied twice; a missing element is a lost
// write) and they still give an answer when the search runs out of budget.
//
// They apply to keys that only see append and get: a put, delete or cas resets the list
// and would make "every read is a prefix of the next" meaningless.

import type { JsonValue } from '../cluster/types.js';
import { containerHeaderBytes, jsonEncodedSize } from '../kv/command.js';
import { OperationStatus, OpFunction, type HistoryLimits, type Operation } from './history.js';
import { canonicalJson, describeOperation } from './model.js';

export const AppendAnomalyKind = {
  /** One read holds the same element twice: an append was applied more than once. */
  DuplicateElement: 'duplicate-element',
  /** A read holds an element no append ever wrote (or whose append definitely failed). */
  UnknownElement: 'unknown-element',
  /** A read returned something that is neither null nor a list. */
  NotAList: 'not-a-list',
  /** Two reads of a key where neither is a prefix of the other: the order of appends diverged. */
  IncompatibleReads: 'incompatible-reads',
  /** A read that began after another read ended saw a shorter list: time went backwards. */
  NonMonotonicReads: 'non-monotonic-reads',
  /** A read misses an append acknowledged before the read began. */
  StaleRead: 'stale-read',
  /** The key's final read misses an acknowledged append: the write was lost. */
  LostAppend: 'lost-append',
  /**
   * An append took the list past the run's maxValueBytes (the history's header): the
   * store should have refused it (VALUE_TOO_LARGE), yet it was acknowledged, or a read
   * holds the list it made.
   */
  PastLimit: 'append-past-limit',
} as const;
export type AppendAnomalyKind = (typeof AppendAnomalyKind)[keyof typeof AppendAnomalyKind];

export interface AppendAnomaly {
  readonly kind: AppendAnomalyKind;
  readonly key: string;
  readonly operations: readonly Operation[];
  readonly explanation: string;
}

export interface AppendCheckResult {
  /** Keys with appends or list reads, and nothing but appends and gets: the ones checked. */
  readonly keysChecked: readonly string[];
  /** Keys with appends that were skipped, and why. */
  readonly keysSkipped: readonly { readonly key: string; readonly reason: string }[];
  readonly anomalies: readonly AppendAnomaly[];
}

/** Reports of one kind on one key beyond this are summarised: the first ones carry the news. */
const maxAnomaliesPerKindPerKey = 3;
/** Missing appends listed in one lost-append report. */
const maxMissingListed = 10;

/** `limits`: the run's, from the history's header (null: none recorded, list sizes unchecked). */
export function checkAppends(operations: readonly Operation[], limits: HistoryLimits | null = null): AppendCheckResult {
  const byKey = new Map<string, Operation[]>();
  for (const operation of operations) {
    let list = byKey.get(operation.key);
    if (list === undefined) {
      list = [];
      byKey.set(operation.key, list);
    }
    list.push(operation);
  }
  const keysChecked: string[] = [];
  const keysSkipped: { key: string; reason: string }[] = [];
  const anomalies: AppendAnomaly[] = [];
  for (const key of [...byKey.keys()].sort()) {
    const keyOperations = byKey.get(key) ?? [];
    const listLike = (operation: Operation): boolean =>
      operation.f === OpFunction.Append || (operation.status === OperationStatus.Ok && Array.isArray(operation.output));
    if (!keyOperations.some(listLike)) continue;
    const other = keyOperations.find((operation) => operation.f !== OpFunction.Append && operation.f !== OpFunction.Get);
    if (other !== undefined) {
      keysSkipped.push({ key, reason: `it also sees ${other.f} (${describeOperation(other)})` });
      continue;
    }
    keysChecked.push(key);
    anomalies.push(...checkKey(key, keyOperations, limits?.maxValueBytes ?? null));
  }
  return { keysChecked, keysSkipped, anomalies };
}

interface Read {
  readonly operation: Operation;
  /** Canonical texts of the elements, in list order. */
  readonly elements: readonly string[];
}

function checkKey(key: string, operations: readonly Operation[], maxValueBytes: number | null): AppendAnomaly[] {
  const found: AppendAnomaly[] = [];
  const countByKind = new Map<AppendAnomalyKind, number>();
  const report = (kind: AppendAnomalyKind, involved: readonly Operation[], explanation: string): void => {
    const count = (countByKind.get(kind) ?? 0) + 1;
    countByKind.set(kind, count);
    if (count <= maxAnomaliesPerKindPerKey) found.push({ kind, key, operations: involved, explanation });
  };

  const appendsOf = new Map<string, Operation[]>();
  const acknowledged: Operation[] = [];
  const reads: Read[] = [];
  for (const operation of operations) {
    if (operation.f === OpFunction.Append) {
      const text = canonicalJson(operation.input);
      appendsOf.set(text, [...(appendsOf.get(text) ?? []), operation]);
      if (operation.status === OperationStatus.Ok) acknowledged.push(operation);
      continue;
    }
    if (operation.status !== OperationStatus.Ok) continue;
    const value = operation.output;
    if (value === null) {
      reads.push({ operation, elements: [] });
    } else if (Array.isArray(value)) {
      reads.push({ operation, elements: value.map(canonicalJson) });
    } else {
      report(AppendAnomalyKind.NotAList, [operation], `${describeOperation(operation)} read a value that is neither null nor a list.`);
    }
  }
  // An element appended by several operations can legitimately appear several times.
  const unique = (text: string): boolean => (appendsOf.get(text)?.length ?? 0) <= 1;

  for (const read of reads) {
    const seen = new Set<string>();
    for (const element of read.elements) {
      if (!appendsOf.has(element)) {
        report(
          AppendAnomalyKind.UnknownElement,
          [read.operation],
          `${describeOperation(read.operation)} holds ${element}, which no append wrote (or whose append definitely failed).`,
        );
      } else if (seen.has(element) && unique(element)) {
        report(
          AppendAnomalyKind.DuplicateElement,
          [read.operation, ...(appendsOf.get(element) ?? [])],
          `${describeOperation(read.operation)} holds ${element} twice, but it was appended once: the append was applied more than once.`,
        );
      }
      seen.add(element);
    }
  }

  // Sorted by length, the reads of a correct store are each a prefix of the next.
  const byLength = [...reads].sort((a, b) => a.elements.length - b.elements.length);
  let compatible = true;
  for (let i = 1; i < byLength.length; i++) {
    const shorter = byLength[i - 1]!;
    const longer = byLength[i]!;
    const difference = shorter.elements.findIndex((element, index) => longer.elements[index] !== element);
    if (difference >= 0) {
      compatible = false;
      report(
        AppendAnomalyKind.IncompatibleReads,
        [shorter.operation, longer.operation],
        `${describeOperation(shorter.operation)} and ${describeOperation(longer.operation)} disagree at element ${difference}: ` +
          `${shorter.elements[difference]} vs ${longer.elements[difference] ?? 'nothing'}; neither is a prefix of the other.`,
      );
    }
  }

  // Real-time monotonicity: a read that begins after another ended sees at least as much.
  const byReturn = [...reads].sort((a, b) => a.operation.returnPosition - b.operation.returnPosition);
  const byCall = [...reads].sort((a, b) => a.operation.callPosition - b.operation.callPosition);
  let longestBefore: Read | null = null;
  let returned = 0;
  for (const read of byCall) {
    while (returned < byReturn.length && byReturn[returned]!.operation.returnPosition < read.operation.callPosition) {
      const candidate = byReturn[returned]!;
      if (longestBefore === null || candidate.elements.length > longestBefore.elements.length) longestBefore = candidate;
      returned++;
    }
    if (longestBefore !== null && read.elements.length < longestBefore.elements.length) {
      report(
        AppendAnomalyKind.NonMonotonicReads,
        [longestBefore.operation, read.operation],
        `${describeOperation(read.operation)} saw ${read.elements.length} elements, but ${describeOperation(longestBefore.operation)} ` +
          `had already seen ${longestBefore.elements.length} before it began.`,
      );
    }
  }

  // Acknowledged appends: every read that began after the acknowledgement must hold the
  // element. With compatible reads, a read of length L holds exactly the first L elements
  // of the longest read, so it suffices to compare L with the furthest such element.
  if (compatible && reads.length > 0) {
    const longest = byLength[byLength.length - 1]!;
    const indexInLongest = new Map<string, number>();
    longest.elements.forEach((element, index) => {
      if (!indexInLongest.has(element)) indexInLongest.set(element, index);
    });
    const positionOf = (append: Operation): number => indexInLongest.get(canonicalJson(append.input)) ?? Infinity;
    const finalRead = byCall[byCall.length - 1]!;
    const ackedInOrder = [...acknowledged].sort((a, b) => a.returnPosition - b.returnPosition);
    let acked = 0;
    let furthest: Operation | null = null;
    for (const read of byCall) {
      while (acked < ackedInOrder.length && ackedInOrder[acked]!.returnPosition < read.operation.callPosition) {
        const append = ackedInOrder[acked]!;
        if (furthest === null || positionOf(append) > positionOf(furthest)) furthest = append;
        acked++;
      }
      if (furthest === null || positionOf(furthest) < read.elements.length) continue;
      if (read === finalRead) {
        const present = new Set(read.elements);
        const missing = ackedInOrder.slice(0, acked).filter((append) => !present.has(canonicalJson(append.input)));
        report(
          AppendAnomalyKind.LostAppend,
          [read.operation, ...missing.slice(0, maxMissingListed)],
          `The final read ${describeOperation(read.operation)} misses ${missing.length} acknowledged append(s):\n` +
            missing
              .slice(0, maxMissingListed)
              .map((append) => `    ${describeOperation(append)}`)
              .join('\n'),
        );
      } else {
        report(
          AppendAnomalyKind.StaleRead,
          [furthest, read.operation],
          `${describeOperation(read.operation)} misses ${describeOperation(furthest)}, acknowledged before the read began.`,
        );
      }
    }
  }

  if (maxValueBytes !== null) checkLimit(acknowledged, reads, appendsOf, maxValueBytes, report);

  for (const [kind, count] of countByKind) {
    if (count > maxAnomaliesPerKindPerKey) {
      found.push({ kind, key, operations: [], explanation: `... and ${count - maxAnomaliesPerKindPerKey} more ${kind} anomalies on key ${JSON.stringify(key)}.` });
    }
  }
  return found;
}

/**
 * The bound an append carries (its client's maxValueBytes, or less): the store refuses an
 * append that would make the list encode (jsonEncodedSize) to more, so no acknowledged
 * append's element may be too large even alone in a list, and no read may hold a list
 * past it. For a read that does, the append of the element that first took the list past
 * the bound is named, acknowledged or not (the store should have refused it either way).
 */
function checkLimit(
  acknowledged: readonly Operation[],
  reads: readonly Read[],
  appendsOf: ReadonlyMap<string, readonly Operation[]>,
  maxValueBytes: number,
  report: (kind: AppendAnomalyKind, involved: readonly Operation[], explanation: string) => void,
): void {
  const bytes = (size: number): string => `${size.toLocaleString('en-US')} bytes`;
  const bound = `the run's maxValueBytes, ${bytes(maxValueBytes)} (the history's header)`;
  for (const append of acknowledged) {
    const alone = containerHeaderBytes(1) + jsonEncodedSize(append.input);
    if (alone > maxValueBytes) {
      report(
        AppendAnomalyKind.PastLimit,
        [append],
        `${describeOperation(append)} was acknowledged, but a list holding only its element encodes to ${bytes(alone)}, over ${bound}: ` +
          `the store should have refused it (VALUE_TOO_LARGE).`,
      );
    }
  }
  let longestPast: { read: Read; size: number } | null = null;
  for (const read of reads) {
    const list = read.operation.output as readonly JsonValue[] | null;
    if (list === null) continue;
    const size = jsonEncodedSize(list as JsonValue);
    if (size > maxValueBytes && (longestPast === null || read.elements.length > longestPast.read.elements.length)) longestPast = { read, size };
  }
  if (longestPast === null) return;
  const { read, size } = longestPast;
  const list = read.operation.output as readonly JsonValue[];
  // The first element with which the list passed the bound, measured as the store does.
  let crossing = 0;
  for (let prefix = containerHeaderBytes(0); crossing < list.length; crossing++) {
    prefix += jsonEncodedSize(list[crossing]!) + containerHeaderBytes(crossing + 1) - containerHeaderBytes(crossing);
    if (prefix > maxValueBytes) break;
  }
  const element = read.elements[crossing]!;
  const appends = appendsOf.get(element) ?? [];
  const acknowledgedOnes = appends.filter((append) => append.status === OperationStatus.Ok);
  const who =
    appends.length === 0
      ? `element ${crossing} (${element}), which no append in the history wrote, took it past the bound`
      : `element ${crossing} took it past the bound: ${appends.map(describeOperation).join(', ')}` +
        (acknowledgedOnes.length > 0 ? ', acknowledged' : ' (never acknowledged, but applied)');
  report(
    AppendAnomalyKind.PastLimit,
    [read.operation, ...appends],
    `${describeOperation(read.operation)} read a list of ${read.elements.length} elements that encodes to ${bytes(size)}, over ${bound}; ${who}: ` +
      `the store should have refused that append (VALUE_TOO_LARGE).`,
  );
}
