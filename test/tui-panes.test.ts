import test from 'ava';
import { EventKind } from '../lib/cluster/types.js';
import type { ClusterStatus } from '../lib/cluster/types.js';
import { COMMANDS, parseMemberKind } from '../tui/commands.js';
import { KEY_HELP, prefersUnicode, renderCommandLine } from '../tui/dashboard.js';
import { stripTags } from '../tui/format.js';
import { quorumOk, renderDetail, renderEventFeed, renderHelp, renderLogStrip, renderMessageLine, renderNodeTable, renderReplication, renderStatusBar, wrap } from '../tui/panes.js';
import { EventFeed, FeedSource, LOAD_CATCH_UP_MS, LoadPacer, MetricsHistory, initialUiState } from '../tui/state.js';
import type { FeedEntry } from '../tui/state.js';
import { healthyStatus, leaderlessStatus, learnerStatus, nodeStatus } from './tui-fixtures.js';

const ui = { ...initialUiState, normalTickMs: 20 };
const plain = (lines: readonly string[]): string => lines.map(stripTags).join('\n');

test('status bar shows the leader, term, quorum, throughput, latency and fsync', (t) => {
  const bar = stripTags(renderStatusBar(healthyStatus(), ui));
  t.regex(bar, /leader n1 /);
  t.regex(bar, /term 3 /);
  t.regex(bar, /commit 10 /);
  t.regex(bar, /quorum OK \(4\/5 up\)/);
  t.regex(bar, /123 ops\/s/);
  t.regex(bar, /p50 2\.5ms p99 9\.3ms/);
  t.regex(bar, /fsync on/);
  t.notRegex(bar, /PARTITION|SLOW/);
});

test('status bar: no leader is "none" in red, quorum LOST, partition and slow-motion badges', (t) => {
  const status = { ...leaderlessStatus(), tickMs: 200 };
  const tagged = renderStatusBar(status, { ...ui, loadRatePerSecond: 50 });
  t.true(tagged.includes('{red-fg}{bold}none{/bold}{/red-fg}'), tagged);
  t.true(tagged.includes('{red-fg}{bold}LOST{/bold}{/red-fg}'), tagged);
  const bar = stripTags(tagged);
  t.regex(bar, /leader none/);
  t.regex(bar, /quorum LOST \(2\/5 up\)/);
  t.regex(bar, /\[PARTITION 1,2\|3,4,5\]/);
  t.regex(bar, /\[SLOW tick 200ms\]/);
  t.regex(bar, /\[LOAD 50\/s\]/);
});

test('status bar: with every node down, the term the nodes last reported, marked as such, not the 0 the supervisor reports', (t) => {
  // The supervisor's term is the highest among running nodes: 0 when none runs.
  const base = healthyStatus();
  const allDown = { ...base, leaderId: 0, term: 0, nodes: base.nodes.map((node) => ({ ...node, alive: false })) };
  const bar = stripTags(renderStatusBar(allDown, ui));
  t.regex(bar, /term 3 \(last known\) \| /);
  t.regex(bar, /quorum LOST \(0\/5 up\)/);
  t.regex(stripTags(renderStatusBar(healthyStatus(), ui)), /term 3 \| /, 'with a node up, the term as reported');
});

test('status bar on a narrow screen: badges take short forms, then give way to a count, never cut in the middle', (t) => {
  const status = {
    ...leaderlessStatus(),
    tickMs: 200,
    cutLinks: [[1, 2], [3, 4]] as Array<[number, number]>,
    membership: { voters: [1, 2, 3], learners: [6], outgoing: [3, 4, 5] },
  };
  const busy = { ...ui, loadRatePerSecond: 50, scenario: { name: 'joint', stepsDone: 2, stepsTotal: 7 } } as typeof ui;
  const wide = stripTags(renderStatusBar(status, busy));
  t.regex(wide, /\[JOINT: old voters n3 n4 n5 decide too\] \| \[SLOW tick 200ms\] \| \[LOAD 50\/s\] \| \[SCENARIO joint 2\/7\]$/);
  for (const width of [160, 120, 100, 80, 60, 40]) {
    const bar = stripTags(renderStatusBar(status, busy, width));
    t.true(bar.length <= width, `fits ${width}: '${bar}'`);
    t.regex(bar, /^ leader none\|?/, `keeps the leader at ${width}: '${bar}'`);
    // Every bracket opened is closed: a badge is whole, short, or counted.
    const badges = bar.match(/\[[^\]]*\]/g) ?? [];
    t.is((bar.match(/\[/g) ?? []).length, badges.length, `no badge cut at ${width}: '${bar}'`);
  }
  t.is(stripTags(renderStatusBar(status, busy, 80)), ' leader none|term 4|quorum LOST|[PART 1,2|3,4,5]|[CUT 2]|[L n6]|[+4]');
  t.is(stripTags(renderStatusBar(status, busy, 30)), ' leader none|term 4|quorum LOST|[+7]');
});

