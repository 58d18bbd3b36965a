// The panes: pure functions from (ClusterStatus, recent events, UI state) to
// blessed-tagged lines. No blessed import here, so every pane is tested headlessly
// by calling it and reading the text (stripTags) it produces.

import { EventKind, SLOW_FSYNC_THRESHOLDS_MS } from '../lib/cluster/types.js';
import type { ClusterStatus, NodeStatus } from '../lib/cluster/types.js';
import type { NodeId } from '../lib/raft/types.js';
import { describeMembership, memberKind } from '../lib/cluster/membership.js';
import {
  DownDisplay,
  RoleDisplay,
  bar,
  bold,
  color,
  escapeTags,
  fit,
  fitRight,
  formatBytes,
  formatClock,
  formatGroups,
  formatMs,
  stripTags,
  termColor,
} from './format.js';
import type { FeedEntry, UiState } from './state.js';
import { assertNever } from '../lib/raft/assert.js';

// ---------------------------------------------------------------- cluster facts

export function majority(nodeCount: number): number {
  return Math.floor(nodeCount / 2) + 1;
}

/**
 * The voters: the nodes whose majorities elect and commit (thesis §4). While no node has
 * reported a configuration, every node listed.
 */
export function voterIds(status: ClusterStatus): readonly NodeId[] {
  return status.membership.voters.length > 0 ? status.membership.voters : status.nodes.map((node) => node.id);
}

/** What `id` is in the cluster's configuration; 'voter' while it is not known. */
export function nodeKind(status: ClusterStatus, id: NodeId): 'voter' | 'learner' | 'none' {
  return status.membership.voters.length === 0 ? 'voter' : memberKind(status.membership, id);
}

/** The groups nodes can talk within: the partition in force, or everyone. */
export function connectivityGroups(status: ClusterStatus): readonly (readonly NodeId[])[] {
  const allIds = status.nodes.map((node) => node.id);
  if (status.partition === null) return [allIds];
  const grouped = new Set(status.partition.flat());
  // A node left out of every group is alone.
  const loners = allIds.filter((id) => !grouped.has(id)).map((id) => [id]);
  return [...status.partition, ...loners];
}

/**
 * Quorum is OK when some set of nodes that can talk to each other holds a majority of
 * live nodes: only then can an entry be committed (§5.3) or a leader elected (§5.2).
 */
export function quorumOk(status: ClusterStatus): boolean {
  const voters = voterIds(status);
  // While joint (thesis §4.3), a majority of the old voters is needed as well.
  const outgoing = status.membership.outgoing ?? [];
  const voterSets = outgoing.length > 0 ? [voters, outgoing] : [voters];
  const alive = new Set(status.nodes.filter((node) => node.alive).map((node) => node.id));
  return connectivityGroups(status).some((group) =>
    voterSets.every((set) => group.filter((id) => alive.has(id) && set.includes(id)).length >= majority(set.length)),
  );
}

/** Which partition groups a node is in, as letters ("A", "B", "A+B" for a bridge); "-" when none is in force. */
export function groupLabel(status: ClusterStatus, id: NodeId): string {
  if (status.partition === null) return '-';
  const letters = connectivityGroups(status).flatMap((group, index) => (group.includes(id) ? [String.fromCharCode('A'.charCodeAt(0) + index)] : []));
  return letters.length === 0 ? '?' : letters.join('+');
}

/**
 * The index of the configuration entry the cluster uses while no node has seen it commit,
 * or null: a membership change under way, or one forced (`:remove ID --force`) whose new
 * voters cannot commit it yet. Read from the node whose configuration the status reports
 * (the leader, else the running node with the longest log); committed once any node's
 * commit index has reached it.
 */
export function uncommittedConfigIndex(status: ClusterStatus): number | null {
  const source =
    leaderNode(status) ?? status.nodes.filter((node) => node.alive).reduce<NodeStatus | undefined>((best, node) => (best === undefined || node.lastLogIndex > best.lastLogIndex ? node : best), undefined);
  if (source === undefined || source.membershipIndex === 0) return null;
  const committed = Math.max(0, ...status.nodes.map((node) => node.commitIndex));
  return source.membershipIndex > committed ? source.membershipIndex : null;
}

export function leaderNode(status: ClusterStatus): NodeStatus | undefined {
  if (status.leaderId === 0) return undefined;
  return status.nodes.find((node) => node.id === status.leaderId && node.alive);
}

/** A learner receives the log but neither votes nor counts (thesis §4.2.1). */
export const LearnerDisplay = { word: 'LEARNER', symbol: '+', color: 'cyan' } as const;
/** A running node outside the configuration: added and not yet a learner, or removed and not yet stopped. */
export const NonMemberDisplay = { word: 'NON-MEMBER', symbol: 'o', color: 'gray' } as const;

