// Guided scenarios: the moments of a talk on Raft, replayed on the live cluster. Each
// scenario is a script of steps; a step narrates what is about to happen and why, runs
// cluster operations, waits (bounded) for the cluster to react, then narrates what
// actually happened. Nothing here can force Raft's internals: the scenarios set up the
// conditions and report honestly what the real protocol did.

import type { ClusterEvent, ClusterStatus, JsonValue } from '../lib/cluster/types.js';
import type { NodeId } from '../lib/raft/types.js';
import type { DashboardCluster, DashboardKv } from './cluster-port.js';
import { describeClientError } from './cluster-port.js';
import { MAX_NODES } from './commands.js';
import { formatGroups } from './format.js';
import type { ScenarioProgress } from './state.js';

/** Status polling interval while a step waits for the cluster. */
const POLL_MS = 50;
const ELECTION_WAIT_MS = 15_000;
const CONVERGE_WAIT_MS = 15_000;
/** Writes meant to be stranded in a minority: a deadline shorter than one client attempt
 *  (1 s), so the client gives up at the old leader instead of retrying at the new one. */
const STRANDED_WRITE_TIMEOUT_MS = 300;
/** Slow-motion tick for scenarios about elections. */
const SLOW_TICK_MS = 100;
const EVENTS_KEPT_PER_STEP = 500;

export interface ScenarioContext {
  readonly cluster: DashboardCluster;
  readonly kv: DashboardKv;
  readonly normalTickMs: number;
  status(): ClusterStatus;
  narrate(text: string): void;
  /** Narrates in red: something went against expectations (never a thrown exception). */
  alarm(text: string): void;
  /** Polls status until `predicate` holds; null after timeoutMs (and the step is told). */
  waitFor(predicate: (status: ClusterStatus) => boolean, timeoutMs: number, what: string): Promise<ClusterStatus | null>;
  /** Cluster events seen since the current step started. */
  events(): readonly ClusterEvent[];
}

export type ScenarioStep = (context: ScenarioContext) => Promise<void>;

export interface ScenarioDefinition {
  readonly name: string;
  readonly summary: string;
  /**
   * What the cluster must be for the scenario to show anything (voters, running voters,
   * room for nodes): checked when it is started, so that one it cannot show is refused at
   * once, changing nothing, and again before its first step. Throws to refuse.
   */
  precondition?(status: ClusterStatus): void;
  /** Called once per run: steps share state through the closure. */
  build(): readonly ScenarioStep[];
}

/** Ends the scenario early with a narrated reason. */
class ScenarioAbort extends Error {}

// ---------------------------------------------------------------- helpers for steps

async function needLeader(context: ScenarioContext, except: NodeId = 0): Promise<{ readonly leader: NodeId; readonly status: ClusterStatus }> {
  const status = await context.waitFor((current) => current.leaderId !== 0 && current.leaderId !== except, ELECTION_WAIT_MS, except === 0 ? 'a leader' : `a leader other than n${except}`);
  if (status === null) throw new ScenarioAbort(`no leader was elected within ${ELECTION_WAIT_MS / 1000} s`);
  return { leader: status.leaderId, status };
}

/** The running voters other than the leader: the followers whose votes and acknowledgements count. */
function liveVoterFollowers(status: ClusterStatus, leader: NodeId): NodeId[] {
  return status.nodes.filter((node) => node.alive && node.id !== leader && status.membership.voters.includes(node.id)).map((node) => node.id);
}

function majorityOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

function names(ids: readonly NodeId[]): string {
  return ids.map((id) => `n${id}`).join(', ');
}

/** Ends the scenario, before it changes anything, on a cluster with fewer than `count` voters. */
function needVoters(status: ClusterStatus, count: number, scenario: string): void {
  const voters = status.membership.voters.length;
  if (voters < count) throw new ScenarioAbort(`${scenario} takes ${count} voters or more, the cluster has ${voters} (start with --nodes ${count}, or :add nodes)`);
}

/**
 * Refuses the scenario unless, with `spared` of the running voters (the leader, and the
 * followers it will crash or cut off with it) left out, the others are still a majority
 * of the voters: whichever node leads by then, they must elect the next leader.
 */
function needRunningVoters(status: ClusterStatus, spared: number, scenario: string): void {
  const voters = status.membership.voters;
  const running = status.nodes.filter((node) => node.alive && voters.includes(node.id)).length;
  const wanted = majorityOf(voters.length) + spared;
  if (running < wanted) throw new ScenarioAbort(`${scenario} takes ${wanted} running voters of the ${voters.length}, ${running} run: :restart all first`);
}

/**
 * Ends the scenario, before it changes anything, unless the running voters outside
 * `without` (the nodes it is about to crash or cut off) are a majority of the voters:
 * they are the ones that must elect the next leader.
 */
function needMajorityWithout(status: ClusterStatus, without: readonly NodeId[]): void {
  const voters = status.membership.voters;
  const rest = status.nodes.filter((node) => node.alive && voters.includes(node.id) && !without.includes(node.id)).map((node) => node.id);
  if (rest.length < majorityOf(voters.length)) {
    throw new ScenarioAbort(`without ${names(without)} the running voters (${names(rest) || 'none'}) are not a majority of the ${voters.length}: :restart all first`);
  }
}

/** Ends the scenario, before it changes anything, when it cannot start `count` more nodes. */
function needRoom(status: ClusterStatus, count: number, scenario: string): void {
  if (status.nodes.length + count > MAX_NODES) throw new ScenarioAbort(`${scenario} starts ${count} node(s), and ${status.nodes.length} of at most ${MAX_NODES} run: :remove one first`);
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new ScenarioAbort(`this scenario needs ${what}`);
  return value;
}

function votesFor(events: readonly ClusterEvent[], kind: ClusterEvent['kind']): readonly ClusterEvent[] {
  return events.filter((event) => event.kind === kind);
}

