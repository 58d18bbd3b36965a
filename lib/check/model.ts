// The sequential specification the checkers hold a history against: one key of the
// replicated store (lib/kv/state-machine.ts implements exactly this). A key is absent or
// holds a JSON value, and a stored null is a value, not absence:
// - get reads the value, or null when absent (so a stored null and absence read alike);
// - put sets the value (put null stores null); delete makes the key absent;
// - append turns absent into [elem] and a list into list + [elem]; on any other value,
//   stored null included, the store refuses it (NOT_A_LIST, a definite error); it also
//   refuses one that would make the list encode to more than the cluster's maxValueBytes
//   (VALUE_TOO_LARGE, definite). A history records a definite error as a fail, which never
//   happened and is left out, so the model needs no limit to accept the store's answers;
//   knowing none (a history does not carry it), it cannot tell an append acknowledged past
//   the limit either. `raftlab check`'s lists stay far below any limit (at most a few
//   hundred elements of a dozen bytes).
// - cas(expected, new) sets new and returns true iff the current value (null if absent)
//   deep-equals expected, else returns false: cas(null, v) succeeds on an absent key and
//   on a stored null alike.
//
// States are interned: each distinct value gets a small integer, compared by its
// canonical JSON text. The search then memoizes (linearized set, state id) pairs and
// transitions cheaply, and deep equality is string equality.

import type { JsonValue } from '../cluster/types.js';
import { assertNever } from '../raft/assert.js';
import { OperationStatus, OpFunction, type Operation } from './history.js';

/** JSON text with object keys sorted, so that deep-equal values have equal text. */
export function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] ?? null)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const nullText = 'null';
/** The absent key's text: not JSON (no value's canonical text is empty), so a stored null,
 *  whose text is "null", is a state of its own. */
const absentText = '';
/** Not JSON on purpose: no read can ever equal it. */
const beyondLongestReadText = '[...the longest read, then appends no read shows]';
/** The state of a key nobody has written (or that was deleted). */
export const absentState = 0;
/** step() result for an operation that cannot take effect in that state with that output. */
export const illegalStep = -1;

/** An operation with its JSON arguments pre-rendered to canonical text. */
interface PreparedOperation {
  readonly operation: Operation;
  /** put: the value; append: the element; cas: the new value. */
  readonly argumentText: string;
  /** cas only: the expected value. */
  readonly expectedText: string;
  /** ok get: what it read. */
  readonly outputText: string;
}

function prepare(operation: Operation): PreparedOperation {
  let argumentText = nullText;
  let expectedText = nullText;
  switch (operation.f) {
    case OpFunction.Put:
    case OpFunction.Append:
      argumentText = canonicalJson(operation.input);
      break;
    case OpFunction.Cas: {
      const pair = operation.input;
      if (!Array.isArray(pair) || pair.length !== 2) throw new Error(`invariant violated: cas input must be [expected, new], got ${JSON.stringify(pair)}`);
      expectedText = canonicalJson(pair[0] ?? null);
      argumentText = canonicalJson(pair[1] ?? null);
      break;
    }
    case OpFunction.Get:
    case OpFunction.Delete:
      break;
    default:
      return assertNever(operation.f, 'operation function');
  }
  return { operation, argumentText, expectedText, outputText: canonicalJson(operation.output) };
}

/** The model of one key, over a fixed list of operations (indexed 0..n-1). */
export class KeyModel {
  private readonly texts: string[] = [absentText];
  private readonly stateOfText = new Map<string, number>([[absentText, absentState]]);
  /** (state, operation index) → next state or illegalStep; key: state * n + index. */
  private readonly transitions = new Map<number, number>();
  /** Length of each state's list (0 when absent; unused for non-list values). */
  private readonly lengths: number[] = [0];
  private readonly prepared: readonly PreparedOperation[];
  /** See appendOrderOf: element text → its position in the longest read, or null. */
  private readonly appendOrder: ReadonlyMap<string, number> | null;
  /** Under appendOrder: the longest read itself. */
  private readonly longestRead: JsonValue[] | null;
  /** Under appendOrder: the state "the longest read plus appends nobody read", once met. */
  private beyondState: number | null = null;

  constructor(operations: readonly Operation[]) {
    this.prepared = operations.map(prepare);
    const order = appendOrderOf(this.prepared);
    this.appendOrder = order?.positions ?? null;
    this.longestRead = order?.longest ?? null;
  }

  get stateCount(): number {
    return this.texts.length;
  }

  text(state: number): string {
    const text = this.texts[state];
    if (text === undefined) throw new Error(`invariant violated: unknown model state ${state}`);
    return text;
  }

