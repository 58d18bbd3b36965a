// Hand-made inputs for the simulator's checker tests.

import type { Entry, NodeId, Status } from '../../lib/raft/types.js';

const encoder = new TextEncoder();

export function entry(index: number, term: number, payload: string | null): Entry {
  return { index, term, data: payload === null ? null : encoder.encode(payload) };
}

/** A node's status with nothing in its log, in `role` at `currentTerm` (a leader leads itself). */
export function status(id: NodeId, role: Status['role'], currentTerm: number): Status {
  return {
    id,
    role,
    currentTerm,
    votedFor: 0,
    leaderId: role === 'leader' ? id : 0,
    commitIndex: 0,
    lastLogIndex: 0,
    lastLogTerm: 0,
    snapshotIndex: 0,
    electionElapsedTicks: 0,
    electionTimeoutTicks: 10,
    progress: [],
    leadTransferee: 0,
    membership: { voters: [1, 2, 3], learners: [] },
    membershipIndex: 0,
  };
}