function logsConverged(status: ClusterStatus): boolean {
  const alive = status.nodes.filter((node) => node.alive);
  const leader = alive.find((node) => node.id === status.leaderId);
  if (leader === undefined) return false;
  return alive.every((node) => node.lastLogIndex === leader.lastLogIndex && node.lastLogTerm === leader.lastLogTerm && node.commitIndex === leader.commitIndex);
}

function outcome(result: PromiseSettledResult<unknown>): string {
  if (result.status === 'fulfilled') return `ok ${JSON.stringify(result.value ?? null)}`;
  const failure = describeClientError(result.reason);
  return `${failure.code} (${failure.indeterminate ? 'outcome unknown' : 'did not happen'})`;
}

async function restoreAll(context: ScenarioContext): Promise<void> {
  context.cluster.heal();
  context.cluster.setLinkFaults(null);
  context.cluster.setTickMs(context.normalTickMs);
  const down = context.status().nodes.filter((node) => !node.alive).map((node) => node.id);
  await Promise.all(down.map((id) => context.cluster.restart(id)));
  context.narrate(down.length === 0 ? 'Network healed, normal speed.' : `Network healed, normal speed, restarted ${down.map((id) => `n${id}`).join(', ')}.`);
}

// ---------------------------------------------------------------- the scenarios

const splitVote: ScenarioDefinition = {
  name: 'split-vote',
  summary: 'two candidates at once split the vote; randomized timeouts break the tie',
  precondition: (status) => {
    needVoters(status, 3, 'split-vote');
    needRunningVoters(status, 1, 'split-vote');
  },
  build() {
    let oldLeader = 0;
    return [
      async (context) => {
        const { leader, status } = await needLeader(context);
        needMajorityWithout(status, [leader]);
        oldLeader = leader;
        context.narrate(`Slow motion: the Raft tick is stretched to ${SLOW_TICK_MS} ms so that an election takes seconds, not milliseconds.`);
        context.cluster.setTickMs(SLOW_TICK_MS);
        context.narrate(`n${oldLeader} is the leader. Next: crash it, then fire two followers' election timers at the same instant.`);
      },
      async (context) => {
        const [first, second] = liveVoterFollowers(context.status(), oldLeader);
        const a = need(first, 'two live followers');
        const b = need(second, 'two live followers');
        const termBefore = context.status().term;
        await context.cluster.crash(oldLeader);
        context.cluster.campaign(a);
        context.cluster.campaign(b);
        context.narrate(
          `Crashed n${oldLeader}; n${a} and n${b} campaign together in the same term. Each votes for itself; the others grant one vote per term to whoever asks first (Figure 2, votedFor). If neither reaches a majority, both time out and retry.`,
        );
        const { leader, status } = await needLeader(context, oldLeader);
        // Pre-vote rounds (thesis §9.6) are reported in the current term: only terms above
        // the old one are real elections.
        const elections = votesFor(context.events(), 'election-started').filter((event) => (event.term ?? 0) > termBefore);
        const terms = [...new Set(elections.map((event) => event.term ?? 0))].sort((x, y) => x - y);
        context.narrate(
          terms.length > 1
            ? `The vote split: elections ran in terms ${terms.join(', ')}. Election timeouts are randomized (§5.2), so one candidate timed out first, asked again in a higher term and won: n${leader}, term ${status.term}.`
            : `This time one candidate got a majority at once: n${leader} leads term ${status.term} (${elections.length} election(s) started). Run the scenario again to catch a split.`,
        );
      },
      async (context) => {
        context.narrate(`Restoring: restart n${oldLeader}, normal speed.`);
        await restoreAll(context);
      },
    ];
  },
};

const leaderCrash: ScenarioDefinition = {
  name: 'leader-crash',
  summary: 'the leader dies; who votes for whom in the next election, and why',
  precondition: (status) => {
    needVoters(status, 3, 'leader-crash');
    needRunningVoters(status, 1, 'leader-crash');
  },
  build() {
    let oldLeader = 0;
    return [
      async (context) => {
        const { leader, status } = await needLeader(context);
        needMajorityWithout(status, [leader]);
        oldLeader = leader;
        context.narrate(`n${leader} leads term ${status.term}. Its heartbeats reset the followers' election timers (the ELECTION bars refill). Next: crash n${leader}.`);
      },
      async (context) => {
        await context.cluster.crash(oldLeader);
        context.narrate(`Crashed n${oldLeader}. The followers stop hearing heartbeats; the first whose randomized timeout expires becomes a candidate.`);
        const { leader, status } = await needLeader(context, oldLeader);
        const votes = votesFor(context.events(), 'vote-granted').filter((event) => event.term === status.term);
        const voteText = votes.length === 0 ? '' : ` Votes: ${votes.map((event) => event.text).join('; ')}.`;
        const winner = status.nodes.find((node) => node.id === leader);
        context.narrate(
          `n${leader} won term ${status.term}.${voteText} A node grants one vote per term, and only to a candidate whose log is at least as up-to-date as its own: a higher last term, or the same last term and at least as long (§5.4.1). n${leader}'s last entry: index ${winner?.lastLogIndex ?? '?'}, term ${winner?.lastLogTerm ?? '?'}.`,
        );
      },
      async (context) => {
        await context.cluster.restart(oldLeader);
        const caughtUp = await context.waitFor((status) => logsConverged(status), CONVERGE_WAIT_MS, `n${oldLeader} to catch up`);
        context.narrate(
          caughtUp === null
            ? `Restarted n${oldLeader}; it has not caught up yet.`
            : `Restarted n${oldLeader}: it recovered its log from its WAL, learned the new term from the first message it got, and is a follower of n${caughtUp.leaderId} again with the same log.`,
        );
      },
    ];
  },
};

/** Attempts to register a short-deadline client while the cluster is healthy. */
const PREPARE_ATTEMPTS = 10;

/**
 * A client with a deadline shorter than one attempt, registered (its session is a log
 * entry too) while the leader can still commit, so that its later writes go straight to
 * the leader it knows and are not retried elsewhere.
 */
