// Small pure helpers about configurations (thesis §4), shared by the supervisor, the node
// host and the dashboard's fake cluster: what a change does, whether a configuration
// already holds it, and how both read in an event line.

import { MembershipChangeType } from '../raft/types.js';
import type { Membership, MembershipChange, NodeId } from '../raft/types.js';
import { assertNever } from '../raft/assert.js';
import { isJoint, sameMembership } from '../raft/membership.js';

/**
 * A change of the voters (and learners) to a whole new set at once, by joint consensus
 * (thesis §4.3; RawNode.proposeJointMembership). Done once C_new has committed.
 */
export interface JointChange {
  readonly type: 'joint';
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** What the supervisor asks a leader for: one single-server change, or a joint one. */
export type ClusterMembershipChange = MembershipChange | JointChange;

/** The configuration nobody has reported yet. */
export const UNKNOWN_MEMBERSHIP: Membership = Object.freeze({ voters: Object.freeze([]), learners: Object.freeze([]) });

/** True when `membership` already has the effect of `change`: an earlier attempt of it went through. */
export function membershipHolds(membership: Membership, change: ClusterMembershipChange): boolean {
  switch (change.type) {
    case 'joint':
      // The target has no outgoing voters: a joint configuration never equals it.
      return sameMembership(membership, change);
    case MembershipChangeType.AddVoter:
      return membership.voters.includes(change.node);
    case MembershipChangeType.AddLearner:
      return membership.learners.includes(change.node);
    case MembershipChangeType.Remove:
      return !membership.voters.includes(change.node) && !membership.learners.includes(change.node);
    default:
      return assertNever(change);
  }
}

const list = (ids: readonly NodeId[]): string => (ids.length === 0 ? 'none' : ids.map((id) => `n${id}`).join(','));

/** "voters n1,n2,n3; learners n4" (or "learners none"; while joint, "; outgoing voters n1,n2,n3" after). */
export function describeMembership(membership: Membership): string {
  const outgoing = isJoint(membership) ? `; outgoing voters ${list(membership.outgoing!)} (joint)` : '';
  return `voters ${list(membership.voters)}; learners ${list(membership.learners)}${outgoing}`;
}

/** "add n4 as a learner", "promote n4 to voter"-like wording, without knowing the old configuration. */
export function describeChange(change: ClusterMembershipChange): string {
  switch (change.type) {
    case 'joint':
      return `make the voters ${list(change.voters)} (learners ${list(change.learners)}) by joint consensus`;
    case MembershipChangeType.AddVoter:
      return `make n${change.node} a voter`;
    case MembershipChangeType.AddLearner:
      return `make n${change.node} a learner`;
    case MembershipChangeType.Remove:
      return `remove n${change.node}`;
    default:
      return assertNever(change);
  }
}

/** The role `id` has in `membership` (an outgoing voter of a joint configuration is a voter until it ends). */
export function memberKind(membership: Membership, id: NodeId): 'voter' | 'learner' | 'none' {
  if (membership.voters.includes(id) || (membership.outgoing ?? []).includes(id)) return 'voter';
  if (membership.learners.includes(id)) return 'learner';
  return 'none';
}
