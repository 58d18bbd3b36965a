// The properties of Figure 3 (Raft paper), checked incrementally while the simulator
// runs. Each check runs at the moment the host learns something from a node (a Ready
// written to its disk, an entry applied, a role observed), so a violation is reported
// at the step that caused it, not at the end of the run.
//
// The logs checked are the hosts' written logs (SimDisk: synced plus unsynced writes),
// which is exactly the log the core has handed out through Ready.entries.
//
// Snapshots: the simulated state machine's state is a hash chained over every applied
// (term, command). A snapshot carries that hash, and is checked against the hash of the
// global committed prefix at its index when it is taken and when it is installed: a
// snapshot that does not stand for exactly the committed entries is a State Machine
// Safety violation. Entries a snapshot covers are then gone from that node's disk, and
// the checks that read a log skip them (they were checked through the snapshot).

import type { Entry, HardState, NodeId, Status, Term } from '../raft/types.js';
import { Role } from '../raft/types.js';
import type { SimDisk } from './disk.js';

export const Property = {
  ElectionSafety: 'ElectionSafety',
  LeaderAppendOnly: 'LeaderAppendOnly',
  LogMatching: 'LogMatching',
  LeaderCompleteness: 'LeaderCompleteness',
  StateMachineSafety: 'StateMachineSafety',
  /** After the faults stop, the cluster did not converge within the bound. */
  Liveness: 'Liveness',
  /**
   * In a quiet window of the safety phase (no crash, partition, drop or membership change
   * for a while), the cluster did not elect a leader of a connected majority, commit the
   * proposals, bring every member up to the leader, or keep that leader, within its bound.
   */
  Availability: 'Availability',
  /**
   * A ReadIndex read (thesis §6.4) was answered at an index below one already committed
   * when the read reached the leader: the read could miss a write acknowledged before it
   * was sent, which linearizability forbids.
   */
  LinearizableRead: 'LinearizableRead',
  /** The core threw: one of its own assertions fired, or it broke the Ready contract. */
  CoreAssertion: 'CoreAssertion',
  /**
   * The run did not end within its step budget (options.maxSteps), or its agenda outgrew
   * options.maxQueuedEvents: a message storm or a loop of events that would otherwise
   * hang the whole `raftlab sim` run without naming the seed.
   */
  Runaway: 'Runaway',
} as const;
export type Property = (typeof Property)[keyof typeof Property];

export const INVARIANT_VIOLATED_CODE = 'SIM_INVARIANT_VIOLATED';

export class InvariantViolation extends Error {
  readonly code = INVARIANT_VIOLATED_CODE;
  readonly property: Property;

  constructor(property: Property, message: string) {
    super(`${property}: ${message}`);
    this.name = 'InvariantViolation';
    this.property = property;
  }
}

/** Identity keys pack (term, index) into one safe integer; these bound both parts. */
const INDEX_LIMIT = 1 << 24;
const TERM_LIMIT = 1 << 28;

interface CommittedEntry {
  readonly term: Term;
  readonly data: string;
  /** The state hash after applying the committed prefix up to this entry (see chainStateHash). */
  readonly stateHash: number;
  /** A term no earlier than the one the entry was committed in (the reporter's currentTerm). */
  readonly commitTerm: Term;
}

interface EntryIdentity {
  readonly data: string;
  readonly previousTerm: Term;
}

/** A short, comparable rendering of an entry: its command, or the configuration it carries (thesis §4.1). */
export function entryKey(entry: Pick<Entry, 'data' | 'membership'>): string {
  const membership = entry.membership;
  if (membership === undefined) return dataKey(entry.data);
  const outgoing = membership.outgoing ?? [];
  return `<config voters ${membership.voters.join(',')}${membership.learners.length > 0 ? ` learners ${membership.learners.join(',')}` : ''}${outgoing.length > 0 ? ` outgoing ${outgoing.join(',')}` : ''}>`;
}