  /**
   * The value a get would read in `state`: null when absent. For the "longest read, then
   * appends no read shows" state (see appendOrderOf), whose list is not known in full, the
   * longest read (the part that is known); describeState says it in words.
   */
  value(state: number): JsonValue {
    if (state === absentState) return null;
    if (state === this.beyondState) return this.longestRead ?? null;
    return JSON.parse(this.text(state)) as JsonValue;
  }

  /** What a get reads in `state`, as canonical text. */
  private readText(state: number): string {
    return state === absentState ? nullText : this.text(state);
  }

  /** The state for a report: "the value was 2", "the key was absent", ... (`is` for the present tense). */
  describeState(state: number, verb: 'was' | 'is' = 'was'): string {
    if (state === absentState) return `the key ${verb} absent (a get reads null)`;
    if (state === this.beyondState) {
      const known = describeText(canonicalJson(this.longestRead ?? []));
      return `the list ${verb} the longest read, ${known}, followed by one or more appends that no read shows (in an order nothing observed)`;
    }
    return `the value ${verb} ${describeText(this.text(state))}`;
  }

  /** The state after operation `index` takes effect in `state`, or illegalStep. */
  step(state: number, index: number): number {
    const memoKey = state * this.prepared.length + index;
    const known = this.transitions.get(memoKey);
    if (known !== undefined) return known;
    const next = this.computeStep(state, index);
    this.transitions.set(memoKey, next);
    return next;
  }

  private intern(text: string, length = 0): number {
    const known = this.stateOfText.get(text);
    if (known !== undefined) return known;
    const state = this.texts.length;
    this.texts.push(text);
    this.lengths.push(length);
    this.stateOfText.set(text, state);
    return state;
  }

  private operationAt(index: number): PreparedOperation {
    const prepared = this.prepared[index];
    if (prepared === undefined) throw new Error(`invariant violated: no operation ${index} in this key's model`);
    return prepared;
  }

  private computeStep(state: number, index: number): number {
    const { operation, argumentText, expectedText, outputText } = this.operationAt(index);
    const current = this.text(state);
    const read = this.readText(state);
    const completed = operation.status === OperationStatus.Ok;
    switch (operation.f) {
      case OpFunction.Get:
        // An info read has no effect and an unknown output: anything goes.
        return !completed || outputText === read ? state : illegalStep;
      case OpFunction.Put:
        return this.intern(argumentText);
      case OpFunction.Delete:
        return absentState;
      case OpFunction.Append: {
        if (this.appendOrder !== null) return this.appendInOrder(state, argumentText, completed);
        const appended = appendText(current, argumentText);
        if (appended !== null) return this.intern(appended, (this.lengths[state] ?? 0) + 1);
        // Appending to a non-list (a stored null included) is refused by the store: an ok
        // one is impossible, an info one simply did nothing.
        return completed ? illegalStep : state;
      }
      case OpFunction.Cas: {
        // The store compares against null when the key is absent.
        const matches = read === expectedText;
        if (!completed) return matches ? this.intern(argumentText) : state;
        if (operation.output === true) return matches ? this.intern(argumentText) : illegalStep;
        return matches ? illegalStep : state;
      }
      default:
        return assertNever(operation.f, 'operation function');
    }
  }

  /**
   * Append under the longest-read order (see appendOrderOf): below the longest read R only
   * R's next element may go; after R, only elements no read shows, and the state becomes
   * "beyond R", whatever their order, since nothing can observe it. An info append of an
   * element no read shows never needs to take effect at all.
   */
  private appendInOrder(state: number, elementText: string, completed: boolean): number {
    const order = this.appendOrder;
    if (order === null) throw new Error('invariant violated: appendInOrder without an order');
    const position = order.get(elementText);
    const length = state === this.beyondState ? Infinity : (this.lengths[state] ?? 0);
    if (length < order.size) {
      if (position !== length) return illegalStep;
      const appended = appendText(this.text(state), elementText);
      if (appended === null) throw new Error(`invariant violated: a key with only appends holds a non-list ${this.text(state)}`);
      return this.intern(appended, length + 1);
    }
    if (position !== undefined || !completed) return illegalStep;
    this.beyondState ??= this.intern(beyondLongestReadText);
    return this.beyondState;
  }