/**
 * A node restarted (or added) that has not reported yet: the supervisor shows it as a
 * follower with an empty log (lib/cluster: what it knew before is not what it knows now)
 * until its first status, a tenth of a second or more later. Shown as such, not as a node
 * with no entries: the table read `0/0`, `0B`, and with every node restarted the status
 * bar `commit 0`.
 */
export function awaitingReport(node: NodeStatus): boolean {
  return node.alive && node.reportedAt === 0;
}

/** The role cell of a node that has not reported since it started. */
export const StartingDisplay = { word: 'STARTING', symbol: '.', color: 'yellow' } as const;

function roleCell(node: NodeStatus, status: ClusterStatus): { readonly text: string; readonly color: string } {
  const kind = nodeKind(status, node.id);
  if (awaitingReport(node)) return { text: `${StartingDisplay.symbol} ${StartingDisplay.word}`, color: StartingDisplay.color };
  if (!node.alive) return { text: `${DownDisplay.symbol} ${DownDisplay.word}${kind === 'learner' ? `/${LearnerDisplay.word}` : ''}`, color: DownDisplay.color };
  if (node.role !== 'leader' && kind === 'learner') return { text: `${LearnerDisplay.symbol} ${LearnerDisplay.word}`, color: LearnerDisplay.color };
  if (node.role !== 'leader' && kind === 'none') return { text: `${NonMemberDisplay.symbol} ${NonMemberDisplay.word}`, color: NonMemberDisplay.color };
  const display = RoleDisplay[node.role];
  return { text: `${display.symbol} ${display.word}`, color: display.color };
}

/**
 * Columns a node's name takes where names line up: "n" and two digits. Ids are never
 * reused, so after a few :add and :remove they pass 9 while the cluster holds 9 at most.
 */
const NODE_NAME_WIDTH = 3;

/** "n4 " or "n13": a node's name padded to line up with two-digit ids. */
function nodeName(id: NodeId): string {
  return fit(`n${id}`, NODE_NAME_WIDTH);
}

// ---------------------------------------------------------------- status bar

/**
 * A part of the status bar. On a narrow screen the part with the lowest `dropRank` goes
 * first, or is shortened to `short`; a part without a rank stays.
 */
interface StatusPart {
  readonly text: string;
  readonly dropRank?: number;
  readonly short?: string;
}

/**
 * The status bar, in at most `width` columns where it can: on a narrow screen latency,
 * throughput, fsync and commit are left out, in that order (a warning `fsync OFF` last),
 * then the quorum loses its count and the separators their spaces, so that leader,
 * term, quorum and the badges stay.
 */
