// Cluster membership (thesis §4): which configuration a node uses, and how one changes.
//
// A configuration entry carries the whole new configuration. Every node uses the newest
// one in its log from the moment it is appended, committed or not (thesis §4.1), so a
// node that truncates an uncommitted configuration entry falls back to the one before.
// MembershipHistory keeps the configuration entries the log holds, over a base: the
// snapshot's configuration, or the bootstrap one (Config.peers) before any snapshot.
//
// Single-server changes (thesis §4.1) add or remove at most one voter, so a majority of
// the old voters and a majority of the new ones always overlap, and no two leaders can be
// elected in one term by disjoint majorities. Any other change of the voters goes through
// joint consensus (thesis §4.3): first C_old,new (`outgoing` holds the old voters), in
// which every decision needs a majority of each, then C_new once C_old,new is committed.

import { assert } from './assert.js';
import { MembershipChangeType } from './types.js';
import type { LogIndex, Membership, MembershipChange, NodeId } from './types.js';

export function membershipOfVoters(voters: readonly NodeId[]): Membership {
  return { voters: [...voters].sort((a, b) => a - b), learners: [] };
}

export function sameMembership(a: Membership, b: Membership): boolean {
  return sameIds(a.voters, b.voters) && sameIds(a.learners, b.learners) && sameIds(outgoingOf(a), outgoingOf(b));
}

const NO_IDS: readonly NodeId[] = [];

/** The old voters of a joint configuration (empty when it is not joint). */
export function outgoingOf(membership: Membership): readonly NodeId[] {
  return membership.outgoing ?? NO_IDS;
}

export function isJoint(membership: Membership): boolean {
  return outgoingOf(membership).length > 0;
}

/** Every node with a vote: the voters, and while joint the outgoing voters too, ascending. */
export function votingMembers(membership: Membership): NodeId[] {
  const outgoing = outgoingOf(membership);
  if (outgoing.length === 0) return [...membership.voters];
  return [...new Set([...membership.voters, ...outgoing])].sort((a, b) => a - b);
}

/** C_new of a joint configuration: the same without the outgoing voters. */
export function leaveJoint(membership: Membership): Membership {
  return { voters: membership.voters, learners: membership.learners };
}

/**
 * The joint configuration C_old,new that leads from `current` to `target` (thesis §4.3),
 * or a reason it makes no sense. When the voters do not change, `target` itself (only
 * learners come or go: no joint step is needed). A voter the target makes a learner is
 * both an outgoing voter and a learner while joint (it keeps its vote in the old majority
 * and is replicated to as a learner after; etcd's "learners next"). The new configuration
 * must keep a voter.
 */
export function jointMembership(current: Membership, target: Membership): Membership | string {
  if (isJoint(current)) return 'a joint configuration is still in force';
  if (isJoint(target)) return 'the target configuration is itself joint';
  const problem = membershipProblem(target);
  if (problem !== null) return problem;
  if (target.voters.length === 0) return 'the target configuration has no voter';
  if (sameMembership(current, target)) return 'the target configuration is the current one';
  if (sameIds(current.voters, target.voters)) return { voters: target.voters.slice(), learners: target.learners.slice() };
  return { voters: target.voters.slice(), learners: target.learners.slice(), outgoing: current.voters.slice() };
}

function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

export function describeMembership(membership: Membership): string {
  const learners = membership.learners.length === 0 ? '' : ` learners ${membership.learners.join(',')}`;
  const outgoing = isJoint(membership) ? ` (joint with outgoing voters ${outgoingOf(membership).join(',')})` : '';
  return `voters ${membership.voters.join(',')}${learners}${outgoing}`;
}

/**
 * Why a membership is not well formed (null: it is): sorted, distinct positive ids, no
 * voter also a learner. While joint an outgoing voter may be a learner too: a voter being
 * demoted, which votes in the old majority until C_new.
 */
export function membershipProblem(membership: Membership): string | null {
  for (const [name, ids] of [['voters', membership.voters], ['learners', membership.learners], ['outgoing voters', outgoingOf(membership)]] as const) {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isSafeInteger(id) || id <= 0) return `${name} holds ${id}, not a node id`;
      if (i > 0 && ids[i - 1]! >= id) return `${name} are not sorted and distinct: ${ids.join(',')}`;
    }
  }
  const both = membership.voters.filter((id) => membership.learners.includes(id));
  if (both.length > 0) return `${both.join(',')} both voter and learner`;
  return null;
}

