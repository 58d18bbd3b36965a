// A small in-process stand-in for the real cluster: a toy Raft (elections with the
// up-to-date check, replication by copying the leader's log, commit by majority for
// current-term entries, membership changes with learners that neither vote nor count)
// behind the DashboardCluster interface. It exists so the
// dashboard can be developed, tested headlessly and measured without worker threads.
// It is not the protocol: lib/raft is.

import { EventEmitter } from 'node:events';
import { EventKind, SLOW_FSYNC_THRESHOLDS_MS } from '../lib/cluster/types.js';
import type { ClusterStatus, EntrySummary, FollowerProgress, JsonValue, NodeStatus, TermRun } from '../lib/cluster/types.js';
import { createPrng } from '../lib/raft/prng.js';
import type { Membership, NodeId, Role, Term } from '../lib/raft/types.js';
import type { ClusterEventListener, DashboardCluster, DashboardKv, LinkFaults } from './cluster-port.js';

export const FAKE_ELECTION_TICKS = 10;
/** The most nodes addNode grows the fake to, as the real supervisor's limit. */
export const FAKE_MAX_NODES = 9;
/** NodeStatus.logTerms of consecutive entries, as the real storage reports them. */
export function termRunsOf(entries: readonly { readonly index: number; readonly term: number }[]): TermRun[] {
  const runs: TermRun[] = [];
  for (const { index, term } of entries) if (runs.at(-1)?.term !== term) runs.push({ first: index, term });
  return runs;
}

/** Entries each node reports in recentEntries, like the real status does. */
export const FAKE_RECENT_ENTRIES = 64;
const OPS_WINDOW_MS = 1000;
const LATENCY_WINDOW_MS = 10_000;

interface FakeEntry {
  readonly term: Term;
  readonly text: string;
  readonly apply: ((state: Map<string, JsonValue>) => JsonValue) | null;
}

interface FakeNode {
  readonly id: NodeId;
  alive: boolean;
  role: Role;
  term: Term;
  votedFor: NodeId;
  leaderId: NodeId;
  log: FakeEntry[];
  commitIndex: number;
  elapsedTicks: number;
  timeoutTicks: number;
  lastContactTick: number | null;
  /** Ticks the leader has gone without reaching a majority (CheckQuorum). */
  isolatedTicks: number;
}

interface PendingWrite {
  readonly index: number;
  readonly term: Term;
  readonly startedTick: number;
  readonly resolve: (value: JsonValue) => void;
  readonly reject: (error: FakeClusterError) => void;
}

export interface FakeClusterOptions {
  readonly nodes: number;
  readonly seed: number;
  readonly tickMs: number;
  /** Drive ticks from a timer (true) or only through advance() (tests). */
  readonly autoTick: boolean;
  readonly fsync: boolean;
}

export class FakeClusterError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly indeterminate: boolean,
  ) {
    super(message);
  }
}

export class FakeCluster implements DashboardCluster {
  readonly #emitter = new EventEmitter();
  readonly #random: () => number;
  readonly #nodes: FakeNode[];
  /** The configuration (thesis §4): voters elect and count; learners only copy the log. */
  readonly #voters = new Set<NodeId>();
  readonly #learners = new Set<NodeId>();
  /** A removed node's id is never given to a new one. */
  #highestId: NodeId;
  readonly #state = new Map<string, JsonValue>();
  #appliedIndex = 0;
  #pending: PendingWrite[] = [];
  #tick = 0;
  #tickMs: number;
  #timer: NodeJS.Timeout | null = null;
  /** After stop(), client calls fail at once instead of waiting for ticks that never come. */
  #stopped = false;
  #partition: NodeId[][] | null = null;
  #cutLinks: [NodeId, NodeId][] = [];
  #faults: LinkFaults | null = null;
  readonly #commits: { readonly tick: number; readonly latencyMs: number }[] = [];
  /** Every operation the dashboard asked for, for tests: "crash 3", "partition 1,2|3,4,5". */
  readonly operations: string[] = [];