async function strandingClient(context: ScenarioContext, prefix: string): Promise<DashboardKv> {
  const client = context.cluster.client({ timeoutMs: STRANDED_WRITE_TIMEOUT_MS });
  for (let attempt = 1; attempt <= PREPARE_ATTEMPTS; attempt++) {
    const [result] = await Promise.allSettled([client.put(`${prefix}-ready`, true)]);
    if (result?.status === 'fulfilled') return client;
  }
  throw new ScenarioAbort(`could not register a client in ${PREPARE_ATTEMPTS} attempts`);
}

function strandedWrites(client: DashboardKv, prefix: string, count: number): Promise<PromiseSettledResult<unknown>[]> {
  return Promise.allSettled(Array.from({ length: count }, (_, position) => client.put(`${prefix}-${position + 1}`, 'written in the minority')));
}

const OUTCOME_LEGEND = '"Outcome unknown" means the client cannot tell whether the write committed; "did not happen" means it certainly did not.';

const conflictingFollower: ScenarioDefinition = {
  name: 'conflicting-follower',
  summary: 'a follower holding entries the new leader never had is repaired (§5.3)',
  // The leader and a follower are a minority only of 5 voters or more.
  precondition: (status) => {
    needVoters(status, 5, 'conflicting-follower');
    needRunningVoters(status, 2, 'conflicting-follower');
  },
  build() {
    let oldLeader = 0;
    let follower = 0;
    let stranded: Promise<PromiseSettledResult<unknown>[]> = Promise.resolve([]);
    const prefix = `stranded-${Date.now() % 100_000}`;
    return [
      async (context) => {
        const { leader, status } = await needLeader(context);
        oldLeader = leader;
        follower = need(liveVoterFollowers(status, leader)[0], 'a live follower');
        needMajorityWithout(status, [leader, follower]);
        const rest = status.nodes.map((node) => node.id).filter((id) => id !== leader && id !== follower);
        const client = await strandingClient(context, prefix);
        context.cluster.partition([[leader, follower], rest]);
        stranded = strandedWrites(client, prefix, 3);
        context.narrate(`Partitioned {n${leader}, n${follower}} from the rest and sent 3 writes. n${leader} appends them and replicates them to n${follower}, but 2 nodes are not a majority: they stay uncommitted, shown as (t) cells.`);
      },
      async (context) => {
        const status = await context.waitFor((current) => current.nodes.some((node) => node.alive && node.role === 'leader' && node.id !== oldLeader && node.id !== follower), ELECTION_WAIT_MS, 'a leader in the majority');
        if (status === null) throw new ScenarioAbort('the majority did not elect a leader');
        const newLeader = status.nodes.find((node) => node.role === 'leader' && node.id !== oldLeader);
        await Promise.allSettled([context.kv.put('fresh-1', 'majority'), context.kv.put('fresh-2', 'majority')]);
        context.narrate(`The majority elected n${newLeader?.id ?? '?'} in term ${newLeader?.term ?? '?'} and committed 2 writes of its own. Compare the log strip rows: n${follower}'s tail differs from the leader's at the same indexes.`);
      },
      async (context) => {
        context.cluster.heal();
        const results = await stranded;
        const converged = await context.waitFor((status) => logsConverged(status), CONVERGE_WAIT_MS, 'the logs to converge');
        context.narrate(
          converged === null
            ? 'Healed, but the logs have not converged yet.'
            : `Healed. The leader's AppendEntries failed its consistency check at n${follower} (prevLogTerm mismatch), so it moved nextIndex back until the logs matched; n${follower} deleted its conflicting entries and took the leader's (§5.3). Every row of the log strip now ends alike. The minority's writes: ${results.map(outcome).join(', ')}. ${OUTCOME_LEGEND}`,
        );
      },
    ];
  },
};

const partitionedLeader: ScenarioDefinition = {
  name: 'partitioned-leader',
  summary: "a leader cut off in a minority: its uncommitted writes are thrown away on rejoin",
  precondition: (status) => {
    needVoters(status, 3, 'partitioned-leader');
    needRunningVoters(status, 1, 'partitioned-leader');
  },
  build() {
    let oldLeader = 0;
    let stranded: Promise<PromiseSettledResult<unknown>[]> = Promise.resolve([]);
    const prefix = `lost-${Date.now() % 100_000}`;
    return [
      async (context) => {
        const { leader, status } = await needLeader(context);
        needMajorityWithout(status, [leader]);
        oldLeader = leader;
        const client = await strandingClient(context, prefix);
        context.cluster.partition([[leader], status.nodes.map((node) => node.id).filter((id) => id !== leader)]);
        stranded = strandedWrites(client, prefix, 3);
        context.narrate(`Isolated the leader n${leader} and sent it 3 writes (${prefix}-1..3). It appends them but cannot replicate them: uncommitted. Until CheckQuorum makes it step down, it still thinks it leads.`);
      },
      async (context) => {
        const { leader, status } = await needLeader(context, oldLeader);
        const results = await stranded;
        context.narrate(`The other nodes elected n${leader} in term ${status.term}. The writes sent to n${oldLeader}: ${results.map(outcome).join(', ')}. ${OUTCOME_LEGEND}`);
      },
      async (context) => {
        context.cluster.heal();
        const converged = await context.waitFor((status) => logsConverged(status), CONVERGE_WAIT_MS, 'the logs to converge');
        const [read] = await Promise.allSettled([context.kv.get(`${prefix}-1`)]);
        const found = read?.status === 'fulfilled' && read.value !== null;
        context.narrate(
          `${converged === null ? 'Healed; logs not converged yet.' : `Healed. n${oldLeader} saw the higher term, became a follower, and its uncommitted entries were overwritten by the new leader's.`} get ${prefix}-1 -> ${read === undefined ? '?' : outcome(read)}: ` +
            (found ? 'the client had retried the write at the new leader (same request id), which committed it once.' : 'a write that never committed is gone from every node.'),
        );
      },
    ];
  },
};