export function renderStatusBar(status: ClusterStatus, ui: UiState, width = Infinity): string {
  const parts: StatusPart[] = [];
  const leader = leaderNode(status);
  parts.push({ text: leader === undefined ? `leader ${color('red', bold('none'))}` : `leader ${color('green', bold(`n${leader.id}`))}` });
  parts.push({ text: termText(status) });
  const reported = status.nodes.filter((node) => !awaitingReport(node));
  const commit = leader?.commitIndex ?? (reported.length === 0 ? '-' : Math.max(0, ...reported.map((node) => node.commitIndex)));
  parts.push({ text: `commit ${commit}`, dropRank: 4 });
  // Counted over the voters: learners do not make a quorum.
  const voters = voterIds(status);
  const up = status.nodes.filter((node) => node.alive && voters.includes(node.id)).length;
  const quorum = quorumOk(status) ? `quorum ${color('green', 'OK')}` : `quorum ${color('red', bold('LOST'))}`;
  parts.push({ text: `${quorum} (${up}/${voters.length} up)`, short: quorum, dropRank: 6 });
  parts.push({ text: `${formatRate(status.opsPerSecond)} ops/s`, dropRank: 2 });
  parts.push({ text: `p50 ${formatMs(status.latencyMsP50)} p99 ${formatMs(status.latencyMsP99)}`, dropRank: 1 });
  parts.push(status.fsync ? { text: 'fsync on', dropRank: 3 } : { text: color('yellow', 'fsync OFF'), dropRank: 5 });
  const badges: Badge[] = [];
  if (status.partition !== null) {
    const groups = formatGroups(status.partition);
    badges.push({ colour: 'magenta', text: `PARTITION ${groups}`, short: `PART ${groups}` });
  }
  if (status.cutLinks.length > 0) {
    badges.push({ colour: 'magenta', text: `CUT ${status.cutLinks.map(([from, to]) => `${from}>${to}`).join(' ')}`, short: `CUT ${status.cutLinks.length}` });
  }
  if (status.membership.learners.length > 0) {
    const learners = status.membership.learners.map((id) => `n${id}`).join(' ');
    badges.push({ colour: 'cyan', text: `LEARNERS ${learners}`, short: `L ${learners}` });
  }
  const outgoing = (status.membership.outgoing ?? []).map((id) => `n${id}`).join(' ');
  if (outgoing.length > 0) badges.push({ colour: 'yellow', text: `JOINT: old voters ${outgoing} decide too`, short: `JOINT ${outgoing}` });
  const pending = uncommittedConfigIndex(status);
  if (pending !== null) badges.push({ colour: 'yellow', text: `CONFIG @${pending} NOT COMMITTED`, short: `CFG @${pending}?` });
  if (ui.normalTickMs > 0 && status.tickMs > ui.normalTickMs) badges.push({ colour: 'yellow', text: `SLOW tick ${status.tickMs}ms`, short: `SLOW ${status.tickMs}ms` });
  if (ui.loadRatePerSecond > 0) badges.push({ colour: 'cyan', text: `LOAD ${ui.loadRatePerSecond}/s`, short: `LOAD ${ui.loadRatePerSecond}` });
  if (ui.scenario !== null) {
    const progress = `${ui.scenario.stepsDone}/${ui.scenario.stepsTotal}`;
    badges.push({ colour: 'cyan', text: `SCENARIO ${escapeTags(ui.scenario.name)} ${progress}`, short: `SCN ${progress}` });
  }
  let shown: StatusPart[] = [...parts];
  for (;;) {
    const line = ' ' + shown.map((part) => part.text).join(' | ');
    const rest = badges.map((badge) => badgeText(badge, false)).join(' | ');
    const whole = rest.length === 0 ? line : `${line} | ${rest}`;
    if (stripTags(whole).length <= width) return whole;
    const droppable = shown.filter((part) => part.dropRank !== undefined);
    if (droppable.length === 0) break;
    const first = droppable.reduce((lowest, part) => ((part.dropRank ?? 0) < (lowest.dropRank ?? 0) ? part : lowest));
    shown = shown.flatMap((part) => (part !== first ? [part] : part.short === undefined ? [] : [{ text: part.short }]));
  }
  // Still too wide with every part at its shortest: the separators lose their spaces,
  // then the badges take their short forms, the last first, and at the end those that
  // do not fit give way to a count of them, so that none is cut in the middle.
  const head = ' ' + shown.map((part) => part.text).join('|');
  const compact = badges.map(() => false);
  const compose = (count: number): string => {
    const texts = badges.slice(0, count).map((badge, index) => badgeText(badge, compact[index] ?? false));
    if (count < badges.length) texts.push(`[+${badges.length - count}]`);
    return texts.length === 0 ? head : `${head}|${texts.join('|')}`;
  };
  if (stripTags(compose(badges.length)).length <= width) return compose(badges.length);
  for (let index = badges.length - 1; index >= 0; index--) {
    compact[index] = true;
    if (stripTags(compose(badges.length)).length <= width) return compose(badges.length);
  }
  for (let count = badges.length - 1; count > 0; count--) {
    if (stripTags(compose(count)).length <= width) return compose(count);
  }
  return compose(0);
}

interface Badge {
  readonly colour: string;
  readonly text: string;
  /** What the badge says when the bar is short of room. */
  readonly short: string;
}

function badgeText(badge: Badge, compact: boolean): string {
  return color(badge.colour, `[${compact ? badge.short : badge.text}]`);
}

/**
 * The cluster's term: the highest a running node holds. The supervisor counts running
 * nodes only (0 with none up): with every node down, the highest term they last reported,
 * marked as such, as the node table shows them.
 */
function termText(status: ClusterStatus): string {
  if (status.nodes.some((node) => node.alive)) return `term ${status.term}`;
  return `term ${Math.max(status.term, ...status.nodes.map((node) => node.term))} ${color('red', '(last known)')}`;
}

function formatRate(perSecond: number): string {
  return perSecond >= 100 ? String(Math.round(perSecond)) : perSecond.toFixed(1).replace(/\.0$/, '');
}

// ---------------------------------------------------------------- node table

const ELECTION_BAR_WIDTH = 10;

const NODE_COLUMNS = [
  { title: 'ID', width: 4 },
  { title: 'ROLE', width: 15 },
  { title: 'TERM', width: 6 },
  { title: 'VOTE', width: 5 },
  { title: 'LAST i/t', width: 12 },
  { title: 'COMMIT', width: 8 },
  { title: 'APPLIED', width: 8 },
  { title: 'ELECTION', width: ELECTION_BAR_WIDTH + 2 },
  { title: 'CONTACT', width: 8 },
  { title: 'WAL', width: 8 },
  { title: 'FSYNC', width: 7 },
  { title: 'GROUP', width: 5 },
] as const;