/** A short, comparable rendering of an entry's command (payloads are short ASCII tags). */
export function dataKey(data: Uint8Array | null): string {
  if (data === null) return '<no-op>';
  let text = '';
  for (const byte of data) text += String.fromCharCode(byte);
  return text;
}

const FNV_PRIME = 0x01000193;
/** The state hash of a state machine that applied nothing. */
export const EMPTY_STATE_HASH = 0x811c9dc5;

/** The simulated state machine: applying (term, command) to a state with hash `previous`. */
export function chainStateHash(previous: number, term: Term, data: string): number {
  let hash = Math.imul(previous ^ term, FNV_PRIME);
  for (let position = 0; position < data.length; position++) hash = Math.imul(hash ^ data.charCodeAt(position), FNV_PRIME);
  return hash >>> 0;
}

function describeEntry(entry: { readonly term: Term; readonly data: string } | undefined): string {
  return entry === undefined ? 'nothing' : `(term ${entry.term}, ${entry.data})`;
}

export class InvariantChecker {
  readonly #disks: ReadonlyMap<NodeId, SimDisk>;
  /** Election Safety: the one leader of every term seen so far, over the whole run. */
  readonly #leaderOfTerm = new Map<Term, NodeId>();
  /** The term a node was last seen leading in, or null once seen as anything else. */
  readonly #leadingTerm = new Map<NodeId, Term | null>();
  /** Leader Append-Only on the in-memory log: a leader's last index as last observed. */
  readonly #leaderLastIndex = new Map<NodeId, number>();
  /** Log Matching: every (index, term) ever written anywhere, with its command and predecessor. */
  readonly #identities = new Map<number, EntryIdentity>();
  /** State Machine Safety: the global committed prefix, position i - 1 for index i. */
  readonly #committed: CommittedEntry[] = [];
  /** Per node: the commit index already checked against #committed. */
  readonly #checkedCommit = new Map<NodeId, number>();
  /** Per node: the last index its state machine applied. */
  readonly #appliedIndex = new Map<NodeId, number>();

  constructor(disks: ReadonlyMap<NodeId, SimDisk>) {
    this.#disks = disks;
    for (const id of disks.keys()) {
      this.#leadingTerm.set(id, null);
      this.#checkedCommit.set(id, 0);
      this.#appliedIndex.set(id, 0);
    }
  }

  /** Distinct (term, leader) pairs seen: the number of elections won. */
  get elections(): number {
    return this.#leaderOfTerm.size;
  }

  get committedLength(): number {
    return this.#committed.length;
  }

  committedData(index: number): string | undefined {
    return this.#committed[index - 1]?.data;
  }

