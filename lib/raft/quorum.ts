// Quorum arithmetic (etcd raft's quorum/ package): which index a majority stores, and
// whether an election is won, lost or still open. Pure functions over plain data.

import type { LogIndex, NodeId } from './types.js';

export function majoritySize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest index N such that a majority of `matchIndexes` are >= N (§5.3/§5.4.2:
 * the leader may commit N once it "is stored on a majority of servers"). The caller
 * passes one entry per voter, including the leader's own persisted last index.
 */
export function majorityMatchIndex(matchIndexes: readonly LogIndex[]): LogIndex {
  if (matchIndexes.length === 0) return 0;
  const sortedDescending = [...matchIndexes].sort((a, b) => b - a);
  // The k-th largest value (k = majority) is stored by at least k voters.
  return sortedDescending[majoritySize(matchIndexes.length) - 1] ?? 0;
}

export const VoteResult = {
  Won: 'won',
  Lost: 'lost',
  Pending: 'pending',
} as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];

/** Tally of an election: `votes` maps voter -> granted; voters missing from it have not answered. */
export function tallyVotes(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const voter of voters) {
    const vote = votes.get(voter);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const needed = majoritySize(voters.length);
  if (granted >= needed) return VoteResult.Won;
  // Lost once the remaining voters could not bring a majority even if all granted.
  if (voters.length - rejected < needed) return VoteResult.Lost;
  return VoteResult.Pending;
}