/**
 * Columns a narrow table leaves out, first to last: fsync, WAL, contact, applied (with no
 * partition in force, the group first of all). At 80 columns the table was cut at its
 * right edge: the election bar in the middle, the partition group never shown.
 */
const NODE_COLUMN_DROP_ORDER = ['FSYNC', 'WAL', 'CONTACT', 'APPLIED'] as const;

/** The node table, its columns fitted to `width` where it can (see NODE_COLUMN_DROP_ORDER). */
export function renderNodeTable(status: ClusterStatus, ui: UiState, width = Number.POSITIVE_INFINITY): readonly string[] {
  const dropOrder: string[] = [...(status.partition === null ? ['GROUP'] : []), ...NODE_COLUMN_DROP_ORDER];
  const shown = new Set<string>(NODE_COLUMNS.map((column) => column.title));
  const rowWidth = (): number => 2 + NODE_COLUMNS.filter((column) => shown.has(column.title)).reduce((sum, column, index) => sum + column.width + (index === 0 ? 0 : 1), 0);
  for (const title of dropOrder) {
    if (rowWidth() <= width) break;
    shown.delete(title);
  }
  const pick = (cells: readonly string[]): string[] => cells.filter((_, index) => shown.has(NODE_COLUMNS[index]!.title));
  const header = '  ' + pick(NODE_COLUMNS.map((column) => fit(column.title, column.width))).join(' ');
  const lines = [bold(escapeTags(header))];
  for (const node of status.nodes) {
    const role = roleCell(node, status);
    // Not reported yet: its log, commit and WAL are not known (not zero).
    const known = (text: string): string => (awaitingReport(node) ? '?' : text);
    const cells = pick([
      fit(`n${node.id}`, 4),
      color(role.color, fit(role.text, 15)),
      fit(String(node.term), 6),
      fit(node.votedFor === 0 ? '-' : `n${node.votedFor}`, 5),
      fit(known(`${node.lastLogIndex}/${node.lastLogTerm}`), 12),
      fit(known(String(node.commitIndex)), 8),
      fit(known(String(node.appliedIndex)), 8),
      electionCell(node, status),
      fit(node.alive ? formatMs(node.lastLeaderContactMs) : '-', 8),
      fit(known(formatBytes(node.walBytes)), 8),
      fit(node.alive ? formatMs(node.fsyncLatencyMs) : '-', 7),
      fit(groupLabel(status, node.id), 5),
    ]);
    const selected = node.id === ui.selectedNode;
    const row = (selected ? '>' : ' ') + ' ' + cells.join(' ');
    lines.push(selected ? `{inverse}${row}{/inverse}` : row);
  }
  return lines;
}

/** The election timer drains as the timeout approaches: a full bar means just reset. */
function electionCell(node: NodeStatus, status: ClusterStatus): string {
  if (!node.alive || awaitingReport(node)) return fit('', ELECTION_BAR_WIDTH + 2);
  if (node.role === 'leader') return fit('leading', ELECTION_BAR_WIDTH + 2);
  // A learner never campaigns (thesis §4.2.1): its timer, run down to an empty yellow bar
  // while no leader reaches it, announced an election that never comes.
  if (nodeKind(status, node.id) === 'learner') return fit('learner', ELECTION_BAR_WIDTH + 2);
  const remaining = node.electionTimeoutTicks <= 0 ? 0 : 1 - node.electionElapsedTicks / node.electionTimeoutTicks;
  const text = `[${bar(remaining, ELECTION_BAR_WIDTH)}]`;
  return remaining < 0.25 ? color('yellow', text) : text;
}

// ---------------------------------------------------------------- replication

const REPLICATION_BAR_WIDTH_MAX = 24;
const REPLICATION_BAR_WIDTH_MIN = 6;
/** Columns of a replication row besides the bar and the optional " inflight N". */
const REPLICATION_FIXED_WIDTH = NODE_NAME_WIDTH + 48;
const REPLICATION_INFLIGHT_WIDTH = 12;