/**
 * The configuration after `change`, or a reason the change makes no sense against
 * `current`. Every change keeps at least one voter and changes the voters by at most one.
 */
export function changeMembership(current: Membership, change: MembershipChange): Membership | string {
  const node = change.node;
  if (!Number.isSafeInteger(node) || node <= 0) return `${node} is not a node id`;
  if (isJoint(current)) return 'a joint configuration is still in force';
  const isVoter = current.voters.includes(node);
  const isLearner = current.learners.includes(node);
  const without = (ids: readonly NodeId[]): NodeId[] => ids.filter((id) => id !== node);
  const with_ = (ids: readonly NodeId[]): NodeId[] => [...ids, node].sort((a, b) => a - b);
  switch (change.type) {
    case MembershipChangeType.AddVoter:
      if (isVoter) return `node ${node} is already a voter`;
      return { voters: with_(current.voters), learners: without(current.learners) };
    case MembershipChangeType.AddLearner:
      if (isLearner) return `node ${node} is already a learner`;
      if (isVoter && current.voters.length === 1) return `node ${node} is the only voter`;
      return { voters: without(current.voters), learners: with_(current.learners) };
    case MembershipChangeType.Remove:
      if (!isVoter && !isLearner) return `node ${node} is not a member`;
      if (isVoter && current.voters.length === 1) return `node ${node} is the only voter`;
      return { voters: without(current.voters), learners: without(current.learners) };
    default:
      return `unknown membership change type ${String((change as { type: unknown }).type)}`;
  }
}

/** The configurations a log holds, newest last, over the base configuration that precedes them. */
export class MembershipHistory {
  /** The configuration in force at and before #baseIndex (a snapshot's, or the bootstrap one at 0). */
  #base: Membership;
  #baseIndex: LogIndex;
  /** Configuration entries after #baseIndex, ascending by index. */
  #entries: { readonly index: LogIndex; readonly membership: Membership }[] = [];
  /** Counts changes of latest(): lets a node notice a new configuration cheaply. */
  version = 0;

  constructor(base: Membership, baseIndex: LogIndex) {
    this.#base = base;
    this.#baseIndex = baseIndex;
  }

  latest(): Membership {
    return this.#entries[this.#entries.length - 1]?.membership ?? this.#base;
  }

  /** The index of the newest configuration entry (the base's index when the log holds none). */
  latestIndex(): LogIndex {
    return this.#entries[this.#entries.length - 1]?.index ?? this.#baseIndex;
  }

  /** The configuration before latest(), or null when latest() is the base (nothing before it is held). */
  previous(): Membership | null {
    const count = this.#entries.length;
    if (count === 0) return null;
    return count === 1 ? this.#base : this.#entries[count - 2]!.membership;
  }

  /** The configuration in force at `index` (the newest entry at or before it). */
  at(index: LogIndex): Membership {
    assert(index >= this.#baseIndex, () => `the configuration at ${index} is before the history's base at ${this.#baseIndex}`);
    for (let i = this.#entries.length - 1; i >= 0; i--) if (this.#entries[i]!.index <= index) return this.#entries[i]!.membership;
    return this.#base;
  }

  /** A configuration entry was appended at `index` (after every one held). */
  appended(index: LogIndex, membership: Membership): void {
    assert(index > this.latestIndex(), () => `configuration entry at ${index} is not after the newest one at ${this.latestIndex()}`);
    this.#entries.push({ index, membership });
    this.version++;
  }

  /** The log dropped `index` and everything after it: so do their configurations. */
  truncateFrom(index: LogIndex): void {
    const kept = this.#entries.findIndex((entry) => entry.index >= index);
    if (kept < 0) return;
    this.#entries.length = kept;
    this.version++;
  }

  /** The log was compacted up to `index`: the configuration there becomes the base. */
  compactTo(index: LogIndex): Membership {
    const membership = this.at(index);
    this.#entries = this.#entries.filter((entry) => entry.index > index);
    this.#base = membership;
    this.#baseIndex = index;
    return membership;
  }

  /** A snapshot replaced the whole log. */
  reset(base: Membership, baseIndex: LogIndex): void {
    this.#base = base;
    this.#baseIndex = baseIndex;
    this.#entries = [];
    this.version++;
  }
}
