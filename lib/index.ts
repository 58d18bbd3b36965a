// The public API: `import { Cluster } from 'raftlab'`.
export { Cluster } from './cluster/cluster.js';
export type { AddNodeOptions, ClusterOptions, LinkFaultOptions, MembershipOptions, SetVotersOptions } from './cluster/cluster.js';
export { ClientHub, KvClient } from './cluster/client.js';
export { RaftlabError, ErrorCode } from './cluster/errors.js';
export { EventKind, SLOW_FSYNC_THRESHOLDS_MS } from './cluster/types.js';
export { CLUSTER_START_FLAGS, tuneV8ForCluster } from './cluster/v8-tuning.js';
export type { ClusterEvent, ClusterStatus, NodeStatus, JsonValue, EntrySummary, TermRun, FollowerProgress, Membership } from './cluster/types.js';
export type { LogLevel, RecoveryFigures, TestOnlyClusterBugs } from './cluster/protocol.js';
