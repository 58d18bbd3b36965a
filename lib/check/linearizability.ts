// Linearizability checking for the key-value model: the Wing & Gong search with Lowe's
// memoization ("Testing for linearizability", 2017), the approach of Porcupine and
// Knossos.
//
// Operations on different keys commute, so a history is linearizable iff each key's
// sub-history is (Herlihy & Wing's locality; Horn & Kroening's P-compositionality):
// each key is searched on its own, which keeps the searches small.
//
// The search walks a list of call and return entries in real-time order. At a call it
// tries to linearize that operation now (the model must accept it with its recorded
// output); at a return it has met an operation that had to take effect before that
// point and did not, so it backtracks. Lowe's cache of (set of linearized operations,
// model state) pairs prunes every configuration already explored, which is what makes
// it fast on real histories.
//
// An info operation (outcome unknown) gets a return entry after everything else: it may
// take effect at any point after its call, and taking effect after every completed
// operation is the same, to an observer, as never taking effect.

import type { JsonValue } from '../cluster/types.js';
import { OperationStatus, OpFunction, type Operation } from './history.js';
import { absentState, canonicalJson, describeOperation, illegalStep, KeyModel } from './model.js';

export const Verdict = {
  Linearizable: 'linearizable',
  NotLinearizable: 'not-linearizable',
  /** The search budget ran out before an answer: neither proven nor refuted. */
  Unknown: 'unknown',
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

export interface SearchBudget {
  /** Search steps (entries visited) allowed for one key. */
  readonly maxStepsPerKey: number;
  /** Wall-clock time allowed for the whole check, ms. */
  readonly timeMs: number;
}

export const defaultSearchBudget: SearchBudget = {
  maxStepsPerKey: 100_000_000,
  timeMs: 120_000,
};

export interface KeyResult {
  readonly key: string;
  readonly verdict: Verdict;
  /** Operations searched (ok and info; info reads are left out, they constrain nothing). */
  readonly operations: number;
  readonly ok: number;
  readonly info: number;
  readonly steps: number;
  readonly elapsedMs: number;
  /** Distinct model states met: a measure of how hard the key was. */
  readonly modelStates: number;
}

export interface LinearizabilityAnomaly {
  readonly key: string;
  /** The operations that explain the failure: the end of the longest linearizable
   *  prefix, the operations that could have gone next, and the one that had to. */
  readonly operations: readonly Operation[];
  /** The longest linearizable prefix found: operations in the order they took effect. */
  readonly longestPrefix: readonly Operation[];
  /** What a get would read after that prefix (null when the key is absent; for a list
   *  not known in full, the part that is: see the explanation). */
  readonly valueAfterPrefix: JsonValue;
  /** The operation that had to take effect next (its return came) and could not. */
  readonly blocked: Operation;
  readonly explanation: string;
}

export interface LinearizabilityResult {
  readonly verdict: Verdict;
  readonly perKey: readonly KeyResult[];
  readonly anomalies: readonly LinearizabilityAnomaly[];
  readonly elapsedMs: number;
}

/** Checks a whole history; keys are searched independently, in key order. */
export function checkLinearizability(operations: readonly Operation[], budget: Partial<SearchBudget> = {}): LinearizabilityResult {
  const limits: SearchBudget = { ...defaultSearchBudget, ...budget };
  const startMs = Date.now();
  const deadlineMs = startMs + limits.timeMs;
  const byKey = new Map<string, Operation[]>();
  for (const operation of operations) {
    // An info read neither changes the state nor reports anything.
    if (operation.f === OpFunction.Get && operation.status === OperationStatus.Info) continue;
    let list = byKey.get(operation.key);
    if (list === undefined) {
      list = [];
      byKey.set(operation.key, list);
    }
    list.push(operation);
  }
  const perKey: KeyResult[] = [];
  const anomalies: LinearizabilityAnomaly[] = [];
  for (const key of [...byKey.keys()].sort()) {
    const keyOperations = byKey.get(key) ?? [];
    const outcome = searchKey(key, keyOperations, limits.maxStepsPerKey, deadlineMs);
    perKey.push(outcome.result);
    if (outcome.anomaly !== null) anomalies.push(outcome.anomaly);
  }
  return { verdict: combineVerdicts(perKey.map((result) => result.verdict)), perKey, anomalies, elapsedMs: Date.now() - startMs };
}

/** Any refutation wins; otherwise one unknown key makes the whole history unknown. */
export function combineVerdicts(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.includes(Verdict.NotLinearizable)) return Verdict.NotLinearizable;
  if (verdicts.includes(Verdict.Unknown)) return Verdict.Unknown;
  return Verdict.Linearizable;
}