const minorityRead: ScenarioDefinition = {
  name: 'minority-read',
  summary: 'an old leader in a minority does not serve a stale read (ReadIndex)',
  // The leader is cut off with as many followers as still make a minority, and the rest
  // must be a majority: every voter runs.
  precondition: (status) => {
    needVoters(status, 3, 'minority-read');
    const voters = status.membership.voters.length;
    needRunningVoters(status, voters - majorityOf(voters), 'minority-read');
  },
  build() {
    let oldLeader = 0;
    const key = `read-x-${Date.now() % 100_000}`;
    return [
      async (context) => {
        const { leader, status } = await needLeader(context);
        // The largest minority of the voters: the leader alone of 3 or 4, with one follower of 5 or 6, ...
        const voters = status.membership.voters.length;
        const minority = [leader, ...liveVoterFollowers(status, leader).slice(0, voters - majorityOf(voters) - 1)];
        needMajorityWithout(status, minority);
        oldLeader = leader;
        await context.kv.put(key, 'old');
        const rest = status.nodes.map((node) => node.id).filter((id) => !minority.includes(id));
        context.cluster.partition([minority, rest]);
        const company = minority.length === 1 ? '' : ` (with ${names(minority.slice(1))})`;
        context.narrate(`Wrote ${key}="old", then cut the leader n${leader}${company} off in a minority (${minority.length} of ${voters} voters) from the rest: ${names(rest)}.`);
      },
      async (context) => {
        const status = await context.waitFor((current) => current.nodes.some((node) => node.alive && node.role === 'leader' && node.id !== oldLeader), ELECTION_WAIT_MS, 'a leader in the majority');
        if (status === null) throw new ScenarioAbort('the majority did not elect a leader');
        const [write] = await Promise.allSettled([context.kv.put(key, 'new')]);
        context.narrate(`The majority has a new leader; put ${key}="new" -> ${write === undefined ? '?' : outcome(write)}. n${oldLeader} still holds "old".`);
      },
      async (context) => {
        const [read] = await Promise.allSettled([context.cluster.client({ timeoutMs: STRANDED_WRITE_TIMEOUT_MS }).get(key)]);
        const value: JsonValue | undefined = read?.status === 'fulfilled' ? (read.value as JsonValue) : undefined;
        if (value === 'old') context.alarm(`get ${key} returned "old": a STALE READ. Linearizability is broken.`);
        else
          context.narrate(
            `get ${key} -> ${read === undefined ? '?' : outcome(read)}. A leader answers a read only after a heartbeat round acknowledged by a majority confirms it still leads (ReadIndex, thesis §6.4); n${oldLeader} cannot get that, so the read is refused or goes to the real leader. Never "old".`,
          );
      },
      async (context) => {
        await restoreAll(context);
      },
    ];
  },
};

const exactlyOnce: ScenarioDefinition = {
  name: 'exactly-once',
  summary: 'the leader dies after commit, before replying; the retry is answered from the session',
  precondition: (status) => {
    needVoters(status, 3, 'exactly-once');
    needRunningVoters(status, 1, 'exactly-once');
  },
  build() {
    let oldLeader = 0;
    const key = `once-${Date.now() % 100_000}`;
    return [
      async (context) => {
        const { leader, status } = await needLeader(context);
        needMajorityWithout(status, [leader]);
        oldLeader = leader;
        context.narrate(`Next: append "a" to ${key}, and crash the leader n${leader} the moment it commits, before its reply can reach the client.`);
      },
      async (context) => {
        const before = context.status().nodes.find((node) => node.id === oldLeader)?.commitIndex ?? 0;
        const append = Promise.allSettled([context.kv.append(key, 'a')]);
        await context.waitFor((status) => (status.nodes.find((node) => node.id === oldLeader)?.commitIndex ?? 0) > before, CONVERGE_WAIT_MS, 'the append to commit');
        await context.cluster.crash(oldLeader);
        context.narrate(`n${oldLeader} committed the append and was crashed at once. If its reply was lost with it, the client retries at the new leader with the same (client id, sequence number).`);
        const [result] = await append;
        context.narrate(`append ${key} "a" -> ${result === undefined ? '?' : outcome(result)}.`);
      },
      async (context) => {
        const [read] = await Promise.allSettled([context.kv.get(key)]);
        const value = read?.status === 'fulfilled' ? (read.value as JsonValue) : null;
        if (Array.isArray(value) && value.length > 1) context.alarm(`get ${key} -> ${JSON.stringify(value)}: the retry was APPLIED TWICE.`);
        else context.narrate(`get ${key} -> ${read === undefined ? '?' : outcome(read)}. Applied once: the state machine remembers each client's last sequence number and reply (thesis §6.3) and answered the retry from there.`);
        await restoreAll(context);
      },
    ];
  },
};

