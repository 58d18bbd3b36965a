// Client-facing errors. `instanceof` does not survive a worker boundary, so every error
// carries a stable `code` string and whether its outcome is unknown (`indeterminate`).

import { KvErrorCode } from '../kv/command.js';

export const ErrorCode = {
  /** The state machine's own answers (invalid key or value, not a list, expired session, ...). */
  ...KvErrorCode,
  /** The deadline passed while the request might have been applied. */
  Timeout: 'TIMEOUT',
  /** No leader could be reached before the deadline and nothing was applied. */
  NoLeader: 'NO_LEADER',
  ClientClosed: 'CLIENT_CLOSED',
  ClusterStopped: 'CLUSTER_STOPPED',
  InvalidConfig: 'INVALID_CONFIG',
  UnknownNode: 'UNKNOWN_NODE',
  NodeNotRunning: 'NODE_NOT_RUNNING',
  NodeAlreadyRunning: 'NODE_ALREADY_RUNNING',
  NodeFailed: 'NODE_FAILED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class RaftlabError extends Error {
  readonly code: string;
  /** True when the operation may or may not have taken effect. */
  readonly indeterminate: boolean;

  constructor(code: string, message: string, indeterminate = false) {
    super(message);
    this.name = 'RaftlabError';
    this.code = code;
    this.indeterminate = indeterminate;
  }
}