/** The leader's view of each follower: matchIndex/nextIndex (Figure 2) and the lag in entries. */
export function renderReplication(status: ClusterStatus, width: number): readonly string[] {
  const leader = leaderNode(status);
  if (leader === undefined) return [color('red', 'no leader: nothing is being replicated')];
  const showInflight = width >= REPLICATION_FIXED_WIDTH + REPLICATION_BAR_WIDTH_MIN + REPLICATION_INFLIGHT_WIDTH;
  const barWidth = Math.max(REPLICATION_BAR_WIDTH_MIN, Math.min(REPLICATION_BAR_WIDTH_MAX, width - REPLICATION_FIXED_WIDTH - (showInflight ? REPLICATION_INFLIGHT_WIDTH : 0)));
  const lines = [bold(`leader n${leader.id}, last index ${leader.lastLogIndex}, commit ${leader.commitIndex}`)];
  for (const peer of leader.progress) {
    const follower = status.nodes.find((node) => node.id === peer.id);
    const lag = Math.max(0, leader.lastLogIndex - peer.matchIndex);
    // While a snapshot streams to it, the bar shows the bytes the follower said it holds.
    const transfer = peer.state === 'snapshot' ? (peer.snapshotBytes ?? null) : null;
    const fraction = transfer !== null ? (transfer.total === 0 ? 1 : transfer.acknowledged / transfer.total) : leader.lastLogIndex === 0 ? 1 : peer.matchIndex / leader.lastLogIndex;
    const lagText = fitRight(String(lag), 5);
    const down = follower !== undefined && !follower.alive;
    const state = down ? color('red', fit('DOWN', 9)) : fit(peer.state, 9);
    const detail = transfer !== null ? ` ${color('blue', `${formatBytes(transfer.acknowledged)}/${formatBytes(transfer.total)}`)}` : showInflight ? ` inflight ${fit(String(peer.inflight), 2)}` : '';
    lines.push(
      `${nodeName(peer.id)} match ${fitRight(String(peer.matchIndex), 6)} next ${fitRight(String(peer.nextIndex), 6)} ` +
        `[${bar(fraction, barWidth)}] lag ${lag === 0 ? lagText : color(lag > LAG_WARNING_ENTRIES ? 'red' : 'yellow', lagText)} ` +
        state + detail + (peer.learner ? color(LearnerDisplay.color, ' learner') : ''),
    );
  }
  return lines;
}

/** A follower this many entries behind is shown in red. */
const LAG_WARNING_ENTRIES = 100;

// ---------------------------------------------------------------- log strip

/** Columns per log cell: "[12]" committed, "(12)" not yet committed. */
export const LOG_CELL_WIDTH = 4;
const LOG_LABEL_WIDTH = 6;

/**
 * One row per node, one cell per log index, aligned by index so that divergent tails
 * after a partition line up under each other. Committed and uncommitted cells differ
 * by glyph ("[t]" vs "(t)") as well as by color, so the strip reads without color. A
 * cell's term comes from the node's logTerms and "committed" from its commitIndex, both
 * as of its last status. In `height` lines: a pane too short for every node's row ends
 * with a line naming the nodes it leaves out (their rows were cut off without a word, at
 * 120x36 with 9 nodes and at 80x24 with 5).
 */
export function renderLogStrip(status: ClusterStatus, width: number, height = Number.POSITIVE_INFINITY): readonly string[] {
  const lines = logStripLines(status, width);
  if (lines.length <= height) return lines;
  const shown = Math.max(1, height - 1);
  // The ruler, then the first rows; the last line names the others (the ruler's line first, on a pane of one line).
  const hidden = status.nodes.slice(Math.max(0, shown - 1)).map((node) => `n${node.id}`);
  return [...lines.slice(0, height === 1 ? 0 : shown), color('gray', fit(`${hidden.join(' ')} not shown (a taller terminal shows every node)`, width).trimEnd())];
}

function logStripLines(status: ClusterStatus, width: number): string[] {
  const cellCount = Math.max(1, Math.floor((width - LOG_LABEL_WIDTH) / LOG_CELL_WIDTH));
  const lastIndex = logStripEnd(status);
  const firstIndex = Math.max(1, lastIndex - cellCount + 1);
  const lines = [color('gray', (fit('index', LOG_LABEL_WIDTH) + logRuler(firstIndex, cellCount)).trimEnd())];
  for (const node of status.nodes) {
    const label = fit(`n${node.id}${node.alive ? '' : ' X'}`, LOG_LABEL_WIDTH);
    let row = node.alive ? label : color('red', label);
    const terms = node.logTerms;
    let run = terms.length - 1;
    const cells: string[] = [];
    // Right to left: the runs are oldest first, and most cells sit in the newest one.
    for (let index = Math.min(firstIndex + cellCount - 1, node.lastLogIndex); index >= firstIndex; index--) {
      while (run >= 0 && terms[run]!.first > index) run--;
      cells.push(logCell(run < 0 ? undefined : terms[run]!.term, index <= node.commitIndex));
    }
    row += cells.reverse().join('');
    if (awaitingReport(node)) {
      lines.push(row + color('gray', 'starting: its log shows once it reports'));
      continue;
    }
    // A node far behind (partitioned, or down for a while) has no cell in the window.
    if (node.lastLogIndex < firstIndex) row += color('gray', `<- its log ends at index ${node.lastLogIndex} (term ${node.lastLogTerm})`);
    lines.push(row);
  }
  return lines;
}