const figure8: ScenarioDefinition = {
  name: 'figure8',
  summary: 'an entry from an old term is committed only through one of the current term (§5.4.2)',
  // The leader running, and a majority of the voters besides it to elect the next one.
  precondition: (status) => {
    needVoters(status, 5, 'figure8');
    needRunningVoters(status, 1, 'figure8');
  },
  build() {
    let oldLeader = 0;
    let heir = 0;
    let witness = 0;
    let sleepers: NodeId[] = [];
    let voters = 0;
    let staleIndex = 0;
    const prefix = `fig8-${Date.now() % 100_000}`;
    let stranded: Promise<PromiseSettledResult<unknown>[]> = Promise.resolve([]);
    return [
      async (context) => {
        const { leader, status } = await needLeader(context);
        voters = status.membership.voters.length;
        oldLeader = leader;
        const followers = liveVoterFollowers(status, leader);
        // Without the old leader, the heir, the witness and the sleepers woken in step 2 must be a majority.
        if (followers.length < majorityOf(voters)) throw new ScenarioAbort(`figure8 needs the leader and ${majorityOf(voters)} more voters running, ${followers.length} run: :restart all first`);
        heir = need(followers[0], 'two live followers');
        witness = need(followers[1], 'two live followers');
        sleepers = followers.slice(2);
        const strandedClient = await strandingClient(context, prefix);
        await Promise.all(sleepers.map((id) => context.cluster.crash(id)));
        context.cluster.cutLink(leader, witness);
        context.cluster.cutLink(witness, leader);
        stranded = strandedWrites(strandedClient, prefix, 1);
        const ready = await context.waitFor((current) => (current.nodes.find((node) => node.id === heir)?.lastLogIndex ?? 0) > (current.nodes.find((node) => node.id === witness)?.lastLogIndex ?? 0), CONVERGE_WAIT_MS, `the write to reach n${heir}`);
        staleIndex = ready?.nodes.find((node) => node.id === heir)?.lastLogIndex ?? 0;
        context.narrate(
          `Crashed ${sleepers.map((id) => `n${id}`).join(', ')} and cut n${leader}<->n${witness}. A write reached n${leader} and n${heir} only (index ${staleIndex}, term ${ready?.term ?? '?'}): 2 of ${voters}, uncommitted.`,
        );
      },
      async (context) => {
        await context.cluster.crash(oldLeader);
        // Enough of them that, with the heir and the witness, they are a majority.
        const woken = sleepers.slice(0, majorityOf(voters) - 2);
        await Promise.all(woken.map((id) => context.cluster.restart(id)));
        const { leader, status } = await needLeader(context, oldLeader);
        context.narrate(
          `Crashed n${oldLeader}, restarted ${names(woken)}. n${leader} won term ${status.term}${leader === heir ? ' (its log was the most up-to-date)' : ''}. It copies the old-term entry ${staleIndex} to ${names([witness, ...woken])}: now a majority stores it. Counting replicas would call it committed, and Figure 8 shows that is unsafe: a later leader whose last term is higher could still overwrite it.`,
        );
      },
      async (context) => {
        const committed = await context.waitFor((status) => leaderCommit(status) >= staleIndex, CONVERGE_WAIT_MS, `entry ${staleIndex} to commit`);
        const results = await stranded;
        const leader = committed?.nodes.find((node) => node.id === committed.leaderId);
        const how =
          committed === null || leader === undefined
            ? 'The entry is not committed yet.'
            : leader.commitIndex > staleIndex
              ? `Entry ${staleIndex} became committed together with later entries up to ${leader.commitIndex}, of term ${leader.lastLogTerm}: Raft never commits an entry of a previous term by counting replicas, only indirectly once an entry of its own term (here the new leader's no-op) is stored on a majority (§5.4.2).`
              : `Entry ${staleIndex} is committed (commit index ${leader.commitIndex}).`;
        context.narrate(`${how} The write's outcome: ${results.map(outcome).join(', ')}. ${OUTCOME_LEGEND}`);
        await restoreAll(context);
      },
    ];
  },
};

function leaderCommit(status: ClusterStatus): number {
  return status.nodes.find((node) => node.id === status.leaderId)?.commitIndex ?? 0;
}

function describeVoters(status: ClusterStatus): string {
  const { voters, learners } = status.membership;
  return `voters ${voters.map((id) => `n${id}`).join(', ')}${learners.length === 0 ? '' : `; learners ${learners.map((id) => `n${id}`).join(', ')}`}`;
}

const membership: ScenarioDefinition = {
  name: 'membership',
  summary: 'a node joins as a learner, catches up, becomes a voter; then the leader removes itself',
  precondition: (status) => needRoom(status, 1, 'membership'),
  build() {
    let added = 0;
    let oldLeader = 0;
    return [
      async (context) => {
        const { leader, status } = await needLeader(context);
        context.narrate(
          `n${leader} leads; the configuration is ${describeVoters(status)}. A configuration change is itself a log entry, and each node uses the newest one in its log at once, committed or not (thesis §4.1). One voter is added or removed at a time, so an old majority and a new one always share a node. Next: add a node as a learner.`,
        );
      },
      async (context) => {
        added = await context.cluster.addNode({ learner: true });
        const status = context.status();
        const row = status.nodes.find((node) => node.id === added);
        context.narrate(
          `n${added} started with an empty log and joined as a learner (+ LEARNER): the leader replicates to it, but it neither votes nor counts toward a commit, so an empty newcomer cannot stall the cluster (thesis §4.2.1). It caught up: index ${row?.lastLogIndex ?? '?'}. Now ${describeVoters(status)}. Next: promote it.`,
        );
      },
      async (context) => {
        await context.cluster.promote(added);
        const status = context.status();
        const voters = status.membership.voters.length;
        context.narrate(
          `n${added} is a voter: ${describeVoters(status)}. A commit now needs ${Math.floor(voters / 2) + 1} of ${voters}. Next: the leader removes itself.`,
        );
      },
      async (context) => {
        oldLeader = (await needLeader(context)).leader;
        await context.cluster.removeNode(oldLeader);
        const { leader, status } = await needLeader(context, oldLeader);
        context.narrate(
          `n${oldLeader} proposed its own removal and led until that entry committed, without counting itself (thesis §4.2.2); then it stepped down and handed over to a caught-up voter (TimeoutNow, thesis §3.10), and its worker was stopped. n${leader} leads term ${status.term}; ${describeVoters(status)}.`,
        );
      },
    ];
  },
};

/** The leader and another voter, ascending. */
async function leaderAndAnotherVoter(context: ScenarioContext): Promise<{ readonly leader: NodeId; readonly status: ClusterStatus; readonly pair: NodeId[] }> {
  const { leader, status } = await needLeader(context);
  // A running one if there is one: a voter that is down would not catch up to be promoted back (demote).
  const others = status.membership.voters.filter((id) => id !== leader);
  const running = others.filter((id) => status.nodes.some((node) => node.id === id && node.alive));
  const other = need(running[0] ?? others[0], 'another voter');
  return { leader, status, pair: [leader, other].sort((a, b) => a - b) };
}