  #disk(node: NodeId): SimDisk {
    const disk = this.#disks.get(node);
    if (disk === undefined) throw new Error(`InvariantChecker: unknown node ${node}`);
    return disk;
  }

  /**
   * Before a Ready's writes land. Leader Append-Only: a node that was leader of term T at
   * the previous observation and still is may only append. And no node may rewrite an
   * entry at or below its own commit index.
   */
  beforeWrite(node: NodeId, entries: readonly Entry[], status: Status): void {
    const first = entries[0];
    const last = entries[entries.length - 1];
    if (first === undefined || last === undefined) return;
    const disk = this.#disk(node);
    const stillLeading = status.role === Role.Leader && this.#leadingTerm.get(node) === status.currentTerm;
    const commitIndex = disk.hardState.commitIndex;
    for (let index = first.index; index <= disk.lastIndex; index++) {
      const old = disk.entry(index)!;
      const replacement = index <= last.index ? entries[index - first.index] : undefined;
      const same = replacement !== undefined && replacement.term === old.term && entryKey(replacement) === entryKey(old);
      if (same) continue;
      // A committed entry stays in every log that holds it (Leader Completeness: each later
      // leader holds it too, so nothing a correct leader sends conflicts with it), whether or
      // not this node knows it is committed.
      const committed = this.#committed[index - 1];
      const removesCommitted = committed !== undefined && committed.term === old.term && committed.data === entryKey(old);
      const what = `index ${index}: had ${describeEntry({ term: old.term, data: entryKey(old) })}, now ${
        replacement === undefined ? 'deleted' : describeEntry({ term: replacement.term, data: entryKey(replacement) })
      }`;
      if (stillLeading) {
        throw new InvariantViolation(
          Property.LeaderAppendOnly,
          `node ${node}, leader of term ${status.currentTerm}, overwrote its own log at ${what}`,
        );
      }
      if (index <= commitIndex) {
        throw new InvariantViolation(
          Property.StateMachineSafety,
          `node ${node} rewrote an entry at or below its commit index ${commitIndex}, ${what}`,
        );
      }
      if (removesCommitted) {
        throw new InvariantViolation(
          Property.StateMachineSafety,
          `node ${node} removed a committed entry from its log (committed by term ${committed.commitTerm}), ${what}`,
        );
      }
    }
  }

  /** After a Ready's writes land: Log Matching for every new entry, then the commit index. */
  afterWrite(node: NodeId, entries: readonly Entry[], hardState: HardState | null): void {
    const disk = this.#disk(node);
    for (const entry of entries) {
      if (entry.index >= INDEX_LIMIT || entry.term >= TERM_LIMIT || entry.term < 1) {
        throw new InvariantViolation(Property.LogMatching, `node ${node} wrote an entry out of range: index ${entry.index}, term ${entry.term}`);
      }
      const previousTerm = disk.termAt(entry.index - 1);
      if (entry.term < previousTerm) {
        throw new InvariantViolation(
          Property.LogMatching,
          `node ${node}'s log has term ${entry.term} at index ${entry.index} after term ${previousTerm}: terms must not decrease along a log`,
        );
      }
      const key = entry.term * INDEX_LIMIT + entry.index;
      const data = entryKey(entry);
      const known = this.#identities.get(key);
      if (known === undefined) {
        this.#identities.set(key, { data, previousTerm });
        continue;
      }
      if (known.data !== data) {
        throw new InvariantViolation(
          Property.LogMatching,
          `two entries with index ${entry.index} and term ${entry.term} hold different commands: ${known.data} and ${data} (node ${node})`,
        );
      }
      if (known.previousTerm !== previousTerm) {
        throw new InvariantViolation(
          Property.LogMatching,
          `entry (index ${entry.index}, term ${entry.term}) follows term ${known.previousTerm} in one log but term ${previousTerm} in node ${node}'s: ` +
            `logs with a common entry must be identical before it`,
        );
      }
    }
    if (hardState !== null) this.#checkCommitIndex(node, hardState.commitIndex, hardState.currentTerm);
  }

  /** The node's commitIndex says its log up to there is committed: it must agree with everyone's. */
  #checkCommitIndex(node: NodeId, commitIndex: number, reporterTerm: Term): void {
    const disk = this.#disk(node);
    const checked = this.#checkedCommit.get(node) ?? 0;
    if (commitIndex > disk.lastIndex) {
      throw new InvariantViolation(
        Property.StateMachineSafety,
        `node ${node} has commit index ${commitIndex} beyond its last log index ${disk.lastIndex}`,
      );
    }
    if (commitIndex < checked) {
      throw new InvariantViolation(
        Property.StateMachineSafety,
        `node ${node}'s commit index went back from ${checked} to ${commitIndex} without a restart`,
      );
    }
    for (let index = checked + 1; index <= commitIndex; index++) {
      this.#recordCommitted(node, disk.entry(index)!, reporterTerm);
    }
    this.#checkedCommit.set(node, commitIndex);
  }

  #recordCommitted(node: NodeId, entry: Entry, reporterTerm: Term): void {
    const data = entryKey(entry);
    const known = this.#committed[entry.index - 1];
    if (known !== undefined) {
      if (known.term !== entry.term || known.data !== data) {
        throw new InvariantViolation(
          Property.StateMachineSafety,
          `index ${entry.index} was committed as ${describeEntry(known)} but node ${node} holds ${describeEntry({ term: entry.term, data })} as committed there`,
        );
      }
      return;
    }
    if (entry.index !== this.#committed.length + 1) {
      throw new Error(`InvariantChecker: committed prefix must grow densely (index ${entry.index} after ${this.#committed.length})`);
    }
    const previousHash = this.#committed[entry.index - 2]?.stateHash ?? EMPTY_STATE_HASH;
    const committed = { term: entry.term, data, commitTerm: reporterTerm, stateHash: chainStateHash(previousHash, entry.term, data) };
    this.#committed.push(committed);
    // Leader Completeness for leaders already in office when the commit is first seen.
    for (const [leader, term] of this.#leadingTerm) {
      if (term !== null && term > reporterTerm) this.#checkLeaderHas(leader, term, entry.index, committed);
    }
  }

  #checkLeaderHas(leader: NodeId, term: Term, index: number, committed: CommittedEntry): void {
    const disk = this.#disk(leader);
    // Covered by the leader's snapshot, which was checked against the committed prefix.
    if (index <= disk.snapshotIndex) return;
    const entry = disk.entry(index);
    if (entry === undefined || entry.term !== committed.term || entryKey(entry) !== committed.data) {
      throw new InvariantViolation(
        Property.LeaderCompleteness,
        `node ${leader} leads term ${term} but lacks index ${index} committed by term ${committed.commitTerm} as ${describeEntry(committed)}; it holds ${
          entry === undefined ? 'nothing' : describeEntry({ term: entry.term, data: entryKey(entry) })
        }`,
      );
    }
  }

  /** After every step that touched `node`: Election Safety and, for a new leader, Leader Completeness. */
  observe(id: NodeId, status: Status): void {
    if (status.role !== Role.Leader) {
      this.#leadingTerm.set(id, null);
      return;
    }
    const term = status.currentTerm;
    if (this.#leadingTerm.get(id) === term) {
      const lastIndex = this.#leaderLastIndex.get(id) ?? 0;
      if (status.lastLogIndex < lastIndex) {
        throw new InvariantViolation(
          Property.LeaderAppendOnly,
          `node ${id}, leader of term ${term}, shrank its log from last index ${lastIndex} to ${status.lastLogIndex}`,
        );
      }
      this.#leaderLastIndex.set(id, status.lastLogIndex);
      return;
    }
    this.#leaderLastIndex.set(id, status.lastLogIndex);
    const incumbent = this.#leaderOfTerm.get(term);
    if (incumbent !== undefined && incumbent !== id) {
      throw new InvariantViolation(Property.ElectionSafety, `nodes ${incumbent} and ${id} were both leader of term ${term}`);
    }
    this.#leaderOfTerm.set(term, id);
    this.#leadingTerm.set(id, term);
    this.#committed.forEach((committed, position) => {
      if (committed.commitTerm < term) this.#checkLeaderHas(id, term, position + 1, committed);
    });
  }

  /** State Machine Safety: a node applies the committed command at each index, in order. */
  onApply(id: NodeId, entry: Entry, reporterTerm: Term): void {
    const applied = this.#appliedIndex.get(id) ?? 0;
    if (entry.index !== applied + 1) {
      throw new InvariantViolation(Property.StateMachineSafety, `node ${id} applied index ${entry.index} right after index ${applied}`);
    }
    const logged = this.#disk(id).entry(entry.index);
    if (logged === undefined || logged.term !== entry.term || entryKey(logged) !== entryKey(entry)) {
      throw new InvariantViolation(
        Property.StateMachineSafety,
        `node ${id} applied (index ${entry.index}, term ${entry.term}) which is not the entry in its own log there`,
      );
    }
    this.#appliedIndex.set(id, entry.index);
    this.#recordCommitted(id, entry, reporterTerm);
  }

  /**
   * A snapshot at (index, term) whose state hash is `stateHash` was taken (`how`:
   * "compacted") or written to a node's disk ("installed"). It must stand for exactly
   * the committed prefix up to `index`.
   */
  #checkSnapshot(id: NodeId, index: number, term: Term, stateHash: number, how: string): void {
    const committed = this.#committed[index - 1];
    if (committed === undefined) {
      throw new InvariantViolation(
        Property.StateMachineSafety,
        `node ${id} ${how} a snapshot at index ${index}, beyond the committed prefix (${this.#committed.length})`,
      );
    }
    if (committed.term !== term || committed.stateHash !== stateHash) {
      throw new InvariantViolation(
        Property.StateMachineSafety,
        `node ${id} ${how} a snapshot at index ${index} term ${term} (state ${stateHash.toString(16)}) but the committed prefix there ends in term ${committed.term} with state ${committed.stateHash.toString(16)}`,
      );
    }
  }

  /** The host of `id` compacted its log into a snapshot of its state machine (applied up to `index`). */
  onCompact(id: NodeId, index: number, term: Term, stateHash: number): void {
    if (index !== this.#appliedIndex.get(id)) {
      throw new InvariantViolation(Property.StateMachineSafety, `node ${id} compacted at ${index} but applied up to ${this.#appliedIndex.get(id) ?? 0}`);
    }
    this.#checkSnapshot(id, index, term, stateHash, 'compacted');
  }

  /**
   * A snapshot from the leader was written to the disk of `id` (before the Ready's
   * entries and hard state): it stands for the entries up to its index, which are
   * therefore checked as committed on this node.
   */
  onSnapshotWritten(id: NodeId, index: number, term: Term, stateHash: number): void {
    this.#checkSnapshot(id, index, term, stateHash, 'installed');
    this.#checkedCommit.set(id, Math.max(this.#checkedCommit.get(id) ?? 0, index));
  }

  /** The state machine of `id` was reset from the snapshot at `index`. */
  onSnapshotApplied(id: NodeId, index: number): void {
    const applied = this.#appliedIndex.get(id) ?? 0;
    if (index <= applied) {
      throw new InvariantViolation(Property.StateMachineSafety, `node ${id} restored a snapshot at ${index}, not past its applied index ${applied}`);
    }
    this.#appliedIndex.set(id, index);
  }

  onCrash(id: NodeId): void {
    this.#leadingTerm.set(id, null);
  }

  /** A restarted node: its applied state is gone, and its durable commit index must still hold. */
  onRestart(id: NodeId): void {
    const disk = this.#disk(id);
    // The state machine restarts from the snapshot, which was checked when it was written.
    this.#appliedIndex.set(id, disk.snapshotIndex);
    this.#checkedCommit.set(id, disk.snapshotIndex);
    this.#checkCommitIndex(id, disk.hardState.commitIndex, disk.hardState.currentTerm);
  }

  /** At convergence: nothing committed was lost, and every log agrees up to the commit index. */
  /** After convergence: the nodes in `members` (the configuration's voters and learners) hold exactly the committed log. */
  checkConverged(commitIndex: number, members: readonly NodeId[]): void {
    if (commitIndex < this.#committed.length) {
      throw new InvariantViolation(
        Property.StateMachineSafety,
        `the cluster converged at commit index ${commitIndex} but index ${this.#committed.length} had been committed: committed entries were lost`,
      );
    }
    for (const [id, disk] of this.#disks) {
      if (!members.includes(id)) continue;
      const snapshot = disk.snapshot;
      if (snapshot !== null) {
        const committed = this.#committed[snapshot.index - 1];
        if (committed === undefined || committed.term !== snapshot.term) {
          throw new InvariantViolation(Property.StateMachineSafety, `after convergence node ${id} holds a snapshot at ${snapshot.index}@t${snapshot.term} that is not committed`);
        }
      }
      for (let index = disk.snapshotIndex + 1; index <= commitIndex; index++) {
        const entry = disk.entry(index);
        const committed = this.#committed[index - 1];
        if (entry === undefined || committed === undefined || entry.term !== committed.term || entryKey(entry) !== committed.data) {
          throw new InvariantViolation(
            Property.StateMachineSafety,
            `after convergence node ${id} holds ${entry === undefined ? 'nothing' : describeEntry({ term: entry.term, data: entryKey(entry) })} at index ${index}, committed as ${describeEntry(committed)}`,
          );
        }
      }
    }
  }
}