  constructor(readonly options: FakeClusterOptions) {
    this.#random = createPrng(options.seed);
    this.#tickMs = options.tickMs;
    this.#nodes = Array.from({ length: options.nodes }, (_, position) => this.#newNode(position + 1));
    for (const node of this.#nodes) this.#voters.add(node.id);
    this.#highestId = options.nodes;
    if (options.autoTick) this.#schedule();
  }

  #newNode(id: NodeId): FakeNode {
    return {
      id,
      alive: true,
      role: 'follower' as Role,
      term: 0,
      votedFor: 0,
      leaderId: 0,
      log: [],
      commitIndex: 0,
      elapsedTicks: 0,
      timeoutTicks: this.#drawTimeout(),
      lastContactTick: null,
      isolatedTicks: 0,
    };
  }

  // ------------------------------------------------------------ DashboardCluster

  on(_name: 'event', listener: ClusterEventListener): this {
    this.#emitter.on('event', listener);
    return this;
  }

  off(_name: 'event', listener: ClusterEventListener): this {
    this.#emitter.off('event', listener);
    return this;
  }

  status(): ClusterStatus {
    const leader = this.#leader();
    const nowMs = this.#tick * this.#tickMs;
    const recentCommits = this.#commits.filter((commit) => (this.#tick - commit.tick) * this.#tickMs <= OPS_WINDOW_MS);
    const latencies = this.#commits.filter((commit) => (this.#tick - commit.tick) * this.#tickMs <= LATENCY_WINDOW_MS).map((commit) => commit.latencyMs).sort((a, b) => a - b);
    const percentile = (fraction: number): number | null => (latencies.length === 0 ? null : (latencies[Math.min(latencies.length - 1, Math.floor(fraction * latencies.length))] ?? null));
    return {
      nodes: this.#nodes.map((node) => this.#nodeStatus(node, leader, nowMs)),
      leaderId: leader?.id ?? 0,
      membership: this.#membership(),
      // As the supervisor reports it: the highest term among running nodes, 0 with none up.
      term: Math.max(0, ...this.#nodes.filter((node) => node.alive).map((node) => node.term)),
      fsync: this.options.fsync,
      tickMs: this.#tickMs,
      partition: this.#partition,
      cutLinks: this.#cutLinks,
      opsPerSecond: (recentCommits.length * 1000) / OPS_WINDOW_MS,
      latencyMsP50: percentile(0.5),
      latencyMsP99: percentile(0.99),
    };
  }

  async crash(id: NodeId): Promise<void> {
    this.operations.push(`crash ${id}`);
    const node = this.#node(id);
    node.alive = false;
    // Uncommitted entries past the last sync may be lost; the fake keeps them all.
    this.#emit(EventKind.Crash, id, `node ${id} crashed`);
  }

  async restart(id: NodeId): Promise<void> {
    this.operations.push(`restart ${id}`);
    const node = this.#node(id);
    if (node.alive) return;
    Object.assign(node, { alive: true, role: 'follower', leaderId: 0, elapsedTicks: 0, timeoutTicks: this.#drawTimeout(), isolatedTicks: 0 });
    this.#emit(EventKind.Restart, id, `node ${id} restarted: term ${node.term}, ${node.log.length} entries recovered`);
  }

  partition(groups: readonly (readonly NodeId[])[]): void {
    this.operations.push(`partition ${groups.map((group) => group.join(',')).join('|')}`);
    this.#partition = groups.map((group) => [...group]);
    this.#emit(EventKind.Partition, 0, `partition ${groups.map((group) => group.join(',')).join(' | ')}`);
  }

  heal(): void {
    this.operations.push('heal');
    this.#partition = null;
    this.#cutLinks = [];
    this.#emit(EventKind.Heal, 0, 'network healed');
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.operations.push(`cut ${from} ${to}`);
    this.#cutLinks.push([from, to]);
    this.#emit(EventKind.LinkFault, 0, `link ${from} -> ${to} cut`);
  }

  setLinkFaults(faults: LinkFaults | null): void {
    this.operations.push(`faults ${faults === null ? 'none' : `${faults.dropRate}/${faults.delayMs}/${faults.duplicateRate}`}`);
    this.#faults = faults;
  }

  campaign(id: NodeId): void {
    this.operations.push(`campaign ${id}`);
    const node = this.#node(id);
    if (node.alive && node.role !== 'leader') node.elapsedTicks = node.timeoutTicks;
  }

  transferLeadership(to: NodeId): void {
    this.operations.push(`transfer ${to}`);
    const leader = this.#leader();
    const target = this.#node(to);
    if (leader === undefined || !target.alive || target.id === leader.id || !this.#voters.has(target.id)) return;
    this.#campaign(target, true);
  }

  setTickMs(tickMs: number): void {
    this.operations.push(`tick ${tickMs}`);
    this.#tickMs = tickMs;
  }

  client(options: { readonly timeoutMs: number }): DashboardKv {
    const write = (text: string, apply: (state: Map<string, JsonValue>) => JsonValue): Promise<JsonValue> => this.#write(text, apply, options.timeoutMs);
    return {
      get: (key) => this.#read(key, options.timeoutMs),
      put: async (key, value) => {
        await write(`put ${key}=${JSON.stringify(value)}`, (state) => (state.set(key, value), null));
      },
      delete: async (key) => {
        await write(`delete ${key}`, (state) => (state.delete(key), null));
      },
      append: async (key, value) => {
        await write(`append ${key}+${JSON.stringify(value)}`, (state) => {
          const current = state.get(key);
          state.set(key, [...(Array.isArray(current) ? current : current === undefined || current === null ? [] : [current]), value]);
          return null;
        });
      },
      cas: async (key, expected, next) =>
        (await write(`cas ${key} ${JSON.stringify(expected)}->${JSON.stringify(next)}`, (state) => {
          if (JSON.stringify(state.get(key) ?? null) !== JSON.stringify(expected)) return false;
          state.set(key, next);
          return true;
        })) === true,
    };
  }

  async addNode(options: { readonly learner?: boolean; readonly force?: boolean } = {}): Promise<NodeId> {
    this.#checkRunning();
    const learner = options.learner === true;
    const leader = this.#leader();
    if (leader === undefined) throw new FakeClusterError('NO_LEADER', 'there is no leader to add a node through', false);
    if (this.#nodes.length >= FAKE_MAX_NODES) throw new FakeClusterError('CLUSTER_FULL', `the cluster already runs ${this.#nodes.length} nodes`, false);
    const id = ++this.#highestId;
    this.operations.push(`add ${id}${learner ? ' learner' : ''}${options.force === true ? ' --force' : ''}`);
    this.#nodes.push(this.#newNode(id));
    this.#emit(EventKind.NodeAdded, id, `node ${id} started; it joins as ${learner ? 'a learner' : 'a voter'}`);
    // The toy copies the whole log every tick: a learner is caught up one tick after it joins.
    this.#changeMembership(leader, `make n${id} a learner`, () => this.#learners.add(id));
    if (!learner) {
      this.#checkSafe(leader, [...this.#voters, id], `make n${id} a voter`, options.force);
      this.#changeMembership(leader, `make n${id} a voter`, () => this.#promoteNow(id));
    }
    return id;
  }

  async promote(id: NodeId, options: { readonly force?: boolean } = {}): Promise<void> {
    this.#checkRunning();
    this.operations.push(`promote ${id}${options.force === true ? ' --force' : ''}`);
    this.#node(id);
    const leader = this.#leader();
    if (leader === undefined) throw new FakeClusterError('NO_LEADER', 'there is no leader to promote through', false);
    if (!this.#learners.has(id)) throw new FakeClusterError('INVALID_MEMBERSHIP_CHANGE', `n${id} is not a learner`, false);
    this.#checkSafe(leader, [...this.#voters, id], `make n${id} a voter`, options.force);
    this.#changeMembership(leader, `make n${id} a voter`, () => this.#promoteNow(id));
  }

  async removeNode(id: NodeId, options: { readonly force?: boolean } = {}): Promise<void> {
    this.#checkRunning();
    this.operations.push(`remove ${id}${options.force === true ? ' --force' : ''}`);
    this.#node(id);
    const leader = this.#leader();
    if (leader === undefined) throw new FakeClusterError('NO_LEADER', 'there is no leader to remove a node through', false);
    if (this.#voters.has(id) && this.#voters.size === 1) throw new FakeClusterError('INVALID_MEMBERSHIP_CHANGE', `n${id} is the last voter`, false);
    if (this.#voters.has(id)) this.#checkSafe(leader, [...this.#voters].filter((voter) => voter !== id), `remove n${id}`, options.force);
    this.#changeMembership(leader, `remove n${id}`, () => {
      this.#voters.delete(id);
      this.#learners.delete(id);
    });
    // A leader that removed itself hands the entry on before it goes (thesis §4.2.2).
    if (leader.id === id) this.#replicate(leader);
    this.#retire(id, `node ${id} left the cluster; its worker was stopped`);
  }

  #retire(id: NodeId, text: string): void {
    this.#nodes.splice(this.#nodes.findIndex((node) => node.id === id), 1);
    // As Cluster does: the partition names the nodes still here, and one group holding them all is none.
    this.#cutLinks = this.#cutLinks.filter(([from, to]) => from !== id && to !== id);
    if (this.#partition !== null) {
      const groups = this.#partition.map((group) => group.filter((other) => other !== id)).filter((group) => group.length > 0);
      const whole = groups.length === 1 && this.#nodes.every((node) => groups[0]!.includes(node.id));
      this.#partition = groups.length === 0 || whole ? null : groups;
    }
    this.#emit(EventKind.NodeRemoved, id, text);
  }

  async setVoters(voters: readonly NodeId[], options: { readonly learners?: readonly NodeId[]; readonly force?: boolean } = {}): Promise<void> {
    this.#checkRunning();
    this.operations.push(`voters ${voters.join(',')}${options.learners === undefined ? '' : ` learners ${options.learners.join(',') || '-'}`}${options.force === true ? ' --force' : ''}`);
    const leader = this.#leader();
    if (leader === undefined) throw new FakeClusterError('NO_LEADER', 'there is no leader to change the voters through', false);
    if (voters.length === 0) throw new FakeClusterError('INVALID_MEMBERSHIP_CHANGE', 'no voter', false);
    const learners = options.learners ?? [...this.#learners].filter((id) => !voters.includes(id));
    for (const id of [...voters, ...learners]) {
      this.#node(id);
      if (!this.#voters.has(id) && !this.#learners.has(id)) throw new FakeClusterError('INVALID_MEMBERSHIP_CHANGE', `n${id} is not a member`, false);
      if (voters.includes(id) && learners.includes(id)) throw new FakeClusterError('INVALID_MEMBERSHIP_CHANGE', `n${id} both voter and learner`, false);
    }
    const sameVoters = voters.length === this.#voters.size && voters.every((id) => this.#voters.has(id));
    if (!sameVoters) this.#checkSafe(leader, voters, `make the voters ${voters.map((id) => `n${id}`).join(',')}`, options.force);
    const leaving = [...this.#voters, ...this.#learners].filter((id) => !voters.includes(id) && !learners.includes(id));
    // The toy commits C_old,new and C_new at once (the real one waits for both, in turn).
    const andLearners = options.learners === undefined ? '' : ` and learners ${learners.map((id) => `n${id}`).join(',') || 'none'}`;
    this.#changeMembership(leader, `joint change to voters ${voters.map((id) => `n${id}`).join(',')}${andLearners}`, () => {
      this.#voters.clear();
      this.#learners.clear();
      for (const id of voters) this.#voters.add(id);
      for (const id of learners) this.#learners.add(id);
    });
    if (!voters.includes(leader.id)) {
      // A leader left out hands the entries on, then leaves or steps down (thesis §4.2.2).
      this.#replicate(leader);
      if (learners.includes(leader.id)) {
        leader.role = 'follower';
        leader.leaderId = 0;
        this.#emit(EventKind.RoleChanged, leader.id, `node ${leader.id} stepped down: it is a learner now`, leader.term);
      }
    }
    for (const id of leaving) this.#retire(id, `node ${id} left the cluster (joint change); its worker was stopped`);
  }

  /**
   * The supervisor's strict reconfiguration check, as Cluster does it: a change whose new
   * voters could not make a quorum (too few run and reach the leader) is refused,
   * MEMBERSHIP_CHANGE_UNSAFE, unless forced. The toy then commits it at once all the same.
   */
  #checkSafe(leader: FakeNode, voters: readonly NodeId[], description: string, force: boolean | undefined): void {
    if (force === true) return;
    const healthy = voters.filter((id) => this.#nodes.some((node) => node.id === id && node.alive) && (id === leader.id || this.#canTalk(leader.id, id))).sort((a, b) => a - b);
    const quorum = Math.floor(voters.length / 2) + 1;
    if (healthy.length >= quorum) return;
    const names = (ids: readonly NodeId[]): string => (ids.length === 0 ? 'none' : ids.map((id) => `n${id}`).join(','));
    throw new FakeClusterError(
      'MEMBERSHIP_CHANGE_UNSAFE',
      `cannot ${description}: its voters ${names([...voters].sort((a, b) => a - b))} need ${quorum} to commit, and only ${healthy.length} (${names(healthy)}) run and reach leader n${leader.id}; nothing was proposed (with { force: true } it is, and the cluster takes no write until enough of them are back)`,
      false,
    );
  }

  #promoteNow(id: NodeId): void {
    this.#learners.delete(id);
    this.#voters.add(id);
  }

  /** The toy commits a configuration change at once (the real one waits for its entry to commit). */
  #changeMembership(leader: FakeNode, description: string, change: () => void): void {
    change();
    leader.log.push({ term: leader.term, text: `config: ${description}`, apply: null });
    const membership = this.#membership();
    const list = (ids: readonly NodeId[]): string => (ids.length === 0 ? 'none' : ids.map((member) => `n${member}`).join(','));
    this.#emit(EventKind.MembershipChanged, leader.id, `committed: ${description}; now voters ${list(membership.voters)}; learners ${list(membership.learners)}`, leader.term);
  }

  #membership(): Membership {
    return { voters: [...this.#voters].sort((a, b) => a - b), learners: [...this.#learners].sort((a, b) => a - b) };
  }

  async stop(): Promise<void> {
    this.operations.push('stop');
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  // ------------------------------------------------------------ simulation

  /** Runs `ticks` ticks of the toy protocol. */
  advance(ticks: number): void {
    for (let count = 0; count < ticks; count++) this.#step();
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#step();
      this.#schedule();
    }, this.#tickMs);
  }

  #step(): void {
    this.#tick += 1;
    for (const node of this.#nodes) {
      if (!node.alive) continue;
      node.elapsedTicks += 1;
      // Only a voter campaigns: a learner or a node outside the configuration never does.
      if (node.role !== 'leader' && this.#voters.has(node.id) && node.elapsedTicks >= node.timeoutTicks) this.#campaign(node, false);
    }
    const leader = this.#leader();
    if (leader !== undefined) this.#replicate(leader);
  }

  #replicate(leader: FakeNode): void {
    const reached = [leader];
    for (const follower of this.#nodes) {
      if (follower === leader || !follower.alive || !this.#canTalk(leader.id, follower.id) || this.#dropped()) continue;
      if (follower.term > leader.term) continue;
      follower.term = leader.term;
      follower.role = 'follower';
      follower.leaderId = leader.id;
      follower.log = leader.log.slice();
      follower.elapsedTicks = 0;
      follower.lastContactTick = this.#tick;
      reached.push(follower);
    }
    if (reached.filter((node) => this.#voters.has(node.id)).length >= this.#majority()) {
      leader.isolatedTicks = 0;
      // §5.4.2: only an entry of the leader's own term is committed by counting replicas.
      const last = leader.log.at(-1);
      if (last !== undefined && last.term === leader.term) leader.commitIndex = leader.log.length;
    } else if (++leader.isolatedTicks >= FAKE_ELECTION_TICKS) {
      leader.role = 'follower';
      leader.leaderId = 0;
      this.#emit(EventKind.RoleChanged, leader.id, `node ${leader.id} stepped down: it cannot reach a majority (CheckQuorum)`, leader.term);
    }
    for (const follower of reached) follower.commitIndex = Math.min(leader.commitIndex, follower.log.length);
    this.#apply(leader);
  }

  #apply(leader: FakeNode): void {
    while (this.#appliedIndex < leader.commitIndex) {
      this.#appliedIndex += 1;
      const entry = leader.log[this.#appliedIndex - 1];
      if (entry === undefined) throw new Error(`fake cluster: applied index ${this.#appliedIndex} beyond the leader's log`);
      const result = entry.apply === null ? null : entry.apply(this.#state);
      const waiting = this.#pending.filter((pending) => pending.index === this.#appliedIndex);
      this.#pending = this.#pending.filter((pending) => pending.index !== this.#appliedIndex);
      for (const pending of waiting) {
        if (pending.term !== entry.term) {
          // Another leader's entry took this index: the write's fate is unknown to the client.
          pending.reject(new FakeClusterError('LEADERSHIP_LOST', 'the leader changed before the write committed', true));
          continue;
        }
        this.#commits.push({ tick: this.#tick, latencyMs: (this.#tick - pending.startedTick) * this.#tickMs });
        pending.resolve(result);
      }
    }
    const horizon = this.#tick - LATENCY_WINDOW_MS / this.#tickMs;
    while (this.#commits.length > 0 && (this.#commits[0]?.tick ?? 0) < horizon) this.#commits.shift();
  }

  #campaign(candidate: FakeNode, transfer: boolean): void {
    // PreVote (thesis §9.6), simplified: a node that cannot reach a majority does not
    // bump its term, so a partitioned node does not disrupt the cluster when it rejoins.
    const reachable = this.#nodes.filter((other) => this.#voters.has(other.id) && other.alive && (other === candidate || this.#canTalk(candidate.id, other.id))).length;
    if (reachable < this.#majority() && !transfer) {
      candidate.elapsedTicks = 0;
      candidate.timeoutTicks = this.#drawTimeout();
      return;
    }
    candidate.term += 1;
    candidate.role = 'candidate';
    candidate.votedFor = candidate.id;
    candidate.leaderId = 0;
    candidate.elapsedTicks = 0;
    candidate.timeoutTicks = this.#drawTimeout();
    this.#emit(EventKind.ElectionStarted, candidate.id, `node ${candidate.id} starts an election for term ${candidate.term}`, candidate.term);
    const voters = [candidate.id];
    for (const voter of this.#nodes) {
      if (voter === candidate || !voter.alive || !this.#voters.has(voter.id) || !this.#canTalk(candidate.id, voter.id)) continue;
      if (voter.term >= candidate.term) continue;
      const hearsLeader = voter.lastContactTick !== null && this.#tick - voter.lastContactTick < FAKE_ELECTION_TICKS && voter.leaderId !== 0;
      if (hearsLeader && !transfer) continue;
      voter.term = candidate.term;
      voter.votedFor = 0;
      if (voter.role === 'leader') voter.role = 'follower';
      // §5.4.1: vote only for a candidate whose log is at least as up-to-date.
      const candidateLast = candidate.log.at(-1)?.term ?? 0;
      const voterLast = voter.log.at(-1)?.term ?? 0;
      if (candidateLast < voterLast || (candidateLast === voterLast && candidate.log.length < voter.log.length)) continue;
      voter.votedFor = candidate.id;
      voters.push(voter.id);
      this.#emit(EventKind.VoteGranted, voter.id, `node ${voter.id} votes for node ${candidate.id} in term ${candidate.term}`, candidate.term);
    }
    if (voters.length < this.#majority()) return;
    for (const other of this.#nodes) if (other.role === 'leader') other.role = 'follower';
    candidate.role = 'leader';
    candidate.leaderId = candidate.id;
    candidate.log.push({ term: candidate.term, text: 'no-op', apply: null });
    this.#emit(EventKind.LeaderElected, candidate.id, `node ${candidate.id} is leader for term ${candidate.term} with votes from ${voters.join(', ')}`, candidate.term);
  }

  async #write(text: string, apply: (state: Map<string, JsonValue>) => JsonValue, timeoutMs: number): Promise<JsonValue> {
    const deadlineTick = this.#tick + Math.ceil(timeoutMs / this.#tickMs);
    for (;;) {
      this.#checkRunning();
      const leader = this.#leader();
      if (leader !== undefined) {
        leader.log.push({ term: leader.term, text, apply });
        const index = leader.log.length;
        return await this.#waitCommit(index, leader.term, deadlineTick, text);
      }
      if (this.#tick >= deadlineTick) throw new FakeClusterError('TIMEOUT', `${text}: no leader`, false);
      await this.#nextTick();
    }
  }

  #waitCommit(index: number, term: Term, deadlineTick: number, text: string): Promise<JsonValue> {
    return new Promise((resolve, reject) => {
      const pending: PendingWrite = { index, term, startedTick: this.#tick, resolve, reject };
      this.#pending.push(pending);
      const check = (): void => {
        if (!this.#pending.includes(pending)) return;
        if (this.#tick >= deadlineTick || this.#stopped) {
          this.#pending = this.#pending.filter((other) => other !== pending);
          reject(new FakeClusterError('TIMEOUT', `${text}: timed out; it may or may not have happened`, true));
          return;
        }
        void this.#nextTick().then(check);
      };
      check();
    });
  }

  async #read(key: string, timeoutMs: number): Promise<JsonValue> {
    const deadlineTick = this.#tick + Math.ceil(timeoutMs / this.#tickMs);
    for (;;) {
      this.#checkRunning();
      const leader = this.#leader();
      // ReadIndex: a leader serves a read only while it reaches a majority.
      if (leader !== undefined && leader.isolatedTicks === 0 && this.#appliedIndex >= leader.commitIndex) return this.#state.get(key) ?? null;
      if (this.#tick >= deadlineTick) throw new FakeClusterError('TIMEOUT', `get ${key}: no leader with a quorum`, false);
      await this.#nextTick();
    }
  }

  #nextTick(): Promise<void> {
    const startTick = this.#tick;
    return new Promise((resolve) => {
      const poll = (): void => {
        if (this.#tick > startTick) resolve();
        else if (this.#stopped) resolve();
        else setTimeout(poll, Math.max(1, this.#tickMs / 2));
      };
      poll();
    });
  }

  // ------------------------------------------------------------ helpers

  #nodeStatus(node: FakeNode, leader: FakeNode | undefined, nowMs: number): NodeStatus {
    const firstRecent = Math.max(0, node.log.length - FAKE_RECENT_ENTRIES);
    const recentEntries: EntrySummary[] = node.log.slice(firstRecent).map((entry, offset) => ({
      index: firstRecent + offset + 1,
      term: entry.term,
      committed: firstRecent + offset + 1 <= node.commitIndex,
      text: entry.text,
    }));
    const progress: FollowerProgress[] =
      node === leader
        ? this.#nodes
            .filter((other) => other !== node)
            .map((other) => {
              const matchIndex = other.alive && this.#canTalk(node.id, other.id) ? Math.min(other.log.length, node.log.length) : Math.min(other.log.length, node.commitIndex);
              return { id: other.id, learner: this.#learners.has(other.id), matchIndex, nextIndex: matchIndex + 1, state: other.alive ? 'replicate' : 'probe', inflight: 0 };
            })
        : [];
    return {
      id: node.id,
      alive: node.alive,
      role: node.role,
      term: node.term,
      votedFor: node.votedFor,
      leaderId: node.leaderId,
      commitIndex: node.commitIndex,
      appliedIndex: node.commitIndex,
      lastLogIndex: node.log.length,
      lastLogTerm: node.log.at(-1)?.term ?? 0,
      snapshotIndex: 0,
      electionElapsedTicks: node.elapsedTicks,
      electionTimeoutTicks: node.timeoutTicks,
      lastLeaderContactMs: node.role === 'leader' || node.lastContactTick === null ? null : nowMs - node.lastContactTick * this.#tickMs,
      walBytes: node.log.length * 48,
      walFiles: [`wal-0000000001.log`],
      fsyncLatencyMs: this.options.fsync ? 0.8 : null,
      slowFsyncs: SLOW_FSYNC_THRESHOLDS_MS.map(() => 0),
      membership: this.#membership(),
      membershipIndex: 0,
      learner: this.#learners.has(node.id),
      progress,
      recentEntries,
      logTerms: termRunsOf(node.log.map((entry, offset) => ({ index: offset + 1, term: entry.term }))),
      malformedMessages: 0,
      fsyncCount: 0,
      entriesPersisted: 0,
      appendEntriesSent: 0,
      entriesSent: 0,
      entriesReadBack: 0,
      walSparesUsed: 0,
      reportedAt: Date.now(),
    };
  }

  #checkRunning(): void {
    if (this.#stopped) throw new FakeClusterError('CLUSTER_STOPPED', 'the cluster was stopped', false);
  }

  #leader(): FakeNode | undefined {
    return this.#nodes.find((node) => node.alive && node.role === 'leader');
  }

  #node(id: NodeId): FakeNode {
    const node = this.#nodes.find((candidate) => candidate.id === id);
    if (node === undefined) throw new FakeClusterError('UNKNOWN_NODE', `no node ${id}`, false);
    return node;
  }

  #majority(): number {
    return Math.floor(this.#voters.size / 2) + 1;
  }

  #canTalk(from: NodeId, to: NodeId): boolean {
    if (this.#cutLinks.some(([cutFrom, cutTo]) => (cutFrom === from && cutTo === to) || (cutFrom === to && cutTo === from))) return false;
    if (this.#partition === null) return true;
    const group = this.#partition.find((candidate) => candidate.includes(from));
    return group !== undefined && group.includes(to);
  }

  #dropped(): boolean {
    return this.#faults !== null && this.#random() < this.#faults.dropRate;
  }

  #drawTimeout(): number {
    return FAKE_ELECTION_TICKS + Math.floor(this.#random() * FAKE_ELECTION_TICKS);
  }

  #emit(kind: EventKind, node: NodeId, text: string, term?: Term): void {
    const event = term === undefined ? { time: this.#tick * this.#tickMs, kind, node, text } : { time: this.#tick * this.#tickMs, kind, node, text, term };
    this.#emitter.emit('event', event);
  }
}