const joint: ScenarioDefinition = {
  name: 'joint',
  summary: 'two voters, the leader among them, replaced by two new nodes in one joint change',
  precondition: (status) => {
    needVoters(status, 2, 'joint');
    needRoom(status, 2, 'joint');
  },
  build() {
    let joining: NodeId[] = [];
    let leaving: NodeId[] = [];
    return [
      async (context) => {
        const { leader, status, pair } = await leaderAndAnotherVoter(context);
        leaving = pair;
        context.narrate(
          `n${leader} leads; ${describeVoters(status)}. To replace n${leaving[0]} and n${leaving[1]} one server at a time would pass through configurations nobody asked for; joint consensus does it in one change (thesis §4.3, the Raft paper's §6). Next: start two nodes as learners.`,
        );
      },
      async (context) => {
        joining = [await context.cluster.addNode({ learner: true }), await context.cluster.addNode({ learner: true })];
        context.narrate(
          `n${joining[0]} and n${joining[1]} joined as learners and caught up: ${describeVoters(context.status())}. Next: make ${[...context.status().membership.voters.filter((id) => !leaving.includes(id)), ...joining].map((id) => `n${id}`).join(', ')} the voters.`,
        );
      },
      async (context) => {
        const voters = [...context.status().membership.voters.filter((id) => !leaving.includes(id)), ...joining];
        await context.cluster.setVoters(voters);
        const { leader, status } = await needLeader(context);
        context.narrate(
          `The leader first appended C_old,new: until it committed, every election and every commit needed a majority of the old voters and a majority of the new ones, separately, so neither side could decide alone. Once it committed, the leader appended C_new by itself. n${leaving.join(' and n')} were left out: the old leader managed the change without counting itself, stepped down when C_new committed and handed over; both were stopped. n${leader} leads term ${status.term}; ${describeVoters(status)}.`,
        );
      },
    ];
  },
};

const demote: ScenarioDefinition = {
  name: 'demote',
  summary: 'the leader and a follower demoted to learners in one joint change: they stay and stop counting; then promoted back',
  precondition: (status) => {
    needVoters(status, 3, 'demote');
    // The voters it keeps (all but the leader and a running follower) must commit the
    // change and then write alone: a majority of them must run, else the change is refused
    // as unsafe (MEMBERSHIP_CHANGE_UNSAFE) at its second step. That is a majority of all
    // the voters and one more running.
    needRunningVoters(status, 1, 'demote');
  },
  build() {
    let demoted: NodeId[] = [];
    let kept: NodeId[] = [];
    const key = `demote-${Date.now() % 100_000}`;
    return [
      async (context) => {
        const { leader, status, pair } = await leaderAndAnotherVoter(context);
        demoted = pair;
        kept = status.membership.voters.filter((id) => !demoted.includes(id));
        context.narrate(
          `n${leader} leads; ${describeVoters(status)}. Next: make ${kept.map((id) => `n${id}`).join(', ')} the voters and n${demoted.join(' and n')} learners, in one joint change (thesis §4.3; etcd calls them "learners next").`,
        );
      },
      async (context) => {
        const learners = [...context.status().membership.learners, ...demoted];
        await context.cluster.setVoters(kept, { learners });
        const { leader, status } = await needLeader(context);
        context.narrate(
          `While C_old,new was in force n${demoted.join(' and n')} were outgoing voters and learners at once: they still counted in the old majority, so the old voters kept their say until the change was decided. Once C_new committed they were learners: replicated to, never counted, never campaigning; the old leader stepped down and handed over. n${leader} leads term ${status.term}; ${describeVoters(status)}. Next: cut the learners off and write.`,
        );
      },
      async (context) => {
        context.cluster.partition([demoted, kept]);
        const [write] = await Promise.allSettled([context.kv.put(key, 'without the learners')]);
        if (write?.status !== 'fulfilled') context.alarm(`put ${key} -> ${write === undefined ? '?' : outcome(write)}: the voters should commit without the learners.`);
        else context.narrate(`With n${demoted.join(' and n')} cut off, put ${key} -> ok: the ${kept.length} voters commit alone. Next: heal, and make them voters again in one joint change.`);
      },
      async (context) => {
        context.cluster.heal();
        const voters = [...kept, ...demoted].sort((a, b) => a - b);
        const learners = context.status().membership.learners.filter((id) => !demoted.includes(id));
        await context.cluster.setVoters(voters, { learners });
        const { leader, status } = await needLeader(context);
        context.narrate(`n${demoted.join(' and n')} caught up as learners and are voters again (another joint change). n${leader} leads term ${status.term}; ${describeVoters(status)}.`);
      },
    ];
  },
};

export const SCENARIOS: readonly ScenarioDefinition[] = [splitVote, leaderCrash, conflictingFollower, partitionedLeader, minorityRead, exactlyOnce, figure8, membership, joint, demote];

// ---------------------------------------------------------------- the runner

export interface ScenarioRunnerOptions {
  readonly cluster: DashboardCluster;
  readonly kv: DashboardKv;
  readonly normalTickMs: number;
  status(): ClusterStatus;
  narrate(text: string, error: boolean): void;
  progress(progress: ScenarioProgress | null): void;
  readonly scenarios?: readonly ScenarioDefinition[];
}

/** The faults a scenario may leave: copied, since a status shares the cluster's own lists. */
interface Faults {
  readonly partition: readonly (readonly NodeId[])[] | null;
  readonly cutLinks: readonly (readonly [NodeId, NodeId])[];
  readonly tickMs: number;
  readonly up: readonly NodeId[];
}

function faultsOf(status: ClusterStatus): Faults {
  return {
    partition: status.partition?.map((group) => [...group]) ?? null,
    cutLinks: status.cutLinks.map(([from, to]) => [from, to] as const),
    tickMs: status.tickMs,
    up: status.nodes.filter((node) => node.alive).map((node) => node.id),
  };
}

function describeNetwork(faults: Faults): string {
  return `${faults.partition === null ? '' : formatGroups(faults.partition)} ${faults.cutLinks.map(([from, to]) => `${from}>${to}`).join(' ')}`;
}

interface Run {
  readonly definition: ScenarioDefinition;
  /** The cluster as the scenario found it: what a scenario that stops early puts back. */
  readonly before: Faults;
  readonly steps: readonly ScenarioStep[];
  stepsDone: number;
  busy: boolean;
  cancelled: boolean;
  events: ClusterEvent[];
  /** The step in progress (or the last one), settled or not: a stop waits for it. */
  step: Promise<void>;
}