/**
 * The newest index the strip shows: the leader's last, or the newest index a majority of
 * the voters' statuses hold if that is older, unless another node's log runs further in
 * an older term (a deposed leader's divergent tail). The nodes report within a few
 * milliseconds of one another (every 100 ms on the wall clock, node k k-1 ms late), each
 * when its thread gets to it: under load the leader's newest entries are past some
 * followers' statuses, and a window at the leader's end showed their rows empty. A
 * majority's rows reach the end whatever a partitioned or crashed minority holds; a
 * follower a few entries behind shows its row a few cells short.
 */
function logStripEnd(status: ClusterStatus): number {
  const leader = leaderNode(status);
  let end = leader === undefined ? 0 : Math.min(leader.lastLogIndex, majorityLastIndex(status, leader));
  for (const node of status.nodes) {
    if (leader !== undefined && node.lastLogTerm === leader.term) continue;
    end = Math.max(end, node.lastLogIndex);
  }
  return end;
}

/** The newest index at least a majority of the leader's voters hold, as their statuses say. */
function majorityLastIndex(status: ClusterStatus, leader: NodeStatus): number {
  const voters = leader.membership.voters;
  const lastIndexes = status.nodes
    .filter((node) => node.alive && voters.includes(node.id))
    .map((node) => node.lastLogIndex)
    .sort((a, b) => b - a);
  return lastIndexes[Math.floor(voters.length / 2)] ?? leader.lastLogIndex;
}

/** Every fifth index (and the first) over its cell, written whole: a label runs into the blank cells after it, and one with no room (before the next, or before the strip's edge) is left out. */
function logRuler(firstIndex: number, cellCount: number): string {
  let ruler = '';
  for (let index = firstIndex; index < firstIndex + cellCount; index++) {
    const at = (index - firstIndex) * LOG_CELL_WIDTH;
    if (ruler.length > at || (index % 5 !== 0 && index !== firstIndex)) continue;
    const label = String(index);
    const nextLabelAt = (Math.floor(index / 5) * 5 + 5 - firstIndex) * LOG_CELL_WIDTH;
    if (index === firstIndex && index % 5 !== 0 && at + label.length >= nextLabelAt) continue;
    if (at + label.length > cellCount * LOG_CELL_WIDTH) break; // past the strip's right edge
    ruler = ruler.padEnd(at, ' ') + label + ' ';
  }
  return ruler;
}

function logCell(term: number | undefined, committed: boolean): string {
  // An index the node holds but whose term its status does not give (compacted into its
  // snapshot, or older than the runs it reports).
  if (term === undefined) return color('gray', ' .. ');
  const text = String(term % 100).padStart(2, ' ');
  const termName = termColor(term);
  return committed ? `{${termName}-bg}{black-fg}[${text}]{/black-fg}{/${termName}-bg}` : color(termName, `(${text})`);
}

// ---------------------------------------------------------------- event feed

const EVENT_KIND_COLORS = {
  'election-started': 'yellow',
  'vote-granted': 'yellow',
  'leader-elected': 'green',
  'role-changed': 'white',
  'term-changed': 'white',
  commit: 'gray',
  crash: 'red',
  restart: 'green',
  partition: 'magenta',
  heal: 'magenta',
  'link-fault': 'magenta',
  'client-result': 'cyan',
  invariant: 'red',
  info: 'white',
  'log-compacted': 'gray',
  'snapshot-installed': 'blue',
  'membership-changed': 'cyan',
  'node-added': 'green',
  'node-removed': 'yellow',
} as const satisfies Record<EventKind, string>;

/**
 * The entries that fit in `height` lines of `width` columns, long ones wrapped: the
 * newest, or those `scrollLines` lines further back.
 */
export function renderEventFeed(entries: readonly FeedEntry[], height: number, width: number, scrollLines = 0): readonly string[] {
  const lines: string[] = [];
  for (let position = entries.length - 1; position >= 0 && lines.length < height + scrollLines; position--) {
    const entry = entries[position];
    if (entry === undefined) continue;
    lines.unshift(...feedEntryLines(entry, width));
  }
  const end = Math.max(Math.min(height, lines.length), lines.length - scrollLines);
  return lines.slice(Math.max(0, end - height), end);
}

