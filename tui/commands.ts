// The `:` command line: one table of commands {name, usage, args, run}, a parser that
// turns a wrong command or argument into its usage (never an exception at the top),
// Tab completion and history.

import type { ClusterStatus, JsonValue } from '../lib/cluster/types.js';
import type { NodeId } from '../lib/raft/types.js';
import { describeClientError } from './cluster-port.js';
import type { DashboardCluster, DashboardKv, LinkFaults } from './cluster-port.js';
import { formatGroups } from './format.js';
import { ErrorCode } from '../lib/cluster/errors.js';
import { describeMembership } from '../lib/cluster/membership.js';
import { assertNever } from '../lib/raft/assert.js';
import { MessageLevel } from './state.js';

/** Thrown by argument parsers; the dispatcher shows the command's usage with it. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  /** The command whose usage to show, when known at the throw site. */
  constructor(
    message: string,
    readonly spec: CommandSpec | null = null,
  ) {
    super(message);
  }
}

export const ArgKind = {
  /** A node id 1..N. */
  Node: 'node',
  /** A node id, `leader` or `all`. */
  Target: 'target',
  Key: 'key',
  Value: 'value',
  Groups: 'groups',
  Number: 'number',
  Scenario: 'scenario',
  /** `learner` or `voter`: what a node added by `:add` ends as. */
  MemberKind: 'member-kind',
  /** A node id that is a learner in the configuration. */
  Learner: 'learner',
  /** Node ids separated by commas (the voters of :voters). */
  Nodes: 'nodes',
  /** Node ids separated by commas, or `-` for none (the learners of :voters). */
  NodesOrNone: 'nodes-or-none',
} as const;
export type ArgKind = (typeof ArgKind)[keyof typeof ArgKind];

export interface ScenarioControl {
  list(): readonly { readonly name: string; readonly summary: string }[];
  start(name: string): void;
  advance(): void;
  /** Stops the running scenario and puts back what it changed; false when none was running. */
  stop(): boolean;
}

/** What a command may touch. The dashboard implements it; tests pass a recording fake. */
export interface CommandContext {
  readonly cluster: DashboardCluster;
  readonly kv: DashboardKv;
  readonly scenarios: ScenarioControl;
  status(): ClusterStatus;
  /** Shows a line in the status line (and errors/results in the event feed too). */
  report(text: string, level: MessageLevel): void;
  /** A client call's outcome: shown in the status line and the event feed. */
  clientResult(text: string, ok: boolean): void;
  linkFaults(): LinkFaults;
  setLinkFaults(faults: LinkFaults): void;
  setLoad(ratePerSecond: number): void;
  /** Slow motion; null restores the tick the cluster started with. */
  setTickMs(tickMs: number | null): void;
  select(id: NodeId): void;
  openHelp(): void;
  requestQuit(): void;
}

export interface CommandSpec {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly usage: string;
  readonly summary: string;
  /** For Tab completion and arity checks: the kinds of the positional arguments. */
  readonly args: readonly ArgKind[];
  /** Arguments that may be left out, counted from the end of `args`. */
  readonly optionalArgs: number;
  /** The last argument takes the rest of the line (values with spaces). */
  readonly restIsValue: boolean;
  /** Options it takes (`--force`), anywhere after the name; any other word starting with `--` is refused. */
  readonly flags: readonly string[];
  run(context: CommandContext, args: readonly string[], flags: ReadonlySet<string>): void | Promise<void>;
}

export const NO_LINK_FAULTS: LinkFaults = { dropRate: 0, delayMs: 0, duplicateRate: 0 };
/** Highest background load `:load` accepts, requests/s: the dashboard must stay cheap. */
export const MAX_LOAD_RATE_PER_SECOND = 2000;
/** Bounds for `:speed`: the tick in ms. */
export const MIN_TICK_MS = 1;
export const MAX_TICK_MS = 5000;
export const MAX_DELAY_MS = 10_000;
/** Nodes `:add` may grow the cluster to (the supervisor's limit, and what the screen is laid out for). */
export const MAX_NODES = 9;

// ---------------------------------------------------------------- argument parsers

export function parseNodeId(text: string | undefined, status: ClusterStatus): NodeId {
  if (text === undefined) throw new UsageError('missing node id');
  if (!/^\d+$/.test(text)) throw new UsageError(`'${text}' is not a node id`);
  const id = Number(text);
  if (!status.nodes.some((node) => node.id === id)) throw new UsageError(`no node ${id} (nodes are ${describeIds(status.nodes.map((node) => node.id))})`);
  return id;
}

