// Client-facing errors. `instanceof` does not survive a worker boundary, so every error
// carries a stable `code` string and whether its outcome is unknown (`indeterminate`).

import { KvErrorCode } from '../kv/command.js';
import { StorageErrorCode } from '../storage/errors.js';

export const ErrorCode = {
  /** The state machine's own answers (invalid key or value, not a list, expired session, ...). */
  ...KvErrorCode,
  /** The deadline passed while the request might have been applied. */
  Timeout: 'TIMEOUT',
  /** No leader could be reached before the deadline and nothing was applied. */
  NoLeader: 'NO_LEADER',
  ClientClosed: 'CLIENT_CLOSED',
  ClusterStopped: 'CLUSTER_STOPPED',
  /** Cluster.start's `signal` aborted: nothing runs, the data directory is free again. */
  StartAborted: 'START_ABORTED',
  InvalidConfig: 'INVALID_CONFIG',
  UnknownNode: 'UNKNOWN_NODE',
  NodeNotRunning: 'NODE_NOT_RUNNING',
  NodeAlreadyRunning: 'NODE_ALREADY_RUNNING',
  NodeFailed: 'NODE_FAILED',
  /** cluster.json could not be written (a full or read-only disk): see the message for what did and did not happen. */
  ManifestIo: 'MANIFEST_IO',
  /** Another process (or another Cluster in this one) runs a cluster on the data directory: its raftlab.lock. */
  DataDirLocked: 'DATA_DIR_LOCKED',
  /** A node that wrote its files before has none: it is not started empty (cluster.json's `initialized`). */
  NodeFilesMissing: 'NODE_FILES_MISSING',
  /** The membership change makes no sense against the current configuration (the core refused it). */
  InvalidMembershipChange: 'INVALID_MEMBERSHIP_CHANGE',
  /** Another membership change (or the new leader's first commit, or an earlier call in the queue) was still pending when the deadline passed; definite. */
  MembershipChangeInProgress: 'MEMBERSHIP_CHANGE_IN_PROGRESS',
  /**
   * A change of the voters refused before it was proposed (definite): fewer than a
   * majority of its new voters run and reach the leader, so it could not commit and the
   * cluster would take no write (etcd's strict reconfiguration check). `{ force: true }` proposes it anyway.
   */
  MembershipChangeUnsafe: 'MEMBERSHIP_CHANGE_UNSAFE',
  /** A new node did not catch up with the leader's log before the deadline; it stays a learner. */
  CatchUpTimeout: 'CATCH_UP_TIMEOUT',
  /** addNode would exceed the number of nodes a cluster may run. */
  ClusterFull: 'CLUSTER_FULL',
  /**
   * A node's own files: a WAL that fails its checks (WAL_CORRUPT), a snapshot that does
   * (SNAPSHOT_CORRUPT), a read or write the operating system refused (WAL_IO), a WAL
   * whose segments name another cluster or node (WAL_FOREIGN: copied in), at a start
   * (cluster.startFailures), a restart(id), or in a crash event; WAL_STATE and
   * WAL_INVARIANT are bugs of the storage's caller.
   */
  WalCorrupt: StorageErrorCode.Corrupt,
  SnapshotCorrupt: StorageErrorCode.SnapshotCorrupt,
  WalIo: StorageErrorCode.Io,
  WalForeign: StorageErrorCode.Foreign,
  WalState: StorageErrorCode.State,
  WalInvariant: StorageErrorCode.Invariant,
  /** A node refused a client's request frame as malformed: not expected from this client. */
  MalformedRequest: 'MALFORMED_REQUEST',
} as const;
/** Every code a RaftlabError carries: `switch (error.code)` over these is exhaustive. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** `code` if it is one of ErrorCode's (a code that crossed a worker boundary as a string), else null. */
export function asErrorCode(code: unknown): ErrorCode | null {
  return typeof code === 'string' && ERROR_CODES.has(code) ? (code as ErrorCode) : null;
}

export class RaftlabError extends Error {
  readonly code: ErrorCode;
  /** True when the operation may or may not have taken effect. */
  readonly indeterminate: boolean;

  constructor(code: ErrorCode, message: string, indeterminate = false) {
    super(message);
    this.name = 'RaftlabError';
    this.code = code;
    this.indeterminate = indeterminate;
  }
}

/**
 * A value an error message says it was given: as JSON, except what JSON cannot say
 * (NaN and the infinities read `null` in JSON, undefined and functions nothing), which
 * reads as JavaScript writes it. `got null` for a NaN sent its caller looking for a null.
 */
export function describeGiven(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  // Element by element, so a NaN in a list of ids reads NaN too.
  if (Array.isArray(value)) return `[${value.map(describeGiven).join(',')}]`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