/** "00:12.3 n13 ": the clock, the node's name and a space each. */
const FEED_PREFIX_WIDTH = 8 + NODE_NAME_WIDTH + 1;

function feedEntryLines(entry: FeedEntry, width: number): string[] {
  const prefix = `${formatClock(entry.timeMs)} ${entry.node === 0 ? ' '.repeat(NODE_NAME_WIDTH) : nodeName(entry.node)} `;
  const marker = entry.source === 'scenario' ? '>> ' : '';
  const wrapped = wrap(marker + entry.text, Math.max(10, width - FEED_PREFIX_WIDTH));
  const tint = entry.error ? 'red' : entry.source === 'scenario' ? 'cyan' : EVENT_KIND_COLORS[entry.kind];
  const styled = (text: string): string => {
    const escaped = escapeTags(text);
    if (entry.kind === EventKind.Invariant) return color('red', bold(`INVARIANT ${escaped}`));
    return entry.source === 'scenario' ? color(tint, bold(escaped)) : color(tint, escaped);
  };
  return wrapped.map((part, lineNumber) => color('gray', lineNumber === 0 ? prefix : ' '.repeat(prefix.length)) + styled(part));
}

export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(' ')) {
    let rest = word;
    while (rest.length > width) {
      if (current.length > 0) {
        lines.push(current);
        current = '';
      }
      lines.push(rest.slice(0, width));
      rest = rest.slice(width);
    }
    if (current.length === 0) current = rest;
    else if (current.length + 1 + rest.length <= width) current += ' ' + rest;
    else {
      lines.push(current);
      current = rest;
    }
  }
  lines.push(current);
  return lines;
}

// ---------------------------------------------------------------- status line, help, detail

/**
 * The status line, in `width` columns: a message longer than that is cut where it says
 * so (an error's reason and what to type come last: a refused change's `--force` line
 * was cut off silently), pointing at the event feed when the whole line is there.
 */
export function renderMessageLine(ui: UiState, width = Number.POSITIVE_INFINITY): string {
  if (ui.overlay === 'confirm-quit') return color('yellow', bold(' Quit and stop the cluster? (y/n)'));
  if (ui.message === null) return color('gray', ' ? help  : command  j/k select  q quit');
  const suffix = ui.message.inFeed === true ? ' ... (whole line in the events)' : ' ...';
  const whole = ' ' + ui.message.text;
  const text = escapeTags(whole.length <= width ? whole : whole.slice(0, Math.max(0, width - suffix.length)) + suffix);
  switch (ui.message.level) {
    case 'info':
      return text;
    case 'ok':
      return color('green', text);
    case 'error':
      return color('red', text);
    default:
      return assertNever(ui.message.level);
  }
}

export interface HelpKey {
  readonly key: string;
  readonly action: string;
}

export interface HelpCommand {
  readonly usage: string;
  readonly summary: string;
}

/** Narrower than this, a help row's text goes under its label instead of beside it. */
const HELP_TEXT_MIN_WIDTH = 24;

/**
 * One row of the help: `label` padded to `labelWidth` (the longest label of its section,
 * so none is cut), then `text` wrapped to `width` under its own column; on a screen too
 * narrow for two columns, the text on the lines below the label.
 */
function helpRow(label: string, text: string, labelWidth: number, width: number): string[] {
  const column = 2 + labelWidth + 1;
  if (width - column < HELP_TEXT_MIN_WIDTH) {
    return [`  ${escapeTags(label)}`, ...wrap(text, Math.max(1, width - 4)).map((line) => `    ${escapeTags(line)}`)];
  }
  const [first = '', ...rest] = wrap(text, width - column);
  return [`  ${escapeTags(label.padEnd(labelWidth))} ${escapeTags(first)}`, ...rest.map((line) => ' '.repeat(column) + escapeTags(line))];
}