  /** Why operation `index` cannot take effect in `state` (for anomaly reports). */
  whyIllegal(state: number, index: number): string {
    const { operation, argumentText, expectedText, outputText } = this.operationAt(index);
    const current = this.describeState(state);
    switch (operation.f) {
      case OpFunction.Get:
        return `it read ${describeText(outputText)} but ${current}`;
      case OpFunction.Append:
        if (this.appendOrder !== null) {
          const position = this.appendOrder.get(argumentText);
          if (position === undefined) return `the longest read shows other elements next, and never ${argumentText}`;
          return state === this.beyondState
            ? `the longest read shows ${argumentText} at position ${position}, but ${current}`
            : `the longest read shows ${argumentText} at position ${position}, but the list has ${this.lengths[state] ?? 0} elements`;
        }
        return `it was acknowledged but ${current}, not a list (the store refuses to append to it)`;
      case OpFunction.Cas:
        return operation.output === true
          ? `it succeeded but ${current}, not the expected ${describeText(expectedText)}`
          : `it returned false but ${current}, which equals the expected ${describeText(expectedText)}`;
      case OpFunction.Put:
      case OpFunction.Delete:
        return 'it can always take effect (only an earlier constraint can exclude it)';
      default:
        return assertNever(operation.f, 'operation function');
    }
  }
}

/**
 * On a key that only sees append and get, with every element appended once, the longest
 * read R fixes the order of the appends in any linearization: R's elements come first, in
 * R's order (R's read took effect after them, and saw no other), and every other append
 * comes after them all (else R would show it). Restricting appends to that order loses no
 * valid linearization and turns a search over interleavings of concurrent appends (a
 * factorial, with the cache unable to merge different orders) into a search over where
 * the reads fall. Returns element text → position in R, and R; or null when the rule does not apply.
 */
function appendOrderOf(prepared: readonly PreparedOperation[]): { positions: ReadonlyMap<string, number>; longest: JsonValue[] } | null {
  let longest: JsonValue[] | null = null;
  const elements = new Set<string>();
  for (const { operation, argumentText } of prepared) {
    if (operation.f === OpFunction.Append) {
      if (elements.has(argumentText)) return null;
      elements.add(argumentText);
    } else if (operation.f === OpFunction.Get) {
      if (operation.status === OperationStatus.Ok && Array.isArray(operation.output) && operation.output.length > (longest?.length ?? -1)) {
        longest = operation.output;
      }
    } else {
      return null;
    }
  }
  if (longest === null || elements.size === 0) return null;
  const order = new Map<string, number>();
  for (const element of longest) {
    const text = canonicalJson(element);
    // A repeated element in a read: no linearization exists, the plain search will say so.
    if (order.has(text)) return null;
    order.set(text, order.size);
  }
  return { positions: order, longest };
}

/** Text of `list + [element]`, or null when `current` is neither absent nor a list (a
 *  stored null is not a list: the store refuses to append to it). */
function appendText(current: string, elementText: string): string | null {
  if (current === absentText || current === '[]') return `[${elementText}]`;
  if (current.startsWith('[')) return `${current.slice(0, -1)},${elementText}]`;
  return null;
}

const maxShownLength = 80;

function shorten(text: string): string {
  return text.length <= maxShownLength ? text : `${text.slice(0, maxShownLength - 3)}...`;
}

/** A value's text for a report: long lists (append keys) show their length and their end,
 *  which is where two reads of a growing list differ. */
export function describeText(text: string): string {
  if (text.length <= maxShownLength) return text;
  const value = JSON.parse(text) as JsonValue;
  if (Array.isArray(value)) {
    const tail = value.slice(-3).map(canonicalJson).join(',');
    return `a list of ${value.length} elements [...,${tail.length <= maxShownLength ? tail : shorten(tail)}]`;
  }
  return shorten(text);
}

/** One line a person can read: "#12 p3 cas 1→2 = true [t 10..15]". */
export function describeOperation(operation: Operation): string {
  let body: string;
  switch (operation.f) {
    case OpFunction.Get:
      body = 'get';
      break;
    case OpFunction.Put:
      body = `put ${shorten(canonicalJson(operation.input))}`;
      break;
    case OpFunction.Delete:
      body = 'delete';
      break;
    case OpFunction.Append:
      body = `append ${shorten(canonicalJson(operation.input))}`;
      break;
    case OpFunction.Cas: {
      const pair = Array.isArray(operation.input) ? operation.input : [];
      body = `cas ${shorten(canonicalJson(pair[0] ?? null))}→${shorten(canonicalJson(pair[1] ?? null))}`;
      break;
    }
    default:
      return assertNever(operation.f, 'operation function');
  }
  const outcome =
    operation.status === OperationStatus.Info
      ? ' = ? (info)'
      : operation.f === OpFunction.Get || operation.f === OpFunction.Cas
        ? ` = ${describeText(canonicalJson(operation.output))}`
        : '';
  const end = operation.return === Infinity ? '∞' : String(operation.return);
  return `#${operation.id} p${operation.process} ${JSON.stringify(operation.key)} ${body}${outcome} [t ${operation.call}..${end}]`;
}