/** "1..5" for a run of ids, "1, 2, 4, 6" once membership changes left gaps. */
export function describeIds(ids: readonly NodeId[]): string {
  const first = ids[0];
  const last = ids.at(-1);
  if (first === undefined || last === undefined) return 'none';
  return ids.length > 2 && last - first === ids.length - 1 ? `${first}..${last}` : ids.join(', ');
}

/** Node ids separated by commas (`:voters`), each a node of the cluster, none twice; ascending. */
function parseNodeList(text: string | undefined, status: ClusterStatus, missing: string): NodeId[] {
  if (text === undefined || text.trim() === '') throw new UsageError(missing);
  const seen = new Set<NodeId>();
  for (const idText of text.split(',')) {
    const id = parseNodeId(idText.trim(), status);
    if (seen.has(id)) throw new UsageError(`node ${id} twice`);
    seen.add(id);
  }
  return [...seen].sort((a, b) => a - b);
}

/**
 * A node that cannot campaign, refused as the core would ignore it (raw-node #mayCampaign):
 * a learner, or a node its own newest configuration leaves out once that has committed as
 * far as it knows. `:campaign` and the `e` key used to say "election timeout forced" and
 * nothing happened.
 */
function refuseIfCannotCampaign(status: ClusterStatus, id: NodeId): void {
  const node = status.nodes.find((candidate) => candidate.id === id);
  if (node === undefined || node.membership.voters.length === 0 || node.membership.voters.includes(id)) return;
  if (node.membership.learners.includes(id)) throw new UsageError(`n${id} is a learner: it never campaigns (:promote ${id} first)`);
  if (node.membershipIndex > node.commitIndex) return;
  throw new UsageError(`n${id} is not in the configuration it uses (${describeMembership(node.membership)}): it never campaigns`);
}

/** `:add`'s optional argument: true for a learner, false (the default) for a voter. */
export function parseMemberKind(text: string | undefined): boolean {
  if (text === undefined || text === 'voter') return false;
  if (text === 'learner') return true;
  throw new UsageError(`'${text}' is neither learner nor voter`);
}

/** A node that is a learner in the cluster's configuration (when the configuration is known). */
export function parseLearner(text: string | undefined, status: ClusterStatus): NodeId {
  const id = parseNodeId(text, status);
  const { voters, learners } = status.membership;
  if (voters.length > 0 && !learners.includes(id)) {
    const which = learners.length === 0 ? 'there are none' : `learners: ${learners.map((learner) => `n${learner}`).join(' ')}`;
    throw new UsageError(`n${id} is not a learner (${which})`);
  }
  return id;
}

/** A node id, `leader` (the current leader) or `all`. */
export function parseTarget(text: string | undefined, status: ClusterStatus, allowLeader: boolean): readonly NodeId[] {
  if (text === 'all') return status.nodes.map((node) => node.id);
  if (text === 'leader' && allowLeader) {
    if (status.leaderId === 0) throw new UsageError('there is no leader right now');
    return [status.leaderId];
  }
  return [parseNodeId(text, status)];
}

/**
 * "1,2|3,4,5": groups separated by |, ids by commas. A node may be in several groups
 * ("1,2,3|3,4,5": n3 bridges both halves); nodes in no group are cut off from all.
 */
export function parseGroups(text: string | undefined, status: ClusterStatus): readonly (readonly NodeId[])[] {
  if (text === undefined) throw new UsageError('missing groups');
  const groups = text.split('|').map((groupText) => {
    if (groupText.trim() === '') throw new UsageError(`empty group in '${text}'`);
    const seen = new Set<NodeId>();
    return groupText.split(',').map((idText) => {
      const id = parseNodeId(idText.trim(), status);
      if (seen.has(id)) throw new UsageError(`node ${id} twice in one group`);
      seen.add(id);
      return id;
    });
  });
  if (groups.length < 2) throw new UsageError('a partition needs at least two groups, e.g. 1,2|3,4,5');
  return groups;
}

/**
 * A number written in plain decimal ("20", "2.5", ".5"), as every raftlab command takes
 * its numbers: Number() alone also took "0x10", "1e3" and "0b11". With `integer`, a
 * whole one (the tick: the cluster refuses 1.5 ms, which used to get past here and come
 * back as "speed failed: INVALID_CONFIG").
 */
export function parseNumber(text: string | undefined, what: string, min: number, max: number, integer = false): number {
  if (text === undefined) throw new UsageError(`missing ${what}`);
  if (!/^-?(\d+(\.\d*)?|\.\d+)$/.test(text)) throw new UsageError(`'${text}' is not a number (plain decimal, e.g. ${min === 0 ? '0.5' : min})`);
  const value = Number(text);
  if (integer && !Number.isInteger(value)) throw new UsageError(`${what} must be a whole number, got ${text}`);
  if (value < min || value > max) throw new UsageError(`${what} must be between ${min} and ${max}`);
  return value;
}