/** The help overlay, `width` columns wide (its text wrapped to fit). */
export function renderHelp(keys: readonly HelpKey[], commands: readonly HelpCommand[], width = Number.POSITIVE_INFINITY): readonly string[] {
  const keyWidth = Math.max(...keys.map((key) => key.key.length));
  const usageWidth = Math.max(...commands.map((command) => command.usage.length));
  const note = (text: string): string[] => wrap(text, Math.max(1, width - 4)).map((line, position) => `${position === 0 ? '  ' : '    '}${escapeTags(line)}`);
  const heading = (text: string): string[] => wrap(text, Math.max(1, width)).map(bold);
  return [
    ...heading('Keys (act on the selected node)'),
    ...keys.flatMap((key) => helpRow(key.key, key.action, keyWidth, width)),
    '',
    ...heading('Commands (press : first; Tab completes, up/down recalls)'),
    ...commands.flatMap((command) => helpRow(command.usage, command.summary, usageWidth, width)),
    '',
    ...heading('Reading the screen'),
    ...[
      'roles: * LEADER  - FOLLOWER  ? CANDIDATE  ~ PRECANDIDATE  X DOWN',
      '+ LEARNER receives the log but neither votes nor counts toward commit (:add learner, :promote)',
      'o NON-MEMBER is running but outside the configuration (joining, or removed)',
      '. STARTING has just been started and not reported yet: its log, commit and WAL show as ?',
      '[CONFIG @i NOT COMMITTED]: the configuration in use (entry i) has not committed: a change under way, or one forced (--force) whose new voters are not back yet',
      'log strip: [t] committed entry of term t, (t) not yet committed, .. older entry',
      'election bar drains as the election timeout approaches',
    ].flatMap(note),
    '',
    color('gray', 'Esc closes this help'),
  ];
}

const DETAIL_ENTRIES = 20;

/** Where a node's configuration comes from: " (entry 14, committed)", " (entry 15, not committed yet)", or the bootstrap one. */
function configurationEntry(node: NodeStatus): string {
  if (node.membership.voters.length === 0) return '';
  if (node.membershipIndex === 0) return ' (the initial one)';
  return ` (entry ${node.membershipIndex}, ${node.commitIndex >= node.membershipIndex ? 'committed' : color('yellow', 'not committed yet')})`;
}

export function renderDetail(status: ClusterStatus, id: NodeId): readonly string[] {
  const node = status.nodes.find((candidate) => candidate.id === id);
  if (node === undefined) return [color('red', `no node n${id}`)];
  const role = roleCell(node, status);
  // A down node's state and timers are what it reported before it went down.
  const lastKnown = node.alive ? '' : `  ${color('red', '(last known)')}`;
  const lines = [
    bold(`node n${node.id}  `) + color(role.color, role.text) + `  term ${node.term}  voted for ${node.votedFor === 0 ? '-' : `n${node.votedFor}`}  leader ${node.leaderId === 0 ? 'unknown' : `n${node.leaderId}`}${lastKnown}`,
    `last log ${node.lastLogIndex}/${node.lastLogTerm}  commit ${node.commitIndex}  applied ${node.appliedIndex}  snapshot ${node.snapshotIndex}  fsyncs over ${SLOW_FSYNC_THRESHOLDS_MS.join('/')} ms ${node.slowFsyncs.join('/')}`,
    `election ${node.electionElapsedTicks}/${node.electionTimeoutTicks} ticks  last leader contact ${formatMs(node.lastLeaderContactMs)}  fsync ${formatMs(node.fsyncLatencyMs)}  malformed messages ${node.malformedMessages}${lastKnown}`,
    `configuration it uses${configurationEntry(node)}: ${node.membership.voters.length === 0 ? 'not reported yet' : describeMembership(node.membership)}`,
    '',
    bold('Peers (leader view: matchIndex / nextIndex)'),
  ];
  if (node.progress.length === 0) lines.push('  (not the leader: no per-peer progress)');
  for (const peer of node.progress) {
    const transfer = peer.snapshotBytes === undefined ? '' : `  snapshot ${formatBytes(peer.snapshotBytes.acknowledged)} of ${formatBytes(peer.snapshotBytes.total)} held, ${formatBytes(peer.snapshotBytes.sent)} sent`;
    lines.push(`  ${nodeName(peer.id)} match ${fitRight(String(peer.matchIndex), 7)} next ${fitRight(String(peer.nextIndex), 7)} ${fit(peer.state, 9)} inflight ${peer.inflight}${peer.learner ? '  learner' : ''}${transfer}`);
  }
  lines.push('', bold(`Recent log entries ([t] committed, (t) not)`));
  if (node.recentEntries.length === 0) lines.push('  (none)');
  for (const entry of node.recentEntries.slice(-DETAIL_ENTRIES)) {
    const mark = entry.committed ? `[${entry.term}]` : `(${entry.term})`;
    lines.push(`  ${fitRight(String(entry.index), 7)} ${color(termColor(entry.term), fit(mark, 6))} ${escapeTags(entry.text)}`);
  }
  lines.push('', bold(`WAL ${formatBytes(node.walBytes)} in ${node.walFiles.length} file(s)`));
  for (const file of node.walFiles) lines.push(`  ${escapeTags(file)}`);
  lines.push('', color('gray', 'Esc closes; j/k shows another node; PgUp/PgDn scroll'));
  return lines;
}