test('prefers unicode line drawing under NCURSES_NO_UTF8_ACS=1 or a UTF-8 locale', (t) => {
  t.true(prefersUnicode({ NCURSES_NO_UTF8_ACS: '1' }));
  t.true(prefersUnicode({ LANG: 'en_US.UTF-8' }));
  t.true(prefersUnicode({ LC_ALL: 'C.utf8' }));
  t.false(prefersUnicode({ LANG: 'C' }));
  t.false(prefersUnicode({}));
});

test('quorum: a majority of live nodes that can talk to each other', (t) => {
  t.true(quorumOk(healthyStatus()));
  t.false(quorumOk(leaderlessStatus()));
  const split = healthyStatus();
  t.true(quorumOk({ ...split, partition: [[1, 2, 3], [4, 5]] }));
  t.false(quorumOk({ ...split, partition: [[1, 2], [3, 4, 5]] }), 'n4 is down: 3,5 are only 2 of 5');
  // Joint (thesis §4.3): new voters 1,2,3 and old voters 3,4,5 must both have a majority in one group.
  const joint = { ...split, membership: { voters: [1, 2, 3], learners: [], outgoing: [3, 4, 5] } };
  t.false(quorumOk({ ...joint, partition: [[1, 2], [3, 4, 5]] }), 'neither group holds a majority of both (n4 is down)');
  t.true(quorumOk({ ...joint, partition: [[1, 2, 3, 5], [4]] }), '1,2,3 of the new and 3,5 of the old');
  t.false(quorumOk({ ...joint, partition: [[1, 2, 3], [4, 5]] }), 'a majority of the new voters alone is not enough');
  const bar = stripTags(renderStatusBar(joint, ui));
  t.regex(bar, /\[JOINT: old voters n3 n4 n5 decide too\]/);
});

