// Fixed cluster states for the dashboard's headless tests.

import type { ClusterStatus, EntrySummary, NodeStatus } from '../lib/cluster/types.js';
import { termRunsOf } from '../tui/fake-cluster.js';

/** A node's status; its logTerms, unless given, are those of its recentEntries. */
export function nodeStatus(id: number, overrides: Partial<NodeStatus> = {}): NodeStatus {
  const status: Omit<NodeStatus, 'logTerms'> = {
    id,
    alive: true,
    role: 'follower',
    term: 3,
    votedFor: 1,
    leaderId: 1,
    commitIndex: 10,
    appliedIndex: 10,
    lastLogIndex: 12,
    lastLogTerm: 3,
    snapshotIndex: 0,
    electionElapsedTicks: 2,
    electionTimeoutTicks: 10,
    lastLeaderContactMs: 15,
    walBytes: 4096,
    walFiles: ['wal-0000000001.log'],
    fsyncLatencyMs: 1.5,
    slowFsyncs: [0, 0, 0],
    membership: { voters: [1, 2, 3, 4, 5], learners: [] },
    membershipIndex: 0,
    learner: false,
    progress: [],
    recentEntries: entries(1, 12, 10, (index) => (index <= 5 ? 2 : 3)),
    malformedMessages: 0,
    fsyncCount: 0,
    entriesPersisted: 0,
    appendEntriesSent: 0,
    entriesSent: 0,
    entriesReadBack: 0,
    walSparesUsed: 0,
    // A node that has reported (0 is a node just started, not reported yet).
    reportedAt: 1,
    ...overrides,
  };
  return { ...status, logTerms: overrides.logTerms ?? termRunsOf(status.recentEntries) };
}

export function entries(first: number, last: number, committedUpTo: number, termOf: (index: number) => number): EntrySummary[] {
  const result: EntrySummary[] = [];
  for (let index = first; index <= last; index++) result.push({ index, term: termOf(index), committed: index <= committedUpTo, text: `put k${index}=${index}` });
  return result;
}

/** Five nodes: n1 leads term 3, n4 is DOWN and behind, n5 lags by 4 entries. */
export function healthyStatus(): ClusterStatus {
  return {
    nodes: [
      nodeStatus(1, {
        role: 'leader',
        lastLeaderContactMs: null,
        progress: [
          { id: 2, matchIndex: 12, nextIndex: 13, state: 'replicate', inflight: 0, learner: false },
          { id: 3, matchIndex: 12, nextIndex: 13, state: 'replicate', inflight: 1, learner: false },
          { id: 4, matchIndex: 7, nextIndex: 8, state: 'probe', inflight: 0, learner: false },
          { id: 5, matchIndex: 8, nextIndex: 13, state: 'replicate', inflight: 4, learner: false },
        ],
      }),
      nodeStatus(2),
      nodeStatus(3),
      nodeStatus(4, { alive: false, term: 2, lastLogIndex: 7, lastLogTerm: 2, commitIndex: 5, appliedIndex: 5, recentEntries: entries(1, 7, 5, () => 2) }),
      nodeStatus(5, { lastLogIndex: 8, commitIndex: 8, appliedIndex: 8, recentEntries: entries(1, 8, 8, (index) => (index <= 5 ? 2 : 3)) }),
    ],
    leaderId: 1,
    membership: { voters: [1, 2, 3, 4, 5], learners: [] },
    term: 3,
    fsync: true,
    tickMs: 20,
    partition: null,
    cutLinks: [],
    opsPerSecond: 123,
    latencyMsP50: 2.5,
    latencyMsP99: 9.25,
  };
}

/** n1, n2 cut off from n3, n4, n5 with n3..n5 all down: no leader, no quorum. Divergent tails. */
export function leaderlessStatus(): ClusterStatus {
  const base = healthyStatus();
  return {
    ...base,
    leaderId: 0,
    term: 4,
    partition: [
      [1, 2],
      [3, 4, 5],
    ],
    nodes: base.nodes.map((node) =>
      node.id <= 2
        ? nodeStatus(node.id, { role: node.id === 1 ? 'candidate' : 'follower', term: 4, leaderId: 0, progress: [], recentEntries: entries(1, 12, 10, (index) => (index <= 10 ? 3 : 4)) })
        : { ...node, alive: false },
    ),
  };
}

/** The healthy five plus n6, a learner the leader replicates to (thesis §4.2.1), and n7, running outside the configuration. */
export function learnerStatus(): ClusterStatus {
  const base = healthyStatus();
  const membership = { voters: [1, 2, 3, 4, 5], learners: [6] };
  const withMembership = base.nodes.map((node) => ({ ...node, membership }));
  const leader = withMembership[0]!;
  return {
    ...base,
    membership,
    nodes: [
      { ...leader, progress: [...leader.progress, { id: 6, matchIndex: 12, nextIndex: 13, state: 'replicate', inflight: 0, learner: true }] },
      ...withMembership.slice(1),
      nodeStatus(6, { membership, learner: true }),
      nodeStatus(7, { membership: { voters: [1, 2, 3], learners: [] }, leaderId: 0, lastLogIndex: 0, lastLogTerm: 0, commitIndex: 0, appliedIndex: 0, recentEntries: [] }),
    ],
  };
}
