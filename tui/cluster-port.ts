// The slice of the cluster API the dashboard uses, and nothing more. The dashboard is
// written against this interface so that it can be tested headlessly against a fake
// (tui/fake-cluster.ts) and run against the real supervisor (lib/cluster/cluster.ts).

import type { ClusterEvent, ClusterStatus, JsonValue } from '../lib/cluster/types.js';
import type { NodeId } from '../lib/raft/types.js';

/** Fault injection applied to every link: what `:drop`, `:delay` and `:dup` set. */
export interface LinkFaults {
  /** Probability in [0, 1] that a message is dropped. */
  readonly dropRate: number;
  /** Extra delivery delay per message, in ms. */
  readonly delayMs: number;
  /** Probability in [0, 1] that a message is delivered twice. */
  readonly duplicateRate: number;
}

/** The key-value client. Every rejection carries `code` and `indeterminate` (DESIGN.md). */
export interface DashboardKv {
  get(key: string): Promise<JsonValue>;
  put(key: string, value: JsonValue): Promise<void>;
  delete(key: string): Promise<void>;
  append(key: string, value: JsonValue): Promise<void>;
  cas(key: string, expected: JsonValue, next: JsonValue): Promise<boolean>;
}

export type ClusterEventListener = (event: ClusterEvent) => void;

/**
 * A change of the voters whose new voters could not make a quorum (too few run and reach
 * the leader) is refused, MEMBERSHIP_CHANGE_UNSAFE, unless `force` (`:remove ID --force`):
 * then it is proposed, and the cluster takes no write until enough of them are back.
 */
export interface ForceOption {
  readonly force?: boolean;
}

export interface DashboardCluster {
  /** What happened while the cluster started (recoveries, a node that stayed down, warnings): shown first in the event feed. */
  readonly startEvents?: readonly ClusterEvent[];
  status(): ClusterStatus;
  on(name: 'event', listener: ClusterEventListener): unknown;
  off(name: 'event', listener: ClusterEventListener): unknown;
  crash(id: NodeId): Promise<unknown>;
  /** Resolves once the node is back (the real cluster resolves with recovery figures). */
  restart(id: NodeId): Promise<unknown>;
  /** Nodes in different groups cannot talk to each other. */
  partition(groups: readonly (readonly NodeId[])[]): void;
  /** Removes partitions and cut links. */
  heal(): void;
  /** Cuts the one-way link from → to. */
  cutLink(from: NodeId, to: NodeId): void;
  setLinkFaults(faults: LinkFaults | null): void;
  /** Makes the node's election timer fire now. */
  campaign(id: NodeId): void;
  transferLeadership(to: NodeId): void;
  /** Stretches the Raft tick so a person can watch an election (slow motion). */
  setTickMs(tickMs: number): void;
  /**
   * Starts a new node and adds it to the configuration (thesis §4): as a learner first,
   * then, once caught up and unless `learner`, as a voter. Resolves with its id.
   */
  addNode(options?: { readonly learner?: boolean } & ForceOption): Promise<NodeId>;
  /** Makes a learner a voter. */
  promote(id: NodeId, options?: ForceOption): Promise<void>;
  /** Takes a node out of the configuration, then stops and forgets it. */
  removeNode(id: NodeId, options?: ForceOption): Promise<void>;
  /**
   * Makes exactly `voters` the voters in one joint change (thesis §4.3): those not voters
   * yet must be learners (caught up first). With `learners`, exactly those are the learners
   * after (voters among them are demoted); members in neither list are stopped once it commits.
   */
  setVoters(voters: readonly NodeId[], options?: { readonly learners?: readonly NodeId[] } & ForceOption): Promise<unknown>;
  client(options: { readonly timeoutMs: number }): DashboardKv;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly nodes: number;
  readonly dataDir: string;
  readonly fsync: boolean;
}

/** How runTuiCli obtains a cluster: the real Cluster.start, or a fake in tests. */
export type ClusterStarter = (options: StartOptions) => Promise<DashboardCluster>;

/** The shape of a client error, read defensively: it may have crossed a worker boundary. */
export function describeClientError(error: unknown): { readonly code: string; readonly indeterminate: boolean; readonly message: string } {
  if (typeof error === 'object' && error !== null) {
    const record = error as { code?: unknown; indeterminate?: unknown; message?: unknown };
    return {
      code: typeof record.code === 'string' ? record.code : 'UNKNOWN',
      indeterminate: record.indeterminate === true,
      message: typeof record.message === 'string' ? record.message : String(error),
    };
  }
  return { code: 'UNKNOWN', indeterminate: false, message: String(error) };
}