test('node table in 78 columns (80x24) leaves out whole columns instead of cutting its rows; a partition keeps the group', (t) => {
  const calm = plain(renderNodeTable(healthyStatus(), ui, 78)).split('\n');
  t.true(calm.every((row) => row.length <= 78), calm.join('\n'));
  t.regex(calm[0] ?? '', /^\s+ID\s+ROLE\s+TERM\s+VOTE\s+LAST i\/t\s+COMMIT\s+ELECTION\s*$/);
  t.regex(calm[2] ?? '', /\[########\.\.\]\s*$/, 'the election bar whole');
  const split = plain(renderNodeTable(leaderlessStatus(), ui, 78)).split('\n');
  t.true(split.every((row) => row.length <= 78), split.join('\n'));
  t.regex(split[0] ?? '', /COMMIT\s+ELECTION\s+GROUP\s*$/);
  t.regex(split[1] ?? '', /\? CANDIDATE.*\sA\s*$/, 'the group letters');
  t.regex(plain(renderNodeTable(healthyStatus(), ui, 111)).split('\n')[0] ?? '', /FSYNC\s+GROUP\s*$/, 'every column at 111');
});

test('node table: one row per node with role word and symbol, DOWN rows, selection marker', (t) => {
  const text = plain(renderNodeTable(healthyStatus(), { ...ui, selectedNode: 3 }));
  const rows = text.split('\n');
  t.is(rows.length, 6);
  t.regex(rows[0] ?? '', /ID\s+ROLE\s+TERM\s+VOTE\s+LAST i\/t\s+COMMIT\s+APPLIED\s+ELECTION\s+CONTACT\s+WAL\s+FSYNC\s+GROUP/);
  t.regex(rows[1] ?? '', /^\s+n1\s+\* LEADER\s+3\s+n1\s+12\/3\s+10\s+10\s+leading/);
  t.regex(rows[2] ?? '', /n2\s+- FOLLOWER\s+3\s+n1\s+12\/3\s+10\s+10\s+\[########\.\.\]\s+15ms\s+4\.0K\s+1\.5ms/);
  t.regex(rows[3] ?? '', /^>\s+n3/, 'the selected node is marked');
  t.regex(rows[4] ?? '', /n4\s+X DOWN\s+2/);
  const bridged = plain(renderNodeTable({ ...healthyStatus(), partition: [[1, 2, 3], [3, 4, 5]] }, ui)).split('\n');
  t.regex(bridged[3] ?? '', /n3 .*\sA\+B\s*$/, 'a bridge node is in both groups');
  const partitioned = plain(renderNodeTable(leaderlessStatus(), ui)).split('\n');
  t.regex(partitioned[1] ?? '', /\? CANDIDATE.*\sA\s*$/);
  t.regex(partitioned[3] ?? '', /X DOWN.*\sB\s*$/);
});

test('replication: match/next against the leader, lag in entries, DOWN followers', (t) => {
  const text = plain(renderReplication(healthyStatus(), 78));
  t.regex(text, /leader n1, last index 12, commit 10/);
  t.regex(text, /n2\s+match\s+12 next\s+13 \[#+\] lag\s+0 replicate inflight 0/);
  t.regex(text, /n4\s+match\s+7 next\s+8 \[#+\.+\] lag\s+5 DOWN/);
  t.regex(text, /n5\s+match\s+8 next\s+13 \[#+\.+\] lag\s+4 replicate inflight 4/);
  for (const line of renderReplication(healthyStatus(), 58)) t.true(stripTags(line).length <= 58, `fits 58 columns: ${stripTags(line)}`);
  t.regex(plain(renderReplication(leaderlessStatus(), 78)), /no leader/);
});

test('replication: a follower receiving a snapshot shows the bytes it holds of it, the bar filling with them', (t) => {
  const status = healthyStatus();
  const leader = status.nodes[0]!;
  const streaming = { ...leader, progress: leader.progress.map((peer) => (peer.id === 4 ? { ...peer, state: 'snapshot' as const, snapshotBytes: { total: 40960, sent: 24576, acknowledged: 20480 } } : peer)) };
  const nodes = status.nodes.map((node) => (node.id === leader.id ? streaming : node.id === 4 ? { ...node, alive: true } : node));
  const text = plain(renderReplication({ ...status, nodes }, 78));
  t.regex(text, /n4\s+match\s+7 next\s+8 \[#+\.+\] lag\s+5 snapshot\s+20\.0K\/40\.0K/);
  const bar = /n4 .*\[([#.]+)\]/.exec(text)![1]!;
  t.is(bar.replace(/\./g, '').length, Math.round(bar.length / 2), `half the bar: ${bar}`);
  t.regex(plain(renderDetail({ ...status, nodes }, leader.id)), /n4 .*snapshot 20\.0K of 40\.0K held, 24\.0K sent/);
});

test('log strip: aligned by index, committed [t] and uncommitted (t) differ without color', (t) => {
  const lines = renderLogStrip(leaderlessStatus(), 80).map(stripTags);
  t.regex(lines[0] ?? '', /^index 1\s+5\s+10/);
  // n1: entries 1..10 of term 3 committed, 11..12 of term 4 not.
  t.is(lines[1], 'n1    [ 3][ 3][ 3][ 3][ 3][ 3][ 3][ 3][ 3][ 3]( 4)( 4)');
  t.is(lines[4], 'n4 X  [ 2][ 2][ 2][ 2][ 2]( 2)( 2)');
  const healthy = renderLogStrip(healthyStatus(), 80).map(stripTags);
  t.is(healthy[5], 'n5    [ 2][ 2][ 2][ 2][ 2][ 3][ 3][ 3]');
  // A narrow strip shows the newest indexes only.
  const narrow = renderLogStrip(healthyStatus(), 6 + 4 * 4).map(stripTags);
  t.is(narrow[1], 'n1    [ 3][ 3]( 3)( 3)');
  t.is(narrow[4], 'n4 X  <- its log ends at index 7 (term 2)', 'a node behind the window says where its log ends');
});

test('log strip in a pane too short for every node: the last line names the nodes left out', (t) => {
  const cut = renderLogStrip(healthyStatus(), 80, 4).map(stripTags);
  t.is(cut.length, 4);
  t.regex(cut[0] ?? '', /^index 1/);
  t.regex(cut[1] ?? '', /^n1 /);
  t.regex(cut[2] ?? '', /^n2 /);
  t.is(cut[3], 'n3 n4 n5 not shown (a taller terminal shows every node)');
  t.is(renderLogStrip(healthyStatus(), 80, 6).length, 6, 'every row fits: no note');
  t.deepEqual(renderLogStrip(healthyStatus(), 30, 1).map(stripTags), ['n1 n2 n3 n4 n5 not shown (a t~']);
});

test('log strip under load: each status taken at its own moment, the window ends at what a majority holds and every row reads its terms', (t) => {
  // n2's status is 30 entries newer than its leader's, n3's 11 older, n5's far older; n4 is down.
  const status = healthyStatus();
  const logTerms = [
    { first: 1, term: 2 },
    { first: 6, term: 3 },
  ];
  const at = (lastLogIndex: number, commitIndex: number) => ({ lastLogIndex, commitIndex, logTerms, recentEntries: [] });
  const moments: Record<number, ReturnType<typeof at>> = { 1: at(15_571, 15_555), 2: at(15_601, 15_600), 3: at(15_560, 15_558), 5: at(9_000, 8_990) };
  const nodes = status.nodes.map((node) => ({ ...node, ...(moments[node.id] ?? {}) }));
  const lines = renderLogStrip({ ...status, nodes }, 6 + 4 * 30).map(stripTags);
  // Alive voters hold 15,601 / 15,571 / 15,560 / 9,000: a majority of five (three) hold 15,560.
  t.regex(lines[0] ?? '', /^index 15531\s+15535\s+15540\s+15545\s+15550\s+15555$/, 'five-digit labels whole; 15560 would pass the edge');
  t.is(lines[1], `n1    ${'[ 3]'.repeat(25)}${'( 3)'.repeat(5)}`, 'the leader: committed to 15,555');
  t.is(lines[2], `n2    ${'[ 3]'.repeat(30)}`, 'a newer status: cut at the window');
  t.is(lines[3], `n3    ${'[ 3]'.repeat(28)}${'( 3)'.repeat(2)}`, 'an older status: its row still reaches the end');
  t.is(lines[4], 'n4 X  <- its log ends at index 7 (term 2)');
  t.is(lines[5], 'n5    <- its log ends at index 9000 (term 3)');
  for (const line of lines) t.true(line.length <= 6 + 4 * 30, `fits: '${line}'`);
  // Without a majority ahead of it (n2 and n3 down), the window ends at the leader's last entry.
  const fewer = nodes.map((node) => (node.id === 2 || node.id === 3 ? { ...node, alive: false } : node));
  const alone = renderLogStrip({ ...status, nodes: fewer }, 6 + 4 * 30).map(stripTags);
  t.regex(alone[0] ?? '', /15570$/);
  t.is(alone[1], `n1    ${'[ 3]'.repeat(14)}${'( 3)'.repeat(16)}`);
  // A label that would run past the strip's right edge is left out.
  const narrow = renderLogStrip({ ...status, nodes }, 6 + 4 * 3).map(stripTags);
  t.true((narrow[0] ?? '').length <= 6 + 4 * 3, `the ruler fits: '${narrow[0]}'`);
  // A deposed leader's longer tail in an older term still widens the window.
  const deposed = nodeStatus(3, { term: 2, lastLogIndex: 15_590, lastLogTerm: 2, commitIndex: 15_560, logTerms: [{ first: 1, term: 2 }], recentEntries: [] });
  const widened = renderLogStrip({ ...status, nodes: nodes.map((node) => (node.id === 3 ? deposed : node)) }, 6 + 4 * 30).map(stripTags);
  t.regex(widened[0] ?? '', /^index 15561\s.*15585$/, 'the window runs to 15590 (its label would pass the edge)');
  t.is(widened[3], `n3    ${'( 2)'.repeat(30)}`, 'its tail shows to its end, uncommitted past 15,560');
  t.is(widened[1], `n1    ${'( 3)'.repeat(11)}`, "the leader's row ends at its last entry, 15,571");
});

test('log strip: cells whose term the status does not give (compacted, or older runs left out) are marked', (t) => {
  const status = healthyStatus();
  const sparse = { ...status, nodes: status.nodes.map((node) => (node.id === 1 ? { ...node, snapshotIndex: 10, logTerms: [{ first: 11, term: 3 }] } : node)) };
  t.is(stripTags(renderLogStrip(sparse, 80)[1] ?? ''), 'n1     ..  ..  ..  ..  ..  ..  ..  ..  ..  .. ( 3)( 3)');
  // Terms from the runs: n5's log has term 2 up to 5 and term 3 after.
  t.is(stripTags(renderLogStrip(sparse, 80)[5] ?? ''), 'n5    [ 2][ 2][ 2][ 2][ 2][ 3][ 3][ 3]');
});

test('event feed: newest at the bottom, long lines wrapped, invariant alarms in red', (t) => {
  const feed = new EventFeed(3);
  const entry = (text: string, kind: FeedEntry['kind'] = EventKind.Info): FeedEntry => ({ timeMs: 61_500, source: FeedSource.Cluster, kind, node: 2, text, error: false });
  feed.push(entry('first'));
  feed.push(entry('second'));
  feed.push(entry('third {braces}'));
  feed.push(entry('two leaders in term 3', EventKind.Invariant));
  t.is(feed.size, 3);
  t.is(feed.dropped, 1);
  const tagged = renderEventFeed(feed.recent(10), 10, 80);
  const text = tagged.map(stripTags);
  t.deepEqual(text, ['01:01.5 n2  second', '01:01.5 n2  third {braces}', '01:01.5 n2  INVARIANT two leaders in term 3']);
  t.true(tagged[2]?.includes('{red-fg}') === true);
  const long = renderEventFeed([entry('word '.repeat(30).trim())], 2, 40).map(stripTags);
  t.is(long.length, 2, 'only the last 2 lines fit');
  t.true(long.every((line) => line.length <= 40));
  t.deepEqual(wrap('aaa bbb ccc', 7), ['aaa bbb', 'ccc']);
  const many = Array.from({ length: 10 }, (_, position) => entry(`line ${position}`));
  t.deepEqual(renderEventFeed(many, 3, 80, 0).map(stripTags), ['01:01.5 n2  line 7', '01:01.5 n2  line 8', '01:01.5 n2  line 9']);
  t.deepEqual(renderEventFeed(many, 3, 80, 4).map(stripTags), ['01:01.5 n2  line 3', '01:01.5 n2  line 4', '01:01.5 n2  line 5'], 'scrolled back 4 lines');
  t.deepEqual(renderEventFeed(many, 3, 80, 50).map(stripTags), ['01:01.5 n2  line 0', '01:01.5 n2  line 1', '01:01.5 n2  line 2'], 'scrolling stops at the oldest');
});

test('help lists every key and every command usage', (t) => {
  const text = plain(renderHelp(KEY_HELP, COMMANDS));
  for (const command of COMMANDS) t.true(text.includes(command.usage), `help shows ${command.usage}`);
  for (const key of ['Enter', 'crash the leader', 'put a random key', 'quit (asks first)', 'Esc']) t.true(text.includes(key), key);
});

test('help shows every key and usage whole: in columns at 160x48, wrapped to the overlay at 80x24', (t) => {
  // The overlay is 90% of the screen, less its border: 142 columns of 160, 70 of 80.
  for (const width of [142, 70]) {
    const lines = renderHelp(KEY_HELP, COMMANDS, width).map(stripTags);
    const text = lines.join('\n');
    t.true(lines.every((line) => line.length <= width), `${width}: ${lines.find((line) => line.length > width) ?? ''}`);
    t.notRegex(text, /\w~/, `${width}: nothing cut short (fit marks a cut with ~)`);
    for (const key of KEY_HELP) t.true(lines.some((line) => line.startsWith(`  ${key.key} `)), `${width}: ${key.key}`);
    for (const command of COMMANDS) t.true(lines.some((line) => line.startsWith(`  ${command.usage} `)), `${width}: ${command.usage}`);
    // Every word of the explanations is there, wrapped or not.
    const words = text.split(/\s+/);
    for (const item of [...KEY_HELP.map((key) => key.action), ...COMMANDS.map((command) => command.summary)]) {
      for (const word of item.split(' ')) t.true(words.includes(word), `${width}: ${word} (${item})`);
    }
  }
  const wide = renderHelp(KEY_HELP, COMMANDS, 142).map(stripTags);
  t.true(wide.includes('  PgUp/PgDn End scroll the event feed back / forward / to the newest'));
  // A wrapped explanation goes on under its own column.
  const narrow = renderHelp(KEY_HELP, COMMANDS, 70).map(stripTags);
  const voters = narrow.findIndex((line) => line.startsWith('  voters '));
  const column = narrow[voters]!.indexOf('make exactly');
  t.true(column > 0);
  t.regex(narrow[voters + 1]!, new RegExp(`^ {${column}}\\S`), 'the next line is indented to the text column');
  // Too narrow for two columns: the text goes under its label.
  const tiny = renderHelp(KEY_HELP, COMMANDS, 40).map(stripTags);
  t.true(tiny.every((line) => line.length <= 40));
  t.true(tiny.includes('  voters 1,4,5 [2,3|-] [--force]'));
});

test("help's add usage names exactly what :add accepts", (t) => {
  const add = COMMANDS.find((command) => command.name === 'add');
  t.is(add?.usage, 'add [learner|voter] [--force]');
  t.false(parseMemberKind(undefined), 'alone: a voter');
  t.false(parseMemberKind('voter'));
  t.true(parseMemberKind('learner'));
  t.throws(() => parseMemberKind('witness'), { message: "'witness' is neither learner nor voter" });
});

test('detail view: per-peer progress, recent entries with commands, WAL files', (t) => {
  const text = plain(renderDetail(healthyStatus(), 1));
  t.regex(text, /node n1\s+\* LEADER\s+term 3/);
  t.regex(text, /n5\s+match\s+8 next\s+13 replicate/);
  t.regex(text, /12 \(3\)\s+put k12=12/);
  t.regex(text, /10 \[3\]\s+put k10=10/);
  t.regex(text, /wal-0000000001\.log/);
  // Slow fdatasyncs since the node started, over each threshold.
  t.regex(text, /snapshot 0\s+fsyncs over 1\/5\/20 ms 0\/0\/0/);
  const slow = healthyStatus();
  const withSlow = { ...slow, nodes: slow.nodes.map((node) => (node.id === 1 ? { ...node, slowFsyncs: [12, 3, 0] } : node)) };
  t.regex(plain(renderDetail(withSlow, 1)), /fsyncs over 1\/5\/20 ms 12\/3\/0/);
  t.regex(plain(renderDetail(healthyStatus(), 9)), /no node n9/);
});

test('detail view of a down node marks what it last reported as last known', (t) => {
  const status = healthyStatus();
  const down = { ...status, nodes: status.nodes.map((node) => (node.id === 4 ? { ...node, leaderId: 1, lastLeaderContactMs: 10 } : node)) };
  const lines = renderDetail(down, 4).map(stripTags);
  t.regex(lines[0] ?? '', /^node n4 +X DOWN +term 2 +voted for n1 +leader n1 +\(last known\)$/);
  t.regex(lines[2] ?? '', /^election 2\/10 ticks +last leader contact 10ms +fsync 1\.5ms +malformed messages 0 +\(last known\)$/);
  t.true(renderDetail(down, 4)[0]?.includes('{red-fg}(last known){/red-fg}'));
  t.false(plain(renderDetail(down, 2)).includes('last known'), 'a running node reports its state as it is');
});

test('message line: errors in red, quit confirmation', (t) => {
  t.true(renderMessageLine({ ...ui, message: { text: 'usage: crash ID', level: 'error' } }).includes('{red-fg}'));
  t.regex(stripTags(renderMessageLine({ ...ui, overlay: 'confirm-quit' })), /Quit and stop the cluster\? \(y\/n\)/);
  // Too long for the line: cut where it says so, and where the whole of it is.
  const long = 'remove refused: MEMBERSHIP_CHANGE_UNSAFE: cannot remove n2: its voters n1,n3 need 2 to commit -- {bold}:remove 2 --force{/bold} proposes it anyway';
  const cut = stripTags(renderMessageLine({ ...ui, message: { text: long, level: 'error', inFeed: true } }, 80));
  t.is(cut.length, 80);
  t.true(cut.endsWith(' ... (whole line in the events)'), cut);
  t.true(cut.startsWith(' remove refused: MEMBERSHIP_CHANGE_UNSAFE'));
  t.regex(stripTags(renderMessageLine({ ...ui, message: { text: long, level: 'info' } }, 60)), /^ remove refused: .{20,} \.\.\.$/, 'not in the feed: only marked as cut');
  t.is(stripTags(renderMessageLine({ ...ui, message: { text: long, level: 'error', inFeed: true } }, 200)), ` ${long}`, 'whole when it fits, tags in it shown as typed');
});

test('metrics history: a minute of samples, padded on the left', (t) => {
  const history = new MetricsHistory(4);
  history.push({ opsPerSecond: 10, latencyMsP50: 1, latencyMsP99: null });
  history.push({ opsPerSecond: 20, latencyMsP50: 2, latencyMsP99: 5 });
  const series = history.series();
  t.deepEqual(series.x, ['-3', '-2', '-1', '0']);
  t.deepEqual(series.ops, [0, 0, 10, 20]);
  t.deepEqual(series.p99, [0, 0, 0, 5]);
  for (let sample = 0; sample < 10; sample++) history.push({ opsPerSecond: sample, latencyMsP50: null, latencyMsP99: null });
  t.is(history.size, 4);
  t.deepEqual(history.series().ops, [6, 7, 8, 9]);
});

test('learners: marked in the node table, the replication pane, the detail view and a status badge; they make no quorum', (t) => {
  const status = learnerStatus();
  const rows = plain(renderNodeTable(status, ui)).split('\n');
  t.is(rows.length, 8);
  t.regex(rows[6] ?? '', /n6\s+\+ LEARNER\s+3/);
  // A learner never campaigns: no election bar (run down, it was an empty yellow one announcing an election).
  t.regex(rows[6] ?? '', /\d+\s+learner\s/, rows[6]);
  t.notRegex(rows[6] ?? '', /\[[#.]+\]/);
  t.regex(rows[2] ?? '', /\[[#.]{10}\]/, 'a voter keeps its bar');
  t.regex(rows[7] ?? '', /n7\s+o NON-MEMBER/);
  t.regex(rows[2] ?? '', /n2\s+- FOLLOWER/, 'voters keep their role');
  const downLearner = { ...status, nodes: status.nodes.map((node) => (node.id === 6 ? { ...node, alive: false } : node)) };
  t.regex(plain(renderNodeTable(downLearner, ui)).split('\n')[6] ?? '', /n6\s+X DOWN\/LEARNER/);
  const bar = stripTags(renderStatusBar(status, ui));
  t.regex(bar, /quorum OK \(4\/5 up\)/, 'counted over the five voters: n4 is down, n6 and n7 do not count');
  t.regex(bar, /\[LEARNERS n6\]/);
  t.notRegex(stripTags(renderStatusBar(healthyStatus(), ui)), /LEARNERS/);
  const replication = plain(renderReplication(status, 90));
  t.regex(replication, /n6\s+match\s+12 .* learner/);
  t.notRegex(replication.split('\n').find((line) => line.startsWith('n2')) ?? '', /learner/);
  const detail = plain(renderDetail(status, 6));
  t.regex(detail, /node n6\s+\+ LEARNER/);
  t.regex(detail, /configuration it uses \(the initial one\): voters n1,n2,n3,n4,n5; learners n6/);
  t.regex(plain(renderDetail(status, 1)), /n6\s+match\s+12 next\s+13 replicate\s+inflight 0\s+learner/);
  // Three voters down of five: no quorum, whatever the learner does.
  const lost = { ...status, nodes: status.nodes.map((node) => (node.id === 2 || node.id === 3 ? { ...node, alive: false } : node)) };
  t.false(quorumOk(lost));
  const help = plain(renderHelp(KEY_HELP, COMMANDS));
  t.regex(help, /\+ LEARNER receives the log/);
  for (const usage of ['add [learner|voter]', 'promote ID', 'remove ID|leader']) t.true(help.includes(usage), usage);
});

test('a configuration entry not committed yet (a change under way, or forced without its voters) shows as a badge and in the detail view', (t) => {
  const base = healthyStatus();
  // n1 leads with C_new = voters 1,2,3 at index 12; every commit index is 10 or less.
  const membership = { voters: [1, 2, 3], learners: [] };
  const pending: ClusterStatus = { ...base, membership, nodes: base.nodes.map((node) => (node.id <= 3 ? { ...node, membership, membershipIndex: 12 } : node)) };
  const bar = stripTags(renderStatusBar(pending, initialUiState));
  t.regex(bar, /\[CONFIG @12 NOT COMMITTED\]/);
  t.regex(stripTags(renderStatusBar(pending, initialUiState, 45)), /\[CFG @12\?\]/, 'short form on a narrow bar');
  t.regex(stripTags(renderDetail(pending, 1).join('\n')), /configuration it uses \(entry 12, not committed yet\): voters n1,n2,n3; learners none/);
  // Once some node's commit index reaches it, it is committed: no badge.
  const committed: ClusterStatus = { ...pending, nodes: pending.nodes.map((node) => (node.id === 2 ? { ...node, commitIndex: 12 } : node)) };
  t.notRegex(stripTags(renderStatusBar(committed, initialUiState)), /CONFIG/);
  t.regex(stripTags(renderDetail(committed, 2).join('\n')), /configuration it uses \(entry 12, committed\)/);
  // No leader (forced, its new voters down): read from the running node with the longest log.
  const leaderless: ClusterStatus = { ...pending, leaderId: 0, nodes: pending.nodes.map((node) => (node.id === 1 ? { ...node, role: 'follower' as const, alive: false } : node)) };
  t.regex(stripTags(renderStatusBar(leaderless, initialUiState)), /\[CONFIG @12 NOT COMMITTED\]/);
  t.notRegex(stripTags(renderStatusBar(healthyStatus(), initialUiState)), /CONFIG/, 'the initial configuration (index 0) is never pending');
  t.regex(stripTags(renderHelp(KEY_HELP, COMMANDS).join('\n')), /CONFIG @i NOT COMMITTED/);
});

/** healthyStatus with n1 as n13 (the leader) and n3 as n10: ids pass 9 after a few :add and :remove. */
function twoDigitStatus(): ClusterStatus {
  const rename = (id: number): number => (id === 1 ? 13 : id === 3 ? 10 : id);
  const base = healthyStatus();
  const membership = { voters: base.membership.voters.map(rename), learners: [] };
  return {
    ...base,
    leaderId: 13,
    membership,
    nodes: base.nodes.map((node) => ({
      ...node,
      id: rename(node.id),
      votedFor: rename(node.votedFor),
      leaderId: rename(node.leaderId),
      membership,
      progress: node.progress.map((peer) => ({ ...peer, id: rename(peer.id) })),
    })),
  };
}

/** The column where `pattern` first matches in each of `lines` that has it. */
function columns(lines: readonly string[], pattern: RegExp): number[] {
  return lines.map((line) => line.search(pattern)).filter((column) => column >= 0);
}

test('two-digit node ids show whole and line up in every pane', (t) => {
  const status = twoDigitStatus();
  t.regex(stripTags(renderStatusBar(status, ui)), /^ leader n13 \| term 3 \|/);
  const table = renderNodeTable(status, { ...ui, selectedNode: 10 }).map(stripTags);
  t.regex(table.join('\n'), /> n10 +- FOLLOWER +3 +n13 /);
  t.is(new Set(columns(table.slice(1), /[-*X] (LEADER|FOLLOWER|DOWN)/)).size, 1, table.join('\n'));
  const replication = renderReplication(status, 78).map(stripTags);
  t.regex(replication[0] ?? '', /^leader n13,/);
  t.regex(replication.join('\n'), /^n10 match\s+12 next\s+13 \[#+\] lag\s+0 replicate inflight 1 *$/m);
  t.regex(replication.join('\n'), /^n2  match\s+12 /m);
  t.is(new Set(columns(replication.slice(1), /match/)).size, 1, replication.join('\n'));
  t.true(replication.every((line) => line.length <= 78), replication.join('\n'));
  const strip = renderLogStrip(status, 80).map(stripTags);
  t.is(new Set(columns(strip.slice(1), /[[(]/)).size, 1, strip.join('\n'));
  t.regex(strip.join('\n'), /^n13   \[/m);
  const entry = (node: number): FeedEntry => ({ timeMs: 61_500, source: FeedSource.Cluster, kind: EventKind.Info, node, text: `node ${node} is LEADER`, error: false });
  const noNode: FeedEntry = { ...entry(0), source: FeedSource.Scenario, text: 'narration' };
  t.deepEqual(renderEventFeed([entry(3), entry(13), noNode], 3, 80).map(stripTags), ['01:01.5 n3  node 3 is LEADER', '01:01.5 n13 node 13 is LEADER', '01:01.5     >> narration']);
  const detail = plain(renderDetail(status, 13));
  t.regex(detail, /node n13 +\* LEADER +term 3 +voted for n13 +leader n13/);
  t.regex(detail, /^ {2}n10 match +12 next +13 replicate/m);
  t.regex(detail, /^ {2}n2  match +12 next +13 replicate/m);
});

test('the background load is paced by the time elapsed, not by timer ticks: a late timer still sends the rate asked for', (t) => {
  // 200/s with a 20 ms timer that fires every 23 ms (a loaded machine): 10 s of it.
  const pacer = new LoadPacer(200, 0);
  let sent = 0;
  for (let nowMs = 23; nowMs <= 10_000; nowMs += 23) sent += pacer.due(nowMs);
  t.true(sent >= 1990 && sent <= 2000, `sent ${sent} in 10 s at 200/s (counted per tick: 1,739)`);
  // Irregular firing, fractions carried: exactly rate x elapsed, give or take the one in progress.
  const jittery = new LoadPacer(37, 1000);
  let total = 0;
  for (const nowMs of [1003, 1031, 1032, 1090, 1150, 1151, 1299, 1400, 1600, 1800, 2000]) total += jittery.due(nowMs);
  t.is(total, 37, 'a second at 37/s');
});

test('the background load does not make up for a stall longer than LOAD_CATCH_UP_MS in one burst', (t) => {
  const pacer = new LoadPacer(1000, 0);
  t.is(pacer.due(10), 10);
  // A 5-second pause: only the catch-up window's worth is due.
  t.is(pacer.due(5010), LOAD_CATCH_UP_MS);
  t.is(pacer.due(5020), 10);
  // A clock that goes back asks nothing and loses nothing.
  t.is(pacer.due(5000), 0);
  t.is(pacer.due(5030), 10);
  t.throws(() => new LoadPacer(0, 0), { message: /rate must be > 0/ });
});

test('the command line shows the end of a line longer than the screen, where the cursor is', (t) => {
  t.is(stripTags(renderCommandLine('put k v', 20)), ':put k v ');
  // 18 characters fit beside the ':' and the cursor.
  t.is(stripTags(renderCommandLine('a'.repeat(18), 20)), `:${'a'.repeat(18)} `);
  const long = `put k ${'x'.repeat(100)}{END}`;
  const shown = stripTags(renderCommandLine(long, 20));
  t.is(shown, ':<xxxxxxxxxxxx{END} ');
  t.is(shown.length, 20);
});

test('a node restarted that has not reported yet shows as STARTING with its log unknown, not as an empty log; the status bar does not say commit 0', (t) => {
  const status = healthyStatus();
  // What the supervisor reports between a restart and the node's first status (lib/cluster: initialStatus, reportedAt 0).
  const placeholder = (id: number) => nodeStatus(id, { alive: true, role: 'follower', term: 3, votedFor: 0, leaderId: 0, lastLogIndex: 0, lastLogTerm: 0, commitIndex: 0, appliedIndex: 0, walBytes: 0, electionTimeoutTicks: 0, electionElapsedTicks: 0, logTerms: [], recentEntries: [], progress: [], reportedAt: 0 });
  const one = { ...status, nodes: status.nodes.map((node) => (node.id === 4 ? placeholder(4) : node)) };
  const rows = plain(renderNodeTable(one, ui)).split('\n');
  t.regex(rows[4] ?? '', /^\s+n4\s+\. STARTING\s+3\s+-\s+\?\s+\?\s+\?\s+\S+\s+\?\s/, rows[4]);
  t.notRegex(rows[4] ?? '', /0\/0|0B|\[/);
  t.regex(stripTags(renderLogStrip(one, 80)[4] ?? ''), /^n4\s+starting: its log shows once it reports$/);
  // Every node restarted, none reported, no leader: the commit index is not known.
  const all = { ...status, leaderId: 0, nodes: status.nodes.map((node) => placeholder(node.id)) };
  t.regex(stripTags(renderStatusBar(all, initialUiState)), /leader none \| term \d+ \| commit - \|/);
  // Once they report, as before.
  t.regex(stripTags(renderStatusBar(status, initialUiState)), /commit 10 \|/);
});