/** murmur3's finalizer: spreads an operation index over 32 bits for the set hash. */
function mix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

interface CacheEntry {
  readonly linearized: Uint32Array;
  readonly state: number;
}

/** Lowe's memo of explored configurations; keys are hashes, entries compared exactly. */
class ConfigurationCache {
  private readonly buckets = new Map<number, CacheEntry[]>();

  /** Records (linearized, state); false when it was already there. */
  add(linearized: Uint32Array, setHash: number, state: number): boolean {
    const bucketKey = (setHash ^ Math.imul(state + 1, 0x9e3779b1)) >>> 0;
    let bucket = this.buckets.get(bucketKey);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(bucketKey, bucket);
    }
    for (const entry of bucket) {
      if (entry.state === state && sameBits(entry.linearized, linearized)) return false;
    }
    bucket.push({ linearized: linearized.slice(), state });
    return true;
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Where the search got deepest, kept to explain a failure. */
interface Frontier {
  prefix: number[];
  state: number;
  blocked: number;
  /** Operations whose call came before `blocked`'s return and that were not linearized. */
  candidates: number[];
}

const headEntry = 0;
const noEntry = -1;
/** Steps between clock reads: Date.now() per step would dominate small searches. */
const stepsPerClockCheck = 4096;

function searchKey(
  key: string,
  operations: readonly Operation[],
  maxSteps: number,
  deadlineMs: number,
): { result: KeyResult; anomaly: LinearizabilityAnomaly | null } {
  const startMs = Date.now();
  const n = operations.length;
  const model = new KeyModel(operations);

  // Entries 1..2n, linked in real-time order after the head (entry 0).
  const entryCount = 2 * n + 1;
  const next = new Int32Array(entryCount);
  const prev = new Int32Array(entryCount);
  const entryOperation = new Int32Array(entryCount);
  const entryIsCall = new Uint8Array(entryCount);
  const callEntry = new Int32Array(n);
  const order: { entry: number; position: number; operation: number }[] = [];
  operations.forEach((operation, index) => {
    const call = 1 + 2 * index;
    const ret = call + 1;
    entryOperation[call] = index;
    entryOperation[ret] = index;
    entryIsCall[call] = 1;
    callEntry[index] = call;
    order.push({ entry: call, position: operation.callPosition, operation: index });
    order.push({ entry: ret, position: operation.returnPosition, operation: index });
  });
  // Positions are distinct except Infinity (info returns), which tie-break by operation.
  order.sort((a, b) => (a.position === b.position ? a.operation - b.operation : a.position - b.position));
  let last = headEntry;
  for (const { entry } of order) {
    next[last] = entry;
    prev[entry] = last;
    last = entry;
  }
  next[last] = noEntry;

  const lift = (index: number): void => {
    const call = 1 + 2 * index;
    const ret = call + 1;
    next[prev[call]!] = next[call]!;
    if (next[call]! !== noEntry) prev[next[call]!] = prev[call]!;
    next[prev[ret]!] = next[ret]!;
    if (next[ret]! !== noEntry) prev[next[ret]!] = prev[ret]!;
  };
  // Dancing links: undo in the reverse order of lift.
  const unlift = (index: number): void => {
    const call = 1 + 2 * index;
    const ret = call + 1;
    if (next[ret]! !== noEntry) prev[next[ret]!] = ret;
    next[prev[ret]!] = ret;
    if (next[call]! !== noEntry) prev[next[call]!] = call;
    next[prev[call]!] = call;
  };

  const linearized = new Uint32Array(Math.ceil(n / 32));
  const toggle = (index: number): void => {
    linearized[index >>> 5]! ^= 1 << (index & 31);
  };
  const isLinearized = (index: number): boolean => (linearized[index >>> 5]! & (1 << (index & 31))) !== 0;
  const infoPredecessor = identicalInfoPredecessors(operations);
  let setHash = 0;
  const cache = new ConfigurationCache();
  const stackOperation: number[] = [];
  const stackState: number[] = [];
  let completedLeft = operations.filter((operation) => operation.status === OperationStatus.Ok).length;
  const okCount = completedLeft;
  let state = absentState;
  let steps = 0;
  let verdict: Verdict | null = null;

  let frontier: Frontier = { prefix: [], state: absentState, blocked: -1, candidates: [] };
  let atFrontier = true;

  // Within the window of calls before the first return entry, any order of trying them is
  // complete. Completed operations are tried first and info operations only when none
  // fits: most info operations never took effect, and linearizing them eagerly makes the
  // search wade through subsets of them.
  const isInfo = operations.map((operation) => operation.status === OperationStatus.Info);
  // An info write that is overwritten before anything observes it might as well never have
  // happened, and "never" is always on the table for it. So a blind write (put, delete) is
  // never tried right after an info blind write: the search covers that order by skipping
  // the info write instead. Whether the last step was an info blind write becomes part of
  // the cached configuration, because it narrows what may come next.
  const isInfoBlindWrite = operations.map(
    (operation) => operation.status === OperationStatus.Info && (operation.f === OpFunction.Put || operation.f === OpFunction.Delete),
  );
  const isBlindWrite = operations.map((operation) => operation.f === OpFunction.Put || operation.f === OpFunction.Delete);
  let afterInfoBlindWrite = false;
  let tryingInfo = false;
  let entry = next[headEntry]!;
  while (verdict === null) {
    if (completedLeft === 0) {
      verdict = Verdict.Linearizable;
      break;
    }
    // `steps` counts the steps taken: a budget of N allows exactly N.
    if (steps >= maxSteps || (steps % stepsPerClockCheck === stepsPerClockCheck - 1 && Date.now() > deadlineMs)) {
      verdict = Verdict.Unknown;
      break;
    }
    steps++;
    if (entry === noEntry) throw new Error('invariant violated: reached the end of the entry list with completed operations left');
    const index = entryOperation[entry]!;
    if (entryIsCall[entry] === 1) {
      const predecessor = infoPredecessor[index]!;
      if (
        isInfo[index] !== tryingInfo ||
        (predecessor !== noOperation && !isLinearized(predecessor)) ||
        (afterInfoBlindWrite && isBlindWrite[index]!)
      ) {
        entry = next[entry]!;
        continue;
      }
      const nextState = model.step(state, index);
      // An info operation that changes nothing here (a cas whose expected value does not
      // match, a delete of an absent key) is the same as one that never took effect.
      if (nextState !== illegalStep && !(isInfo[index] && nextState === state)) {
        toggle(index);
        const hashAfter = setHash ^ mix32(index);
        if (cache.add(linearized, hashAfter, 2 * nextState + (isInfoBlindWrite[index]! ? 1 : 0))) {
          setHash = hashAfter;
          stackOperation.push(index);
          stackState.push(state);
          state = nextState;
          lift(index);
          if (!isInfo[index]) completedLeft--;
          afterInfoBlindWrite = isInfoBlindWrite[index]!;
          atFrontier = stackOperation.length > frontier.prefix.length;
          if (atFrontier) frontier = { prefix: stackOperation.slice(), state, blocked: -1, candidates: [] };
          tryingInfo = false;
          entry = next[headEntry]!;
          continue;
        }
        toggle(index);
      }
      entry = next[entry]!;
      continue;
    }
    // A return entry ends the window of candidates: this return's operation had to be
    // linearized by now. At the deepest point so far, remember why it could not be.
    if (atFrontier) {
      frontier.blocked = index;
      for (let walk = next[headEntry]!; walk !== entry && walk !== noEntry; walk = next[walk]!) {
        if (entryIsCall[walk] === 1) frontier.candidates.push(entryOperation[walk]!);
      }
      atFrontier = false;
    }
    if (!tryingInfo) {
      tryingInfo = true;
      entry = next[headEntry]!;
      continue;
    }
    const undone = stackOperation.pop();
    const previousState = stackState.pop();
    if (undone === undefined || previousState === undefined) {
      verdict = Verdict.NotLinearizable;
      break;
    }
    toggle(undone);
    setHash ^= mix32(undone);
    state = previousState;
    unlift(undone);
    if (!isInfo[undone]) completedLeft++;
    const below = stackOperation[stackOperation.length - 1];
    afterInfoBlindWrite = below !== undefined && isInfoBlindWrite[below]!;
    // Carry on with the candidates after the undone one, in the same phase it was tried in.
    tryingInfo = isInfo[undone]!;
    entry = next[callEntry[undone]!]!;
  }

  const result: KeyResult = {
    key,
    verdict,
    operations: n,
    ok: okCount,
    info: n - okCount,
    steps,
    elapsedMs: Date.now() - startMs,
    modelStates: model.stateCount,
  };
  const anomaly = verdict === Verdict.NotLinearizable ? explain(key, operations, model, frontier) : null;
  return { result, anomaly };
}

const noOperation = -1;

/**
 * For each info operation, the identical info operation (same function and argument)
 * invoked just before it, or noOperation. Identical info operations are interchangeable:
 * whenever the later one could take effect, so could the earlier (its call came first and
 * neither ever returns), and swapping them changes nothing observable. So the search
 * only tries them in call order, which removes the factorial blow-up of many timed-out
 * writes of the same value (as in Jepsen's etcd histories).
 */
function identicalInfoPredecessors(operations: readonly Operation[]): Int32Array {
  const predecessors = new Int32Array(operations.length).fill(noOperation);
  const lastOfKind = new Map<string, number>();
  operations.forEach((operation, index) => {
    if (operation.status !== OperationStatus.Info) return;
    const identity = `${operation.f} ${canonicalJson(operation.input)}`;
    predecessors[index] = lastOfKind.get(identity) ?? noOperation;
    lastOfKind.set(identity, index);
  });
  return predecessors;
}

/** How many operations of the prefix to show before the point of failure. */
const prefixOperationsShown = 5;

function explain(key: string, operations: readonly Operation[], model: KeyModel, frontier: Frontier): LinearizabilityAnomaly {
  const at = (index: number): Operation => {
    const operation = operations[index];
    if (operation === undefined) throw new Error(`invariant violated: no operation ${index} on key ${key}`);
    return operation;
  };
  const blocked = at(frontier.blocked);
  const longestPrefix = frontier.prefix.map(at);
  const shownPrefix = longestPrefix.slice(-prefixOperationsShown);
  const pending = frontier.candidates.filter((index) => index !== frontier.blocked);
  // Completed operations that cannot take effect here explain the failure; info ones could,
  // and the search tried them without finding a way through.
  const others = pending.filter((index) => at(index).status === OperationStatus.Ok && model.step(frontier.state, index) === illegalStep);
  const infoPending = pending.filter((index) => at(index).status === OperationStatus.Info).length;
  const lines: string[] = [];
  lines.push(
    `No order of the ${operations.length} operations on key ${JSON.stringify(key)} is consistent with the model and real time.`,
    `The longest linearizable prefix found has ${longestPrefix.length} operations` +
      (shownPrefix.length > 0 ? `, ending with:\n${shownPrefix.map((operation) => `    ${describeOperation(operation)}`).join('\n')}` : ' (none).'),
    `  After it ${model.describeState(frontier.state, 'is')}.`,
    `  Next, ${describeOperation(blocked)} must take effect (it returned), but cannot: ${model.whyIllegal(frontier.state, frontier.blocked)}.`,
  );
  if (others.length > 0) {
    lines.push(
      '  Nor can any other operation pending at that point go first:',
      ...others.map((index) => `    ${describeOperation(at(index))}: ${model.whyIllegal(frontier.state, index)}`),
    );
  }
  if (infoPending > 0) {
    lines.push(`  ${infoPending} operation(s) of unknown outcome were pending there too; letting them take effect first did not help either.`);
  }
  return {
    key,
    operations: [...shownPrefix, ...others.map(at), blocked],
    longestPrefix,
    valueAfterPrefix: model.value(frontier.state),
    blocked,
    explanation: lines.join('\n'),
  };
}
