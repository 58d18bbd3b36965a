// The in-memory Raft log (Figure 2: log[]) plus the bookkeeping of what the host has
// made durable and what has been handed out for apply.
//
// Entries live in an EntryDeque (fixed-size chunks, reused); `#offset` is the index of
// its position 0. One array, replaced at each compaction and regrown slot by slot,
// promoted megabytes a second into the old generation of a busy node and set off
// mark-compacts; one array kept and regrown by half when full stalled a turn 50-120 ms
// to copy millions of slots when the log grew long. A snapshot (§7)
// replaces the prefix up to its index: the log then starts right after it, and the
// snapshot's last index and term stand in for the dropped entry before position 0
// (for the AppendEntries consistency check). Terms are non-decreasing along the log
// (a leader only appends entries of its own term after entries of earlier terms), which
// lets term lookups by value use binary search. With a loader (Config.entryLoader), a
// prefix of the array holds only terms: entries applied and durable everywhere they are
// needed are dropped from memory and read back from the host's storage if asked for.

import { assert } from './assert.js';
import { EntryDeque } from './entry-deque.js';
import { MembershipHistory } from './membership.js';
import type { Entry, EntryLoader, LogIndex, Membership, Snapshot, Term } from './types.js';

/**
 * The byteLength getter of typed arrays, called through a constant: `data.byteLength` in
 * slice() is a property load whose inline cache is still empty when the leader's first
 * AppendEntries carry only its no-op (data null), and an optimised slice() compiled then
 * kept a generic IC call for it (`perf`: `Builtins_LoadIC` under slice on the leader).
 */
const typedArrayByteLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'byteLength')!.get as (this: Uint8Array) => number;

/** Result of matching an incoming AppendEntries' entries against the log. */
export interface AppendOutcome {
  /** The first index whose entry was replaced or added; 0 if nothing changed. */
  readonly firstChangedIndex: LogIndex;
}

export class RaftLog {
  /** Index of #entries' position 0. Invariant: #offset === #previousIndex + 1. */
  #offset: LogIndex = 1;
  /** Index and term of the entry just before #offset (a snapshot's last entry; 0 without one). */
  #previousIndex: LogIndex = 0;
  #previousTerm: Term = 0;
  readonly #entries = new EntryDeque();
  /**
   * Entries up to here (from #offset) were dropped from memory (forgetThrough): their
   * slots hold a stand-in with only the term, and slice() reads them back through
   * #loader. Invariant: #forgottenIndex <= min(appliedIndex, persistedIndex).
   */
  #forgottenIndex: LogIndex = 0;
  /**
   * The stand-in of the last forgotten entries' term (only a stand-in's term is ever
   * read). Terms never decrease along the log and forgetting only moves forward, so one
   * is enough: an earlier term is never forgotten again.
   */
  #standIn: Entry = { index: 0, term: 0, data: null };
  readonly #loader: EntryLoader | null;
  /** The newest snapshot (what a leader sends to a follower behind #offset). Invariant: its index is #previousIndex, and it carries its membership. */
  #snapshot: Snapshot | null = null;
  /**
   * A snapshot received from the leader and not yet handed out in a Ready: the host must
   * persist it and restore its state machine from it. Invariant: when set, it is #snapshot.
   */
  pendingSnapshot: Snapshot | null = null;

  /** The configurations this log holds (thesis §4.1): see membership.ts. */
  readonly #membership: MembershipHistory;
  /** The configuration before any snapshot or configuration entry (Config.peers). */
  readonly #bootstrap: Membership;

  /** Highest index known committed (Figure 2). Invariant: commitIndex <= lastIndex. */
  commitIndex: LogIndex = 0;
  /**
   * Highest index the host has made durable. Invariant: persistedIndex <= handedOutIndex.
   */
  persistedIndex: LogIndex = 0;
  /**
   * Highest index handed out in Ready.entries (written, perhaps not yet durable). Entries
   * in (handedOutIndex, lastIndex] are still to be handed out. With synchronous
   * persistence it equals persistedIndex after every advance(); with asynchronous
   * persistence (advance({ durable: false }) then persisted()) it runs ahead of it.
   * Invariant: handedOutIndex <= lastIndex.
   */
  handedOutIndex: LogIndex = 0;
  /** Highest index handed out in Ready.committedEntries. Invariant: appliedIndex <= commitIndex. */
  appliedIndex: LogIndex = 0;