/** A probability: "0.1" or "10%". */
export function parseRate(text: string | undefined, what: string): number {
  if (text === undefined) throw new UsageError(`missing ${what}`);
  if (text.endsWith('%')) return parseNumber(text.slice(0, -1), `${what} (%)`, 0, 100) / 100;
  return parseNumber(text, what, 0, 1);
}

/** Values are JSON when they parse as JSON ("12", "[1,2]", "null"), strings otherwise. */
export function parseValue(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

function parseKey(text: string | undefined): string {
  if (text === undefined || text === '') throw new UsageError('missing key');
  return text;
}

/** Characters of a value an echo shows; a longer one is cut and its length given. */
export const ECHO_VALUE_CHARS = 80;

/**
 * A value as the dashboard parsed it, for echoes and results: its JSON, except that a
 * number beyond a double's range (`1e999` parses as Infinity) shows as Infinity, where
 * JSON.stringify would write null; a long value (a pasted one, or a get of one written
 * through the library) is cut, so that it does not fill the event feed.
 */
export function formatValue(value: JsonValue): string {
  const text = valueText(value);
  return text.length <= ECHO_VALUE_CHARS ? text : `${text.slice(0, ECHO_VALUE_CHARS)}... (${text.length} chars)`;
}

function valueText(value: JsonValue): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (Array.isArray(value)) return `[${value.map(valueText).join(',')}]`;
  if (value !== null && typeof value === 'object') return `{${Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}:${valueText(item)}`).join(',')}}`;
  return JSON.stringify(value);
}

// ---------------------------------------------------------------- client calls

async function clientCall<T>(context: CommandContext, description: string, call: () => Promise<T>, describe: (result: T) => string): Promise<void> {
  const startedMs = performance.now();
  try {
    const result = await call();
    context.clientResult(`${description} -> ${describe(result)} (${Math.round(performance.now() - startedMs)} ms)`, true);
  } catch (error: unknown) {
    const failure = describeClientError(error);
    const outcome = failure.indeterminate ? 'outcome unknown' : 'did not happen';
    context.clientResult(`${description} -> ${failure.code} (${outcome}): ${failure.message}`, false);
  }
}

async function forEachNode(ids: readonly NodeId[], action: (id: NodeId) => Promise<unknown>): Promise<void> {
  await Promise.all(ids.map((id) => action(id)));
}

// ---------------------------------------------------------------- the table

function command(spec: Omit<CommandSpec, 'aliases' | 'optionalArgs' | 'restIsValue' | 'flags'> & Partial<Pick<CommandSpec, 'aliases' | 'optionalArgs' | 'restIsValue' | 'flags'>>): CommandSpec {
  return { aliases: [], optionalArgs: 0, restIsValue: false, flags: [], ...spec };
}

/**
 * `--force` on a membership command: propose a change of the voters even when too few of
 * its new voters run and reach the leader for it to commit (the library's `{ force: true }`;
 * refused otherwise with MEMBERSHIP_CHANGE_UNSAFE). The cluster then takes no write until
 * enough of them are back.
 */
export const FORCE_FLAG = '--force';

/** The options object a membership call takes: `force` only when asked for. */
function forceOption(flags: ReadonlySet<string>): { readonly force?: true } {
  return flags.has(FORCE_FLAG) ? { force: true } : {};
}

/** What a forced call adds to its progress line. */
function forcedNote(flags: ReadonlySet<string>): string {
  return flags.has(FORCE_FLAG) ? ' (--force: proposed even if its voters cannot commit it)' : '';
}

export const COMMANDS: readonly CommandSpec[] = [
  command({
    name: 'put',
    usage: 'put KEY VALUE',
    summary: 'write a value (JSON or text)',
    args: [ArgKind.Key, ArgKind.Value],
    restIsValue: true,
    run: (context, [keyText, valueText]) => {
      const key = parseKey(keyText);
      if (valueText === undefined) throw new UsageError('missing value');
      const value = parseValue(valueText);
      return clientCall(context, `put ${key}=${formatValue(value)}`, () => context.kv.put(key, value), () => 'ok');
    },
  }),
  command({
    name: 'get',
    usage: 'get KEY',
    summary: 'linearizable read (ReadIndex)',
    args: [ArgKind.Key],
    run: (context, [keyText]) => {
      const key = parseKey(keyText);
      return clientCall(context, `get ${key}`, () => context.kv.get(key), formatValue);
    },
  }),
  command({
    name: 'del',
    aliases: ['delete'],
    usage: 'del KEY',
    summary: 'delete a key',
    args: [ArgKind.Key],
    run: (context, [keyText]) => {
      const key = parseKey(keyText);
      return clientCall(context, `del ${key}`, () => context.kv.delete(key), () => 'ok');
    },
  }),
  command({
    name: 'append',
    usage: 'append KEY VALUE',
    summary: 'append to the list at KEY',
    args: [ArgKind.Key, ArgKind.Value],
    restIsValue: true,
    run: (context, [keyText, valueText]) => {
      const key = parseKey(keyText);
      if (valueText === undefined) throw new UsageError('missing value');
      const value = parseValue(valueText);
      return clientCall(context, `append ${key}+${formatValue(value)}`, () => context.kv.append(key, value), () => 'ok');
    },
  }),
  command({
    name: 'cas',
    usage: 'cas KEY EXPECTED NEW',
    summary: 'compare-and-set (null = absent)',
    args: [ArgKind.Key, ArgKind.Value, ArgKind.Value],
    run: (context, [keyText, expectedText, nextText]) => {
      const key = parseKey(keyText);
      if (expectedText === undefined || nextText === undefined) throw new UsageError('needs EXPECTED and NEW');
      const expected = parseValue(expectedText);
      const next = parseValue(nextText);
      return clientCall(context, `cas ${key} ${formatValue(expected)}->${formatValue(next)}`, () => context.kv.cas(key, expected, next), (swapped) => (swapped ? 'swapped' : 'not swapped'));
    },
  }),
  command({
    name: 'crash',
    usage: 'crash ID|leader|all',
    summary: 'hard-stop node(s) (worker.terminate)',
    args: [ArgKind.Target],
    run: async (context, [targetText]) => {
      const status = context.status();
      const ids = parseTarget(targetText, status, true).filter((id) => status.nodes.find((node) => node.id === id)?.alive === true);
      if (ids.length === 0) throw new UsageError(`${targetText ?? ''} is already down`);
      context.report(`crashing ${ids.map((id) => `n${id}`).join(' ')}`, MessageLevel.Info);
      await forEachNode(ids, (id) => context.cluster.crash(id));
      context.report(`crashed ${ids.map((id) => `n${id}`).join(' ')}`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'restart',
    usage: 'restart ID|all',
    summary: 'start crashed node(s) on their files',
    args: [ArgKind.Target],
    run: async (context, [targetText]) => {
      const status = context.status();
      const targets = parseTarget(targetText, status, false);
      const ids = targets.filter((id) => status.nodes.find((node) => node.id === id)?.alive === false);
      if (ids.length === 0) {
        context.report(`${targetText === 'all' ? 'every node is' : `n${targets[0] ?? ''} is`} up: nothing to restart`, MessageLevel.Info);
        return;
      }
      context.report(`restarting ${ids.map((id) => `n${id}`).join(' ')}`, MessageLevel.Info);
      // A node shown down may be starting already (a scenario putting back what it crashed,
      // an `r` pressed twice): the cluster says NODE_ALREADY_RUNNING, which is not a failure
      // of this restart ("restart failed" said so, and the rest of the line was lost).
      const starting: NodeId[] = [];
      await forEachNode(ids, async (id) => {
        try {
          await context.cluster.restart(id);
        } catch (error: unknown) {
          if (describeClientError(error).code !== ErrorCode.NodeAlreadyRunning) throw error;
          starting.push(id);
        }
      });
      const restarted = ids.filter((id) => !starting.includes(id));
      const already = starting.length === 0 ? '' : `${restarted.length === 0 ? '' : '; '}${starting.map((id) => `n${id}`).join(' ')} already starting or up`;
      context.report(`${restarted.length === 0 ? '' : `restarted ${restarted.map((id) => `n${id}`).join(' ')}`}${already}`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'add',
    usage: 'add [learner|voter] [--force]',
    summary: 'start a node: it joins as a learner, a voter once caught up (learner: it stays one)',
    args: [ArgKind.MemberKind],
    optionalArgs: 1,
    flags: [FORCE_FLAG],
    run: async (context, [kindText], flags) => {
      const learner = parseMemberKind(kindText);
      const kind = learner ? 'learner' : 'voter';
      if (context.status().nodes.length >= MAX_NODES) throw new UsageError(`the cluster already has ${MAX_NODES} nodes; :remove one first`);
      context.report(`adding a ${kind}: starting a node, then catching it up...${learner ? '' : forcedNote(flags)}`, MessageLevel.Info);
      const id = await context.cluster.addNode({ learner, ...forceOption(flags) });
      context.report(`added n${id} as a ${kind}`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'promote',
    usage: 'promote ID [--force]',
    summary: 'make a learner a voter (once caught up)',
    args: [ArgKind.Learner],
    flags: [FORCE_FLAG],
    run: async (context, [idText], flags) => {
      const id = parseLearner(idText, context.status());
      context.report(`promoting n${id} to voter...${forcedNote(flags)}`, MessageLevel.Info);
      await context.cluster.promote(id, forceOption(flags));
      context.report(`n${id} is a voter`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'remove',
    aliases: ['rm'],
    usage: 'remove ID|leader [--force]',
    summary: 'take a node out of the cluster and stop it',
    args: [ArgKind.Target],
    flags: [FORCE_FLAG],
    run: async (context, [targetText], flags) => {
      if (targetText === 'all') throw new UsageError('remove takes one node');
      const status = context.status();
      const [id] = parseTarget(targetText, status, true);
      if (id === undefined) throw new UsageError('missing node id');
      if (status.nodes.length === 1) throw new UsageError(`n${id} is the last node`);
      context.report(`removing n${id}...${forcedNote(flags)}`, MessageLevel.Info);
      await context.cluster.removeNode(id, forceOption(flags));
      context.report(`removed n${id}`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'voters',
    usage: 'voters 1,4,5 [2,3|-] [--force]',
    summary: 'make exactly these the voters (and these the learners), in one joint change',
    args: [ArgKind.Nodes, ArgKind.NodesOrNone],
    optionalArgs: 1,
    flags: [FORCE_FLAG],
    run: async (context, [votersText, learnersText], flags) => {
      const status = context.status();
      const voters = parseNodeList(votersText, status, 'missing node ids, e.g. :voters 1,4,5');
      const learners = learnersText === undefined ? undefined : learnersText.trim() === '-' ? [] : parseNodeList(learnersText, status, 'missing learner ids');
      const both = (learners ?? []).filter((id) => voters.includes(id));
      if (both.length > 0) throw new UsageError(`n${both[0]} cannot be both a voter and a learner`);
      const list = (ids: readonly NodeId[]): string => (ids.length === 0 ? 'none' : ids.map((id) => `n${id}`).join(','));
      const andLearners = learners === undefined ? '' : `, learners ${list(learners)}`;
      context.report(`making ${list(voters)} the voters${andLearners} (joint consensus: old and new majorities both decide until it ends)...${forcedNote(flags)}`, MessageLevel.Info);
      await context.cluster.setVoters(voters, { ...(learners === undefined ? {} : { learners }), ...forceOption(flags) });
      context.report(`the voters are ${list(voters)}${andLearners}`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'partition',
    usage: 'partition 1,2|3,4,5',
    summary: 'split the network (1,2,3|3,4,5: n3 bridges)',
    args: [ArgKind.Groups],
    run: (context, [groupsText]) => {
      const groups = parseGroups(groupsText, context.status());
      context.cluster.partition(groups);
      context.report(`partitioned ${formatGroups(groups)}`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'isolate',
    usage: 'isolate ID|leader',
    summary: 'cut one node off from all others',
    args: [ArgKind.Target],
    run: (context, [targetText]) => {
      const status = context.status();
      if (targetText === 'all') throw new UsageError('isolate takes one node');
      const [id] = parseTarget(targetText, status, true);
      if (id === undefined) throw new UsageError('missing node id');
      const others = status.nodes.map((node) => node.id).filter((other) => other !== id);
      // Not passed on as a partition with an empty group, which the cluster refused in its own words.
      if (others.length === 0) throw new UsageError(`n${id} is the only node: there is no other to cut it off from`);
      context.cluster.partition([[id], others]);
      context.report(`isolated n${id}`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'heal',
    usage: 'heal',
    summary: 'remove partitions, cut links and link faults',
    args: [],
    run: (context) => {
      context.cluster.heal();
      context.setLinkFaults(NO_LINK_FAULTS);
      context.report('healed: every link is up, no faults', MessageLevel.Ok);
    },
  }),
  command({
    name: 'cut',
    usage: 'cut FROM TO',
    summary: 'cut the one-way link FROM -> TO',
    args: [ArgKind.Node, ArgKind.Node],
    run: (context, [fromText, toText]) => {
      const status = context.status();
      const from = parseNodeId(fromText, status);
      const to = parseNodeId(toText, status);
      if (from === to) throw new UsageError('FROM and TO must differ');
      context.cluster.cutLink(from, to);
      context.report(`cut n${from} -> n${to}`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'drop',
    usage: 'drop RATE (0.1 or 10%)',
    summary: 'drop that share of all messages',
    args: [ArgKind.Number],
    run: (context, [rateText]) => {
      const dropRate = parseRate(rateText, 'drop rate');
      context.setLinkFaults({ ...context.linkFaults(), dropRate });
      context.report(`dropping ${Math.round(dropRate * 100)}% of messages`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'delay',
    usage: 'delay MS',
    summary: 'delay every message by MS',
    args: [ArgKind.Number],
    run: (context, [delayText]) => {
      const delayMs = parseNumber(delayText, 'delay (ms)', 0, MAX_DELAY_MS);
      context.setLinkFaults({ ...context.linkFaults(), delayMs });
      context.report(`delaying messages by ${delayMs} ms`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'dup',
    usage: 'dup RATE (0.1 or 10%)',
    summary: 'deliver that share of messages twice',
    args: [ArgKind.Number],
    run: (context, [rateText]) => {
      const duplicateRate = parseRate(rateText, 'duplicate rate');
      context.setLinkFaults({ ...context.linkFaults(), duplicateRate });
      context.report(`duplicating ${Math.round(duplicateRate * 100)}% of messages`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'load',
    usage: 'load RATE|stop',
    summary: 'steady background puts per second',
    args: [ArgKind.Number],
    run: (context, [rateText]) => {
      if (rateText === 'stop' || rateText === 'off') {
        context.setLoad(0);
        context.report('load stopped', MessageLevel.Ok);
        return;
      }
      const rate = parseNumber(rateText, 'rate', 0, MAX_LOAD_RATE_PER_SECOND);
      context.setLoad(rate);
      context.report(rate === 0 ? 'load stopped' : `load: ${rate} puts/s`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'campaign',
    aliases: ['elect'],
    usage: 'campaign ID',
    summary: "fire the node's election timer now",
    args: [ArgKind.Node],
    run: (context, [idText]) => {
      const status = context.status();
      const id = parseNodeId(idText, status);
      refuseIfCannotCampaign(status, id);
      context.cluster.campaign(id);
      context.report(`n${id}: election timeout forced`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'transfer',
    usage: 'transfer ID',
    summary: 'hand leadership to ID (thesis 3.10)',
    args: [ArgKind.Node],
    run: (context, [idText]) => {
      const status = context.status();
      const id = parseNodeId(idText, status);
      // The leader hands over to one of its voters only (raw-node ignores anything else):
      // without this the line said "asked the leader to transfer" and nothing happened.
      const { voters, learners } = status.membership;
      if (voters.length > 0 && !voters.includes(id)) {
        throw new UsageError(learners.includes(id) ? `n${id} is a learner: only a voter can lead (:promote ${id} first)` : `n${id} is not in the configuration (${describeMembership(status.membership)}): it cannot lead`);
      }
      context.cluster.transferLeadership(id);
      context.report(`asked the leader to transfer leadership to n${id}`, MessageLevel.Ok);
    },
  }),
  command({
    name: 'speed',
    usage: 'speed TICK_MS|normal',
    summary: 'slow motion: stretch the Raft tick',
    args: [ArgKind.Number],
    run: (context, [tickText]) => {
      const tickMs = tickText === 'normal' ? null : parseNumber(tickText, 'tick (ms)', MIN_TICK_MS, MAX_TICK_MS, true);
      context.setTickMs(tickMs);
    },
  }),
  command({
    name: 'select',
    usage: 'select ID',
    summary: 'select a node for the single-key actions',
    args: [ArgKind.Node],
    run: (context, [idText]) => {
      context.select(parseNodeId(idText, context.status()));
    },
  }),
  command({
    name: 'scenario',
    usage: 'scenario [NAME|stop]',
    summary: 'guided scenario; alone: list them',
    args: [ArgKind.Scenario],
    optionalArgs: 1,
    run: (context, [nameText]) => {
      const scenarios = context.scenarios.list();
      if (nameText === undefined) {
        context.report(`scenarios: ${scenarios.map((scenario) => scenario.name).join(', ')}`, MessageLevel.Info);
        return;
      }
      if (nameText === 'stop') {
        if (context.scenarios.stop()) context.report('scenario stopped: putting back what it changed (see the events)', MessageLevel.Ok);
        else context.report('no scenario is running: nothing to stop', MessageLevel.Info);
        return;
      }
      if (!scenarios.some((scenario) => scenario.name === nameText)) throw new UsageError(`no scenario '${nameText}'; try: ${scenarios.map((scenario) => scenario.name).join(', ')}`);
      context.scenarios.start(nameText);
    },
  }),
  command({
    name: 'next',
    usage: 'next',
    summary: 'run the next step of the scenario (key n)',
    args: [],
    run: (context) => {
      context.scenarios.advance();
    },
  }),
  command({
    name: 'help',
    usage: 'help',
    summary: 'every key and command',
    args: [],
    run: (context) => {
      context.openHelp();
    },
  }),
  command({
    name: 'quit',
    aliases: ['q', 'exit'],
    usage: 'quit',
    summary: 'stop the cluster and leave (asks first)',
    args: [],
    run: (context) => {
      context.requestQuit();
    },
  }),
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((spec) => spec.name === name || spec.aliases.includes(name));
}

// ---------------------------------------------------------------- parsing and dispatch

export interface ParsedLine {
  readonly spec: CommandSpec;
  readonly args: readonly string[];
  readonly flags: ReadonlySet<string>;
}

/** Splits a line into a command and its arguments, checking arity. Throws UsageError. */
export function parseLine(line: string): ParsedLine {
  const text = line.trim();
  const words = text.split(/\s+/).filter((word) => word !== '');
  const [name, ...rest] = words;
  if (name === undefined) throw new UsageError('empty command; type help');
  const spec = findCommand(name);
  if (spec === undefined) throw new UnknownCommandError(name);
  const maximum = spec.args.length;
  const minimum = maximum - spec.optionalArgs;
  // Options, for the commands that take any: anywhere after the name, each once.
  const flags = new Set<string>();
  let args = rest;
  if (spec.flags.length > 0) {
    args = rest.filter((word) => {
      if (!word.startsWith('--')) return true;
      if (!spec.flags.includes(word)) throw new UsageError(`${spec.name}: unknown option '${word}' (it takes ${spec.flags.join(', ')})`, spec);
      if (flags.has(word)) throw new UsageError(`${spec.name}: ${word} given twice`, spec);
      flags.add(word);
      return false;
    });
  }
  if (spec.restIsValue && args.length > maximum) {
    // The value keeps its spaces as typed: "put greeting hello world", and `put k "a  b"`
    // stores "a  b" (joining its words again with one space stored "a b").
    args = [...args.slice(0, maximum - 1), spec.flags.length === 0 ? restOfLine(text, maximum) : args.slice(maximum - 1).join(' ')];
  }
  if (args.length < minimum) throw new UsageError(`${spec.name}: missing argument`, spec);
  if (args.length > maximum) throw new UsageError(`${spec.name}: too many arguments`, spec);
  return { spec, args, flags };
}

/** The line from its `words`-th word after the command's name on, as typed. */
function restOfLine(text: string, words: number): string {
  const pattern = /\S+/g;
  for (let word = 0; word < words; word++) pattern.exec(text);
  const start = pattern.exec(text);
  if (start === null) throw new Error(`restOfLine: '${text}' has no word ${words + 1}`);
  return text.slice(start.index);
}

export class UnknownCommandError extends UsageError {
  constructor(readonly commandName: string) {
    super(`unknown command '${commandName}'; type help for the list`);
  }
}

/** Runs one command line. Never throws: every failure ends up in the status line. */
export async function executeLine(line: string, context: CommandContext): Promise<void> {
  let parsed: ParsedLine | undefined;
  try {
    parsed = parseLine(line);
    await parsed.spec.run(context, parsed.args, parsed.flags);
  } catch (error: unknown) {
    const spec = parsed?.spec ?? (error instanceof UsageError ? (error.spec ?? undefined) : undefined);
    if (error instanceof UsageError) {
      context.report(spec === undefined ? error.message : `${error.message} -- usage: ${spec.usage}`, MessageLevel.Error);
    } else {
      context.report(describeFailure(spec?.name ?? 'command', line, parsed?.flags ?? new Set(), error), MessageLevel.Error);
    }
  }
}

/** The library's pointer at its own option, which the dashboard replaces by its `--force`. */
const LIBRARY_FORCE_HINT = / ?\(with \{ force: true \} it is, ([^)]*)\)/;

/**
 * A command's failure: its code and message; for a change refused as unsafe
 * (MEMBERSHIP_CHANGE_UNSAFE), the command line that proposes it anyway instead of the
 * library's `{ force: true }`, which nobody can type here. A voter `:add` refused so has
 * left its node a learner: `:promote ID --force` is the way on, not another `:add`.
 */
export function describeFailure(name: string, line: string, flags: ReadonlySet<string>, error: unknown): string {
  const failure = describeClientError(error);
  const text = `${name} failed: ${failure.code}: ${failure.message}`;
  // And a learner made a voter while it is down (NODE_NOT_RUNNING, with the same pointer).
  const forcible = failure.code === 'MEMBERSHIP_CHANGE_UNSAFE' || (failure.code === 'NODE_NOT_RUNNING' && LIBRARY_FORCE_HINT.test(failure.message));
  if (!forcible || flags.has(FORCE_FLAG)) return text;
  const newcomer = name === 'add' ? /cannot make n(\d+) a voter/.exec(failure.message) : null;
  const retry = newcomer === null ? `${line.trim().replace(/\s+/g, ' ')} ${FORCE_FLAG}` : `promote ${newcomer[1]} ${FORCE_FLAG}`;
  const then = LIBRARY_FORCE_HINT.exec(failure.message)?.[1] ?? 'and the cluster takes no write until enough of them are back';
  const stays = newcomer === null ? '' : `n${newcomer[1]} stays a learner; `;
  return `${name} refused: ${failure.code}: ${failure.message.replace(LIBRARY_FORCE_HINT, '')} -- ${stays}':${retry}' proposes it anyway, ${then}`;
}

// ---------------------------------------------------------------- completion and history

export interface Completion {
  /** The line after completing as far as all candidates agree. */
  readonly line: string;
  /** Every candidate for the word being completed (shown when there are several). */
  readonly candidates: readonly string[];
}

export function complete(line: string, status: ClusterStatus, scenarioNames: readonly string[]): Completion {
  const endsWithSpace = /\s$/.test(line);
  const words = line.trimStart().split(/\s+/).filter((word) => word !== '');
  const current = endsWithSpace ? '' : (words.pop() ?? '');
  const before = words;
  let pool: readonly string[];
  if (before.length === 0) {
    pool = COMMANDS.map((spec) => spec.name);
  } else {
    const spec = findCommand(before[0] ?? '');
    // Options (`--force`) complete anywhere and take no argument's place.
    const flags = spec?.flags ?? [];
    const kind = spec?.args[before.filter((word) => !flags.includes(word)).length - 1];
    if (current.startsWith('-') && flags.length > 0) pool = flags.filter((flag) => !before.includes(flag));
    else pool = kind === undefined ? [] : candidatesFor(kind, status, scenarioNames, spec?.name ?? '');
  }
  const candidates = pool.filter((candidate) => candidate.startsWith(current));
  if (candidates.length === 0) return { line, candidates };
  const prefix = commonPrefix(candidates);
  const completedWord = candidates.length === 1 ? `${prefix} ` : prefix;
  return { line: [...before, completedWord].join(' '), candidates };
}

function candidatesFor(kind: ArgKind, status: ClusterStatus, scenarioNames: readonly string[], commandName: string): readonly string[] {
  const ids = status.nodes.map((node) => String(node.id));
  switch (kind) {
    case 'node':
      return ids;
    case 'target':
      if (commandName === 'restart') return [...ids, 'all'];
      if (commandName === 'isolate' || commandName === 'remove') return [...ids, 'leader'];
      return [...ids, 'leader', 'all'];
    case 'member-kind':
      return ['learner', 'voter'];
    case 'learner':
      return status.membership.learners.map(String);
    case 'scenario':
      return [...scenarioNames, 'stop'];
    case 'number':
      return commandName === 'load' ? ['stop'] : commandName === 'speed' ? ['normal'] : [];
    case 'nodes':
      return [status.membership.voters.join(','), ...ids];
    case 'nodes-or-none':
      return [...(status.membership.learners.length > 0 ? [status.membership.learners.join(',')] : []), '-', ...ids];
    case 'key':
    case 'value':
    case 'groups':
      return [];
    default:
      return assertNever(kind);
  }
}

function commonPrefix(words: readonly string[]): string {
  const [first, ...rest] = words;
  if (first === undefined) return '';
  let length = first.length;
  for (const word of rest) {
    while (length > 0 && word.slice(0, length) !== first.slice(0, length)) length--;
  }
  return first.slice(0, length);
}

/** Lines kept in the command history. */
export const HISTORY_CAPACITY = 200;

/** Up/down recall, shell-style: up walks back, down walks forward to the line being typed. */
export class CommandHistory {
  readonly #lines: string[] = [];
  #position = 0;
  #draft = '';

  push(line: string): void {
    const trimmed = line.trim();
    if (trimmed !== '' && this.#lines.at(-1) !== trimmed) this.#lines.push(trimmed);
    if (this.#lines.length > HISTORY_CAPACITY) this.#lines.shift();
    this.#position = this.#lines.length;
    this.#draft = '';
  }

  previous(current: string): string {
    if (this.#position === this.#lines.length) this.#draft = current;
    if (this.#position > 0) this.#position--;
    return this.#lines[this.#position] ?? current;
  }

  next(): string {
    if (this.#position < this.#lines.length) this.#position++;
    return this.#position === this.#lines.length ? this.#draft : (this.#lines[this.#position] ?? this.#draft);
  }
}