/** Refuses a stopped run's cluster operations, so that a step still running ends at its next one. */
function checkRunning(run: Run): void {
  if (run.cancelled) throw new ScenarioAbort('the scenario was stopped');
}

/** The key-value client as a step sees it: refused once the run is stopped. */
function guardedKv(kv: DashboardKv, run: Run): DashboardKv {
  const guarded = <A extends unknown[], R>(call: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    checkRunning(run);
    return call(...args);
  };
  return {
    get: guarded((key) => kv.get(key)),
    put: guarded((key, value) => kv.put(key, value)),
    delete: guarded((key) => kv.delete(key)),
    append: guarded((key, value) => kv.append(key, value)),
    cas: guarded((key, expected, next) => kv.cas(key, expected, next)),
  };
}

/**
 * The cluster as a step sees it: once the run is stopped every operation that changes
 * something is refused, so a step still running in the background cannot undo the
 * putting back (restart a node, partition, slow the tick) after the stop.
 */
function guardedCluster(cluster: DashboardCluster, run: Run): DashboardCluster {
  const guarded = <A extends unknown[], R>(call: (...args: A) => R) => (...args: A): R => {
    checkRunning(run);
    return call(...args);
  };
  return {
    status: () => cluster.status(),
    on: (name, listener) => cluster.on(name, listener),
    off: (name, listener) => cluster.off(name, listener),
    crash: guarded((id) => cluster.crash(id)),
    restart: guarded((id) => cluster.restart(id)),
    partition: guarded((groups) => cluster.partition(groups)),
    heal: guarded(() => cluster.heal()),
    cutLink: guarded((from, to) => cluster.cutLink(from, to)),
    setLinkFaults: guarded((faults) => cluster.setLinkFaults(faults)),
    campaign: guarded((id) => cluster.campaign(id)),
    transferLeadership: guarded((to) => cluster.transferLeadership(to)),
    setTickMs: guarded((tickMs) => cluster.setTickMs(tickMs)),
    addNode: guarded((options) => cluster.addNode(options)),
    promote: guarded((id, options) => cluster.promote(id, options)),
    removeNode: guarded((id, options) => cluster.removeNode(id, options)),
    setVoters: guarded((voters, options) => cluster.setVoters(voters, options)),
    client: guarded((options) => guardedKv(cluster.client(options), run)),
    stop: guarded(() => cluster.stop()),
  };
}

/** `status` with the nodes `up` running: the cluster once a stopped scenario has restarted what it crashed. */
function withNodesUp(status: ClusterStatus, up: readonly NodeId[]): ClusterStatus {
  return { ...status, nodes: status.nodes.map((node) => (up.includes(node.id) && !node.alive ? { ...node, alive: true } : node)) };
}

/** Where a run was when it was stopped, for the feed. */
function stoppedAt(run: Run): string {
  return run.busy ? `during step ${run.stepsDone + 1} of ${run.steps.length}` : `after ${run.stepsDone} of ${run.steps.length} steps`;
}

/** Runs one scenario at a time, a step per advance(). Never throws to its caller. */
export class ScenarioRunner {
  readonly #options: ScenarioRunnerOptions;
  readonly #scenarios: readonly ScenarioDefinition[];
  #run: Run | null = null;
  /** While a scenario that stopped early is being put back: the name of that scenario. */
  #puttingBack: string | null = null;

  constructor(options: ScenarioRunnerOptions) {
    this.#options = options;
    this.#scenarios = options.scenarios ?? SCENARIOS;
  }

  list(): readonly { readonly name: string; readonly summary: string }[] {
    return this.#scenarios;
  }

  get running(): boolean {
    return this.#run !== null;
  }

  /** Settles when the current step, or the putting back after a stop, is done: for tests. */
  idle: Promise<void> = Promise.resolve();