  constructor(
    restoredEntries: readonly Entry[],
    commitIndex: LogIndex,
    appliedIndex: LogIndex,
    restoredSnapshot: Snapshot | null = null,
    loader: EntryLoader | null = null,
    bootstrap: Membership = { voters: [], learners: [] },
  ) {
    this.#loader = loader;
    this.#bootstrap = bootstrap;
    if (restoredSnapshot !== null && restoredSnapshot.membership === undefined) restoredSnapshot = { ...restoredSnapshot, membership: bootstrap };
    this.#membership = new MembershipHistory(restoredSnapshot?.membership ?? bootstrap, restoredSnapshot?.index ?? 0);
    if (restoredSnapshot !== null) {
      assert(restoredSnapshot.index >= 1 && restoredSnapshot.term >= 1, () => `restored snapshot at ${restoredSnapshot.index}@t${restoredSnapshot.term} is not a log position`);
      this.#snapshot = restoredSnapshot;
      this.#previousIndex = restoredSnapshot.index;
      this.#previousTerm = restoredSnapshot.term;
      this.#offset = restoredSnapshot.index + 1;
    }
    for (let position = 0; position < restoredEntries.length; position++) {
      const entry = restoredEntries[position]!;
      assert(entry.index === this.#offset + position, () => `restored log must start at ${this.#offset} and be contiguous: entry ${position} has index ${entry.index}`);
      const previousTerm = position === 0 ? this.#previousTerm : restoredEntries[position - 1]!.term;
      assert(entry.term >= previousTerm, () => `restored log terms must not decrease: index ${entry.index} has term ${entry.term} after ${previousTerm}`);
      this.#put(entry);
    }
    this.persistedIndex = this.lastIndex();
    this.handedOutIndex = this.persistedIndex;
    assert(commitIndex <= this.lastIndex(), () => `restored commitIndex ${commitIndex} is beyond the restored log's last index ${this.lastIndex()}`);
    assert(appliedIndex <= this.lastIndex(), () => `config.applied ${appliedIndex} is beyond the restored log's last index ${this.lastIndex()}`);
    // The host restored its state machine from the snapshot: it stands at the snapshot's index at least.
    const applied = Math.max(appliedIndex, this.#previousIndex);
    // Whatever the host applied was committed, even if its hard state recorded an older commitIndex.
    this.commitIndex = Math.max(commitIndex, applied);
    this.appliedIndex = applied;
  }

  /** The configuration in use: the newest in the log, committed or not (thesis §4.1). */
  membership(): Membership {
    return this.#membership.latest();
  }

  /** The index of the newest configuration entry (the snapshot's index, or 0, when the log holds none). */
  membershipIndex(): LogIndex {
    return this.#membership.latestIndex();
  }

  /** The configuration before membership(), or null when membership() is the snapshot's or the bootstrap one. */
  previousMembership(): Membership | null {
    return this.#membership.previous();
  }

  /** Changes whenever membership() may have changed. */
  membershipVersion(): number {
    return this.#membership.version;
  }

  /** The index of the newest snapshot's last entry (0 without a snapshot). */
  snapshotIndex(): LogIndex {
    return this.#previousIndex;
  }

  snapshot(): Snapshot | null {
    return this.#snapshot;
  }

  /**
   * Drops the entries up to `index` from memory, keeping their terms, when the host can
   * read them back (Config.entryLoader); otherwise does nothing. Only applied, durable
   * entries may go: nothing hands them out again but slice(), which reads them back.
   */
  forgetThrough(index: LogIndex): void {
    if (this.#loader === null) return;
    assert(index <= this.appliedIndex && index <= this.persistedIndex, () => `forgetting through ${index}: only entries applied (${this.appliedIndex}) and durable (${this.persistedIndex}) may be dropped from memory`);
    const last = Math.min(index, this.lastIndex());
    const entries = this.#entries;
    for (let at = Math.max(this.#forgottenIndex + 1, this.#offset); at <= last; at++) {
      const position = at - this.#offset;
      const term = entries.at(position)!.term;
      // Index 0 is no log position: a stand-in handed out by mistake fails every index check.
      if (this.#standIn.term !== term) this.#standIn = { index: 0, term, data: null };
      entries.set(position, this.#standIn);
    }
    if (last > this.#forgottenIndex) this.#forgottenIndex = last;
  }

  /** The highest index forgetThrough dropped from memory (0: none). */
  forgottenIndex(): LogIndex {
    return this.#forgottenIndex;
  }

  /**
   * The host's state machine at `index` (<= appliedIndex) is serialized as `data`: drop
   * every entry up to and including `index` (thesis §5.1: "the entire current system
   * state is written to a snapshot on stable storage, then the entire log up to that
   * point is discarded").
   */
  compact(index: LogIndex, data: Uint8Array): Snapshot {
    assert(index > this.#previousIndex, () => `compaction to ${index} is not past the snapshot at ${this.#previousIndex}`);
    assert(index <= this.appliedIndex, () => `compaction to ${index} is beyond the applied index ${this.appliedIndex}`);
    const term = this.term(index);
    assert(term !== undefined, () => `compaction to ${index}: the log does not hold that entry`);
    const membership = this.#membership.compactTo(index);
    const snapshot: Snapshot = { index, term, data, membership };
    this.#entries.dropFront(index + 1 - this.#offset);
    this.#snapshot = snapshot;
    this.#previousIndex = index;
    this.#previousTerm = term;
    this.#offset = index + 1;
    return snapshot;
  }

  /**
   * §7, a follower receiving a snapshot that its log does not already hold: "Discard the
   * entire log"; the snapshot's last entry becomes the log's base, committed (a leader
   * only snapshots applied, hence committed, entries). The host persists and applies
   * the snapshot through the next Ready.
   */
  restoreSnapshot(received: Snapshot): void {
    const snapshot: Snapshot = received.membership === undefined ? { ...received, membership: this.#bootstrap } : received;
    assert(snapshot.index > this.commitIndex, () => `restoring snapshot at ${snapshot.index} at or below commitIndex ${this.commitIndex}`);
    this.#entries.truncate(0);
    this.#membership.reset(snapshot.membership!, snapshot.index);
    this.#forgottenIndex = snapshot.index;
    this.#snapshot = snapshot;
    this.pendingSnapshot = snapshot;
    this.#previousIndex = snapshot.index;
    this.#previousTerm = snapshot.term;
    this.#offset = snapshot.index + 1;
    this.commitIndex = snapshot.index;
    // Nothing after the snapshot is held yet; the snapshot itself is persisted by the
    // host before anything that depends on it (its acknowledgement waits for the sync).
    this.persistedIndex = snapshot.index;
    this.handedOutIndex = snapshot.index;
  }

  firstIndex(): LogIndex {
    return this.#offset;
  }

  lastIndex(): LogIndex {
    return this.#offset + this.#entries.length - 1;
  }

  lastTerm(): Term {
    const last = this.#entries.at(this.#entries.length - 1);
    return last === undefined ? this.#previousTerm : last.term;
  }

  /** The term of the entry at `index`, or undefined if the log does not hold it. */
  term(index: LogIndex): Term | undefined {
    if (index === this.#previousIndex) return this.#previousTerm;
    return this.#entries.at(index - this.#offset)?.term;
  }

  /** The entry at `index`, undefined if the log does not hold it or holds only its term (forgotten). */
  entry(index: LogIndex): Entry | undefined {
    if (index <= this.#forgottenIndex) return undefined;
    return this.#entries.at(index - this.#offset);
  }

  matchTerm(index: LogIndex, term: Term): boolean {
    return this.term(index) === term;
  }

  /**
   * §5.4.1: "If the logs have last entries with different terms, then the log with the
   * later term is more up-to-date. If the logs end with the same term, then whichever
   * log is longer is more up-to-date."
   */
  isUpToDate(candidateLastIndex: LogIndex, candidateLastTerm: Term): boolean {
    const lastTerm = this.lastTerm();
    return candidateLastTerm > lastTerm || (candidateLastTerm === lastTerm && candidateLastIndex >= this.lastIndex());
  }

  /** Leader: append one entry at the end (amortised O(1)). */
  appendOne(entry: Entry): void {
    assert(entry.index === this.lastIndex() + 1, () => `appended entry index ${entry.index} does not follow last index ${this.lastIndex()}`);
    assert(entry.term >= this.lastTerm(), () => `appended entry term ${entry.term} is below last term ${this.lastTerm()}`);
    this.#put(entry);
  }

  /**
   * Follower: merge entries that directly follow a matched prevLogIndex. §5.3: "If an
   * existing entry conflicts with a new one (same index but different terms), delete
   * the existing entry and all that follow it" — and only then: entries that match are
   * kept, so a stale or duplicated AppendEntries never shortens a longer matching log.
   * `allowCommittedTruncation` exists only for the skipPrevLogTermCheck test bug.
   */
  merge(entries: readonly Entry[], allowCommittedTruncation: boolean): AppendOutcome {
    let position = 0;
    // Skip the prefix we already hold with the same term.
    while (position < entries.length) {
      const incoming = entries[position]!;
      const existingTerm = this.term(incoming.index);
      if (existingTerm === undefined || existingTerm !== incoming.term) break;
      position++;
    }
    if (position === entries.length) return { firstChangedIndex: 0 };
    const firstChanged = entries[position]!;
    assert(
      firstChanged.index <= this.lastIndex() + 1,
      () => `merge would leave a gap: entry ${firstChanged.index} after last index ${this.lastIndex()}`,
    );
    if (firstChanged.index <= this.lastIndex()) {
      assert(
        allowCommittedTruncation || firstChanged.index > this.commitIndex,
        () => `conflicting entry at ${firstChanged.index} would truncate committed entries (commitIndex ${this.commitIndex})`,
      );
      this.#truncateFrom(firstChanged.index);
    }
    for (; position < entries.length; position++) {
      const entry = entries[position]!;
      assert(entry.index === this.lastIndex() + 1, () => `non-contiguous entries in AppendEntries at ${entry.index}`);
      this.#put(entry);
    }
    return { firstChangedIndex: firstChanged.index };
  }

  /** Drop index and everything after it (only uncommitted entries, see merge). */
  #truncateFrom(index: LogIndex): void {
    assert(index > this.#forgottenIndex, () => `truncation from ${index} reaches entries dropped from memory (through ${this.#forgottenIndex}), which are applied`);
    this.#entries.truncate(index - this.#offset);
    this.#membership.truncateFrom(index);
    // What was durable beyond the cut is no longer our log: it must be rewritten.
    if (this.persistedIndex >= index) this.persistedIndex = index - 1;
    if (this.handedOutIndex >= index) this.handedOutIndex = index - 1;
    if (this.commitIndex >= index) this.commitIndex = index - 1;
    if (this.appliedIndex >= index) this.appliedIndex = index - 1;
  }

  /** The first index holding `term` at or before `atOrBefore` (binary search: terms are monotonic). */
  firstIndexOfTerm(term: Term, atOrBefore: LogIndex): LogIndex {
    let low = this.#offset;
    let high = Math.min(atOrBefore, this.lastIndex());
    // Find the smallest index in [low, high] whose term is >= term.
    while (low < high) {
      const middle = low + Math.floor((high - low) / 2);
      if ((this.term(middle) ?? 0) < term) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The last index whose term is <= `term`, searching at or before `atOrBefore`; previous index if none. */
  lastIndexWithTermAtMost(term: Term, atOrBefore: LogIndex): LogIndex {
    let low = this.#previousIndex;
    let high = Math.min(atOrBefore, this.lastIndex());
    // Largest index in [low, high] whose term is <= term (term(previousIndex) always qualifies or is the floor).
    while (low < high) {
      const middle = low + Math.ceil((high - low) / 2);
      if ((this.term(middle) ?? 0) <= term) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /**
   * The fast-backtracking hint a follower returns when prevLogIndex does not match:
   * the term it holds at prevLogIndex (0 if its log is too short) and the first index
   * of that term (or lastIndex + 1).
   */
  conflictHint(prevLogIndex: LogIndex): { readonly conflictTerm: Term; readonly conflictIndex: LogIndex } {
    if (prevLogIndex > this.lastIndex()) return { conflictTerm: 0, conflictIndex: this.lastIndex() + 1 };
    const conflictTerm = this.term(prevLogIndex) ?? 0;
    return { conflictTerm, conflictIndex: this.firstIndexOfTerm(conflictTerm, prevLogIndex) };
  }

  /**
   * Entries from `from` on, at most `maxEntries` and about `maxBytes` of payload (at
   * least one entry when any exists). Copies only the returned window.
   */
  slice(from: LogIndex, maxEntries: number, maxBytes: number): Entry[] {
    const startPosition = from - this.#offset;
    assert(startPosition >= 0, () => `slice from ${from} is before the first index ${this.#offset}`);
    if (from <= this.#forgottenIndex) return this.#sliceForgotten(from, maxEntries, maxBytes);
    const endPosition = Math.min(this.#entries.length, startPosition + maxEntries);
    if (startPosition >= endPosition) return [];
    let bytes = 0;
    let position = startPosition;
    for (; position < endPosition; position++) {
      const data = this.#entries.at(position)!.data;
      const size = data === null ? 0 : typedArrayByteLength.call(data);
      if (position > startPosition && bytes + size > maxBytes) break;
      bytes += size;
    }
    return this.#entries.copy(startPosition, position);
  }

  /** slice() of entries dropped from memory: read back, checked against the terms kept. */
  #sliceForgotten(from: LogIndex, maxEntries: number, maxBytes: number): Entry[] {
    const to = Math.min(this.#forgottenIndex, from + maxEntries - 1);
    const loaded = this.#loader!(from, to);
    assert(loaded.length === to - from + 1, () => `the entry loader returned ${loaded.length} entries for [${from}, ${to}]`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = 0; i < loaded.length; i++) {
      const entry = loaded[i]!;
      const index = from + i;
      const term = this.#entries.at(index - this.#offset)!.term;
      assert(entry.index === index && entry.term === term, () => `the entry loader returned ${entry.index}@t${entry.term} where the log holds ${index}@t${term}`);
      const size = entry.data === null ? 0 : typedArrayByteLength.call(entry.data);
      if (i > 0 && bytes + size > maxBytes) break;
      bytes += size;
      out.push(entry);
    }
    return out;
  }

  /** Entries in [from, to] (inclusive), copied. Never entries dropped from memory (nothing asks for those but slice()). */
  range(from: LogIndex, to: LogIndex): Entry[] {
    if (to < from) return [];
    assert(from >= this.#offset, () => `range from ${from} is before the first index ${this.#offset} (compacted)`);
    assert(from > this.#forgottenIndex, () => `range from ${from} reaches entries dropped from memory (through ${this.#forgottenIndex})`);
    const start = from - this.#offset;
    const end = Math.min(to - this.#offset + 1, this.#entries.length);
    return end <= start ? [] : this.#entries.copy(start, end);
  }

  #put(entry: Entry): void {
    if (entry.membership !== undefined) this.#membership.appended(entry.index, entry.membership);
    this.#entries.push(entry);
  }

  /** Follower/leader: raise commitIndex (never lowers it). */
  commitTo(index: LogIndex): boolean {
    if (index <= this.commitIndex) return false;
    assert(index <= this.lastIndex(), () => `commitIndex ${index} would exceed lastIndex ${this.lastIndex()}`);
    this.commitIndex = index;
    return true;
  }

  /** Committed entries that are also durable here and not yet handed out: (appliedIndex, limit]. */
  applicableLimit(): LogIndex {
    return Math.min(this.commitIndex, this.persistedIndex);
  }
}
