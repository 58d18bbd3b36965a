// Small pure helpers about configurations (thesis §4), shared by the supervisor, the node
// host and the dashboard's fake cluster: what a change does, whether a configuration
// already holds it, and how both read in an event line.

import { MembershipChangeType } from '../raft/types.js';
import type { Membership, MembershipChange, NodeId } from '../raft/types.js';
import { assertNever } from '../raft/assert.js';

/** The configuration nobody has reported yet. */
export const UNKNOWN_MEMBERSHIP: Membership = Object.freeze({ voters: Object.freeze([]), learners: Object.freeze([]) });

/** True when `membership` already has the effect of `change`: an earlier attempt of it went through. */
export function membershipHolds(membership: Membership, change: MembershipChange): boolean {
  switch (change.type) {
    case MembershipChangeType.AddVoter:
      return membership.voters.includes(change.node);
    case MembershipChangeType.AddLearner:
      return membership.learners.includes(change.node);
    case MembershipChangeType.Remove:
      return !membership.voters.includes(change.node) && !membership.learners.includes(change.node);
    default:
      return assertNever(change.type);
  }
}

/** "voters n1,n2,n3; learners n4" (or "learners none"). */
export function describeMembership(membership: Membership): string {
  const list = (ids: readonly NodeId[]): string => (ids.length === 0 ? 'none' : ids.map((id) => `n${id}`).join(','));
  return `voters ${list(membership.voters)}; learners ${list(membership.learners)}`;
}

/** "add n4 as a learner", "promote n4 to voter"-like wording, without knowing the old configuration. */
export function describeChange(change: MembershipChange): string {
  switch (change.type) {
    case MembershipChangeType.AddVoter:
      return `make n${change.node} a voter`;
    case MembershipChangeType.AddLearner:
      return `make n${change.node} a learner`;
    case MembershipChangeType.Remove:
      return `remove n${change.node}`;
    default:
      return assertNever(change.type);
  }
}

/** The role `id` has in `membership`. */
export function memberKind(membership: Membership, id: NodeId): 'voter' | 'learner' | 'none' {
  if (membership.voters.includes(id)) return 'voter';
  if (membership.learners.includes(id)) return 'learner';
  return 'none';
}