  /** Starts a scenario; one already running is stopped first, and what it changed put back. */
  start(name: string): void {
    const definition = this.#scenarios.find((scenario) => scenario.name === name);
    if (definition === undefined) {
      this.#options.narrate(`no scenario '${name}'`, true);
      return;
    }
    if (this.#refuseWhilePuttingBack()) return;
    const run = this.#run;
    // One the cluster cannot show is refused at once: nothing announced, nothing changed,
    // a running scenario left running. Judged on the cluster as it will be once that one
    // is put back (the nodes it crashed up again), since the new one starts from there.
    const status = this.#options.status();
    if (this.#refused(definition, run === null ? status : withNodesUp(status, run.before.up))) return;
    if (run === null) {
      this.#begin(definition);
      return;
    }
    this.idle = this.#end(run, `Scenario ${run.definition.name} stopped ${stoppedAt(run)}: replaced by ${definition.name}.`, false).then(() => this.#begin(definition));
  }

  advance(): void {
    if (this.#refuseWhilePuttingBack()) return;
    const run = this.#run;
    if (run === null) {
      this.#options.narrate('no scenario is running; :scenario lists them', true);
      return;
    }
    if (run.busy) {
      this.#options.narrate('still running the current step...', false);
      return;
    }
    const step = run.steps[run.stepsDone];
    if (step === undefined) {
      this.#detach(run);
      return;
    }
    // The cluster may have changed since the start (a node removed or crashed): checked
    // again, and the scenario, which has changed nothing yet, has nothing to put back.
    if (run.stepsDone === 0 && this.#refused(run.definition, this.#options.status(), 'stopped before its first step')) {
      this.#detach(run);
      return;
    }
    run.busy = true;
    run.events = [];
    this.#report();
    run.step = step(this.#context(run));
    this.idle = run.step.then(
      () => this.#finishStep(run, null),
      (error: unknown) => this.#finishStep(run, error),
    );
  }

  /**
   * Stops the running scenario midway: a step in progress is cut short at its next
   * cluster operation, then what the scenario changed is put back, and the feed says so.
   * False when no scenario was running.
   */
  stop(): boolean {
    const run = this.#run;
    if (run === null) return false;
    this.idle = this.#end(run, `Scenario ${run.definition.name} stopped ${stoppedAt(run)} (:scenario stop).`, false);
    return true;
  }

  /** Drops the running scenario without putting anything back: for quitting, when the cluster is about to stop. */
  abandon(): void {
    if (this.#run !== null) this.#detach(this.#run);
  }

  observe(event: ClusterEvent): void {
    const run = this.#run;
    if (run === null || !run.busy) return;
    run.events.push(event);
    if (run.events.length > EVENTS_KEPT_PER_STEP) run.events.shift();
  }

  #begin(definition: ScenarioDefinition): void {
    if (this.#refused(definition, this.#options.status())) return;
    const steps = definition.build();
    this.#run = { definition, steps, stepsDone: 0, busy: false, cancelled: false, events: [], before: faultsOf(this.#options.status()), step: Promise.resolve() };
    this.#options.narrate(`Scenario ${definition.name}: ${definition.summary}. ${steps.length} steps; press n (or :next) for each.`, false);
    this.#report();
  }

  /** Says why the cluster cannot show `definition` (its precondition), if it cannot. */
  #refused(definition: ScenarioDefinition, status: ClusterStatus, verb = 'refused'): boolean {
    try {
      definition.precondition?.(status);
      return false;
    } catch (error: unknown) {
      const reason = error instanceof ScenarioAbort ? error.message : `its check failed: ${describeClientError(error).message}`;
      this.#options.narrate(`Scenario ${definition.name} ${verb}: ${reason}.`, true);
      return true;
    }
  }

  #refuseWhilePuttingBack(): boolean {
    if (this.#puttingBack === null) return false;
    this.#options.narrate(`still putting back what scenario ${this.#puttingBack} changed; try again in a moment`, false);
    return true;
  }

  /** The run is over: its step narrates no more, and its cluster operations are refused. */
  #detach(run: Run): void {
    run.cancelled = true;
    if (this.#run === run) this.#run = null;
    this.#options.progress(null);
  }

  /**
   * Ends a run before its last step: says so (`text`), waits for a step still running
   * (cut short, since its cluster operations are now refused), then puts back what the
   * scenario changed since it started.
   */
  async #end(run: Run, text: string, error: boolean): Promise<void> {
    this.#options.narrate(text, error);
    this.#detach(run);
    this.#puttingBack = run.definition.name;
    try {
      await run.step.catch(() => undefined);
      await this.#putBack(run.before).catch((failure: unknown) => this.#options.narrate(`Could not put things back: ${describeClientError(failure).message} (:heal and :restart all do).`, true));
    } finally {
      this.#puttingBack = null;
    }
  }

  async #finishStep(run: Run, error: unknown): Promise<void> {
    if (run.cancelled) return;
    run.busy = false;
    run.stepsDone += 1;
    if (error !== null) {
      const text = error instanceof ScenarioAbort ? error.message : `step failed: ${describeClientError(error).message}`;
      await this.#end(run, `Scenario ${run.definition.name} stopped: ${text}.`, true);
      return;
    }
    if (run.stepsDone >= run.steps.length) {
      this.#options.narrate(`Scenario ${run.definition.name} done.`, false);
      this.#detach(run);
      return;
    }
    this.#options.narrate(`(step ${run.stepsDone}/${run.steps.length} done: press n for the next)`, false);
    this.#report();
  }

  /**
   * After a scenario stopped early: undoes the faults it left, measured against the
   * cluster as it found it (its partition and cut links, slow motion, the nodes it
   * crashed), and says what it did.
   */
  async #putBack(before: Faults): Promise<void> {
    const { cluster, narrate } = this.#options;
    const now = this.#options.status();
    const done: string[] = [];
    if (describeNetwork(faultsOf(now)) !== describeNetwork(before)) {
      cluster.heal();
      if (before.partition !== null) cluster.partition(before.partition);
      for (const [from, to] of before.cutLinks) cluster.cutLink(from, to);
      done.push(before.partition === null && before.cutLinks.length === 0 ? 'healed the network' : 'put the network back as it was');
    }
    if (now.tickMs !== before.tickMs) {
      cluster.setTickMs(before.tickMs);
      done.push(`set the tick back to ${before.tickMs} ms`);
    }
    const crashed = now.nodes.filter((node) => !node.alive && before.up.includes(node.id)).map((node) => node.id);
    const restarts = await Promise.allSettled(crashed.map((id) => cluster.restart(id)));
    const restarted = crashed.filter((_, position) => restarts[position]?.status === 'fulfilled');
    if (restarted.length > 0) done.push(`restarted ${names(restarted)}`);
    narrate(done.length === 0 ? 'It left no fault behind.' : `Put back what it changed: ${done.join(', ')}.`, false);
    restarts.forEach((result, position) => {
      if (result.status === 'rejected') narrate(`Could not restart n${crashed[position] ?? '?'}: ${describeClientError(result.reason).message} (:restart it).`, true);
    });
  }

  #report(): void {
    const run = this.#run;
    this.#options.progress(run === null ? null : { name: run.definition.name, stepsDone: run.stepsDone, stepsTotal: run.steps.length, busy: run.busy });
  }

  #context(run: Run): ScenarioContext {
    const options = this.#options;
    return {
      cluster: guardedCluster(options.cluster, run),
      kv: guardedKv(options.kv, run),
      normalTickMs: options.normalTickMs,
      status: () => options.status(),
      narrate: (text) => {
        if (!run.cancelled) options.narrate(text, false);
      },
      alarm: (text) => {
        if (!run.cancelled) options.narrate(text, true);
      },
      events: () => run.events,
      waitFor: (predicate, timeoutMs, what) =>
        new Promise((resolve) => {
          const deadline = performance.now() + timeoutMs;
          const poll = (): void => {
            if (run.cancelled) {
              resolve(null);
              return;
            }
            const status = options.status();
            if (predicate(status)) {
              resolve(status);
              return;
            }
            if (performance.now() >= deadline) {
              options.narrate(`(waited ${Math.round(timeoutMs / 1000)} s for ${what}; going on)`, true);
              resolve(null);
              return;
            }
            setTimeout(poll, POLL_MS);
          };
          poll();
        }),
    };
  }
}
