// The whole dashboard, headless: blessed on PassThrough streams, the fake cluster behind
// it, keys typed as raw terminal bytes, and the screen read back as text.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import test from 'ava';
import { Dashboard, MAX_COMMAND_LINE_CHARS } from '../tui/dashboard.js';
import { FakeCluster } from '../tui/fake-cluster.js';
import { runTuiCli } from '../tui/main.js';
import { writeManifest } from '../lib/cluster/manifest.js';
import { EventKind } from '../lib/cluster/types.js';
import type { ClusterEvent } from '../lib/cluster/types.js';

const WAIT_MS = 5000;
/** What a paste of 200,000 characters may take to be absorbed: a fraction of a second, with room for a loaded machine. */
const PASTE_BUDGET_MS = 2000;
const SEED = Number(process.env['TUI_TEST_SEED'] ?? 20_261_126);

interface Harness {
  readonly dashboard: Dashboard;
  readonly cluster: FakeCluster;
  readonly input: PassThrough;
  /** Resizes the fake terminal as a terminal does (blessed listens for the output's resize). */
  resize(columns: number, rows: number): void;
  type(bytes: string): void;
  waitForScreen(pattern: RegExp, what: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Dashboards running at once in this file. Each renders every 20 ms and ticks its fake
 * cluster every 5 ms on this one thread: two dozen at once, beside another test file on a
 * 2-core machine, starved the fake clusters' timers (no leader within WAIT_MS).
 */
const MAX_DASHBOARDS = 4;
let dashboardsRunning = 0;
const dashboardWaiters: (() => void)[] = [];

async function harness(nodes = 5, columns = 160, rows = 48): Promise<Harness> {
  while (dashboardsRunning >= MAX_DASHBOARDS) await new Promise<void>((resolve) => dashboardWaiters.push(resolve));
  dashboardsRunning += 1;
  const cluster = new FakeCluster({ nodes, seed: SEED, tickMs: 5, autoTick: true, fsync: true });
  const input = new PassThrough();
  const output = Object.assign(new PassThrough(), { columns, rows, isTTY: true });
  output.resume();
  const dashboard = new Dashboard({ cluster, input, output, refreshMs: 20, seed: SEED });
  dashboard.start();
  return {
    dashboard,
    cluster,
    input,
    resize: (newColumns, newRows) => {
      Object.assign(output, { columns: newColumns, rows: newRows });
      output.emit('resize');
    },
    type: (bytes) => {
      input.write(bytes);
    },
    waitForScreen: async (pattern, what) => {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        dashboard.refresh();
        const text = dashboard.screenText();
        if (pattern.test(text)) return text;
        if (Date.now() > deadline) throw new Error(`(seed ${SEED}) waited ${WAIT_MS} ms for ${what} (${String(pattern)}); screen:\n${text}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    close: async () => {
      try {
        dashboard.destroy();
        await cluster.stop();
      } finally {
        dashboardsRunning -= 1;
        dashboardWaiters.shift()?.();
      }
    },
  };
}

test('the screen shows the leader, the table, the log strip and the event feed', async (t) => {
  const h = await harness();
  try {
    const screen = await h.waitForScreen(/\* LEADER/, 'a leader');
    t.regex(screen, /leader n\d \| term \d+ \| commit \d+ \| quorum OK \(5\/5 up\)/);
    t.regex(screen, /─ nodes /);
    t.regex(screen, /─ replication \(leader view\) /);
    t.regex(screen, /─ log \(\[t\] committed, \(t\) not yet\) /);
    t.regex(screen, /is leader for term \d+ with votes from/);
    t.regex(screen, /ops\/s, last minute/);
    t.is(screen.split('\n').length, 48, `(seed ${SEED}) 48 rows`);
  } finally {
    await h.close();
  }
});

test('usable at 120x36 with 9 nodes: every node row, the log strip and the feed fit', async (t) => {
  const h = await harness(9, 120, 36);
  try {
    const screen = await h.waitForScreen(/\* LEADER/, 'a leader');
    const lines = screen.split('\n');
    t.is(lines.length, 36);
    t.true(lines.every((line) => line.length <= 120));
    for (let id = 1; id <= 9; id++) t.regex(screen, new RegExp(`│[ >] n${id} +[-*?~X] `), `row of n${id}`);
    t.regex(screen, /─ log /);
    // Its 8 lines take the ruler, n1..n6 and a line naming the three left out.
    t.regex(screen, /│n7 n8 n9 not shown \(a taller terminal shows every node\)/);
    t.regex(screen, /─ events /);
    t.regex(screen, /is leader for term/, 'the feed shows at least one line');
    t.regex(lines[35] ?? '', /^$/, 'the command line is the last row');
    // The latency chart's label fits its border (its long form ran past the corner, "yellow" drawn inside the chart).
    t.regex(screen, /┌─ ms p50 cyan p99 yellow ─+┐/);
    t.notRegex(screen, /│ ?yellow/);
  } finally {
    await h.close();
  }
});

test('a narrow, tall terminal (a start in one, or a resize to one) shows the table and feed without the charts, and does not crash', async (t) => {
  // Started 20 columns wide: blessed-contrib's chart canvas had a negative size and threw in the constructor.
  const h = await harness(3, 20, 60);
  try {
    const narrow = await h.waitForScreen(/\* LEADER/, 'a leader at 20 columns');
    t.notRegex(narrow, /replication|ops\/s, last/, 'no room for the replication pane and charts');
    t.regex(narrow, /─ events /);
    for (const [columns, rows] of [[160, 48], [12, 60], [63, 50], [4, 40], [64, 50], [120, 36]] as const) {
      h.resize(columns, rows);
      const screen = await h.waitForScreen(new RegExp(`^([^\\n]*\\n){${rows - 1}}[^\\n]*$`), `the screen at ${columns}x${rows}`);
      t.is(screen.split('\n').length, rows, `${columns}x${rows}`);
      t.notRegex(screen, /dashboard error|chart error/, `${columns}x${rows}`);
      if (columns >= 64) t.regex(screen, /─ replication \(leader view\) /, `${columns}x${rows}: the charts are back`);
      else t.notRegex(screen, /─ replication/, `${columns}x${rows}`);
    }
  } finally {
    await h.close();
  }
});

test('the latency chart keeps its long label where it fits (160 columns)', async (t) => {
  const h = await harness(5, 160, 48);
  try {
    const screen = await h.waitForScreen(/┌─ commit ms: p50 cyan, p99 yellow ─+┐/, 'the long label at 160 columns');
    t.notRegex(screen, /│ ?yellow/);
  } finally {
    await h.close();
  }
});

test('smaller than the target (80x24, 60x20): the status bar keeps leader, term, quorum and badges, and the feed keeps a few lines', async (t) => {
  for (const [nodes, columns, rows] of [[3, 80, 24], [5, 80, 24], [7, 80, 24], [3, 60, 20], [9, 60, 20]] as const) {
    const what = `${nodes} nodes at ${columns}x${rows} (seed ${SEED})`;
    const h = await harness(nodes, columns, rows);
    try {
      await h.waitForScreen(/\* LEADER/, `a leader, ${what}`);
      await h.dashboard.runCommand('speed 100');
      // At 80 columns both badges fit; at 60, one.
      if (columns >= 80) await h.dashboard.runCommand('scenario leader-crash');
      const screen = await h.waitForScreen(columns >= 80 ? /SCENARIO leader-crash/ : /SLOW tick/, `the badges, ${what}`);
      const lines = screen.split('\n');
      t.is(lines.length, rows, what);
      t.true(lines.every((line) => line.length <= columns), what);
      const bar = lines[0] ?? '';
      const badges = columns >= 80 ? String.raw`\[SLOW tick 100ms\] ?\| ?\[SCENARIO leader-crash 0\/3\]` : String.raw`\[SLOW tick 100ms\]`;
      t.regex(bar, new RegExp(String.raw`^ leader n\d ?\| ?term \d+ ?\| ?(commit \d+ ?\| ?)?quorum OK( \(\d\/\d up\))? ?\| ?${badges}$`), `${what}: ${bar}`);
      t.notRegex(bar, /p99/, `${what}: latency goes first`);
      const feedTop = lines.findIndex((line) => /─ events /.test(line));
      const feedBottom = lines.findIndex((line, row) => row > feedTop && /^└/.test(line));
      const feedLines = lines.slice(feedTop + 1, feedBottom);
      t.true(feedTop > 0 && feedLines.length >= 3, `${what}: the event feed shows 3 lines or more:\n${screen}`);
      t.true(feedLines.some((line) => /│\d\d:\d\d\.\d /.test(line)), `${what}: events in the feed:\n${screen}`);
      t.regex(screen, new RegExp(`│[ >] n${nodes} `), `${what}: the node table ends with n${nodes}`);
      // The log strip shows every node's row, or says which it leaves out (it cut them off
      // without a word; at 80x24 with 5 nodes it kept 3 rows once the charts had gone, with
      // room for all 5).
      if (/─ log /.test(screen)) t.true(new RegExp(`│n${nodes} `).test(screen) || / not shown \(a taller terminal/.test(screen), `${what}: every log row or a note:\n${screen}`);
      if (nodes <= 5 && rows === 24) t.regex(screen, new RegExp(`│n${nodes} +\\[`), `${what}: the log strip has n${nodes}'s row`);
    } finally {
      await h.close();
    }
  }
});

test('typed commands: put, get, crash leader, restart all, bad command usage', async (t) => {
  const h = await harness();
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    h.type(':put k v\r');
    await h.waitForScreen(/put k="v" -> ok/, 'the put result');
    h.type(':get k\r');
    await h.waitForScreen(/get k -> "v"/, 'the get result');
    const before = h.cluster.status().leaderId;
    h.type(':crash leader\r');
    await h.waitForScreen(new RegExp(`n${before}\\s+X DOWN`), 'the crashed leader shown DOWN');
    await h.waitForScreen(new RegExp(`crashed n${before}`), 'the crash report');
    await h.waitForScreen(/\* LEADER/, 'a new leader');
    t.not(h.cluster.status().leaderId, before, `(seed ${SEED}) a different leader`);
    h.type(':restart all\r');
    await h.waitForScreen(/restarted n\d/, 'the restart');
    h.type(':crash 42\r');
    const usage = await h.waitForScreen(/usage: crash ID\|leader\|all/, 'the usage');
    t.regex(usage, /no node 42/);
    t.true(h.cluster.operations.includes(`crash ${before}`));
    t.true(h.cluster.operations.includes(`restart ${before}`));
  } finally {
    await h.close();
  }
});

test('membership from the command line: add a learner, promote it, add a voter, remove nodes; the node list follows', async (t) => {
  const h = await harness();
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    h.type(':add learner\r');
    const added = await h.waitForScreen(/added n6 as a learner/, 'the add report');
    t.regex(added, /│[ >] n6 +\+ LEARNER/, 'n6 listed as a learner');
    t.regex(added, /\[LEARNERS n6\]/);
    t.regex(added, /quorum OK \(5\/5 up\)/, 'the learner makes no quorum');
    await h.waitForScreen(/committed: make n6 a learner/, 'the membership event in the feed');
    h.type(':promote 6\r');
    const promoted = await h.waitForScreen(/n6 is a voter/, 'the promote report');
    t.regex(promoted, /│[ >] n6 +- FOLLOWER/);
    t.notRegex(promoted, /LEARNERS/);
    h.type(':add\r');
    await h.waitForScreen(/added n7 as a voter/, 'a voter added');
    await h.waitForScreen(/quorum OK \(7\/7 up\)/, 'seven voters');
    h.type(':select 6\r');
    await h.waitForScreen(/│>\s+n6 /, 'n6 selected');
    h.type(':remove 6\r');
    const removed = await h.waitForScreen(/removed n6/, 'the remove report');
    t.notRegex(removed, /│[ >] n6 /, 'n6 is gone from the node list');
    t.regex(removed, /│>\s+n1 /, 'the selection moved to a node that exists');
    const leader = h.cluster.status().leaderId;
    h.type(':remove leader\r');
    await h.waitForScreen(new RegExp(`removed n${leader}`), 'the leader removed');
    await h.waitForScreen(/\* LEADER/, 'a new leader among the rest');
    t.not(h.cluster.status().leaderId, leader);
    h.type(':add bogus\r');
    await h.waitForScreen(/'bogus' is neither learner nor voter -- usage: add \[learner\|voter\]/, 'the usage');
    t.deepEqual(h.cluster.operations.filter((operation) => /^(add|promote|remove)/.test(operation)), ['add 6 learner', 'promote 6', 'add 7', 'remove 6', `remove ${leader}`]);
  } finally {
    await h.close();
  }
});

test('a removal refused as unsafe shows its code, reason and the --force line; the node stays; --force removes it', async (t) => {
  const h = await harness(3);
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    const leader = h.cluster.status().leaderId;
    const [down, other] = [1, 2, 3].filter((id) => id !== leader) as [number, number];
    h.type(`:crash ${down}\r`);
    await h.waitForScreen(new RegExp(`n${down} +X DOWN`), 'the crash');
    // Without `down`, the voters left (the leader and `down`) could never commit.
    h.type(`:remove ${other}\r`);
    const refused = await h.waitForScreen(/remove refused: MEMBERSHIP_CHANGE_UNSAFE/, 'the refusal');
    t.regex(refused, new RegExp(`cannot remove n${other}: its voters`), 'the reason');
    t.notRegex(refused, /\{ force: true \}/, 'no library syntax nobody can type here');
    const feed = refused.replace(/[│\s]+/g, ' ');
    t.regex(feed, new RegExp(`':remove ${other} --force' proposes it anyway`), 'what to type instead');
    t.regex(refused, new RegExp(`│[ >] n${other} +- FOLLOWER`), 'the node is still there');
    const statusLine = refused.split('\n').at(-2) ?? '';
    t.regex(statusLine, /^ remove refused: MEMBERSHIP_CHANGE_UNSAFE: .* \.\.\. \(whole line in the events\)$/, 'the status line, too short for it, says where the rest is');
    t.deepEqual(h.cluster.status().membership.voters, [1, 2, 3]);
    h.type(`:remove ${other} --force\r`);
    const removed = await h.waitForScreen(new RegExp(`removed n${other}`), 'the forced removal');
    t.notRegex(removed, new RegExp(`│[ >] n${other} `), 'gone from the node list');
    t.deepEqual(h.cluster.operations.filter((operation) => operation.startsWith('remove')), [`remove ${other}`, `remove ${other} --force`]);
    h.type('?');
    const help = await h.waitForScreen(/remove ID\|leader \[--force\]/, 'the help lists --force');
    t.regex(help, /voters 1,4,5 \[2,3\|-\] \[--force\]/);
  } finally {
    await h.close();
  }
});

test('the e and t keys on a learner say it cannot campaign or lead, and ask the cluster nothing', async (t) => {
  const h = await harness();
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    h.type(':add learner\r');
    await h.waitForScreen(/added n6 as a learner/, 'a learner');
    h.type(':select 6\r');
    await h.waitForScreen(/│>\s+n6 /, 'n6 selected');
    h.type('e');
    await h.waitForScreen(/n6 is a learner: it never campaigns \(:promote 6 first\)/, 'the e key refused');
    h.type('t');
    await h.waitForScreen(/n6 is a learner: only a voter can lead \(:promote 6 first\)/, 'the t key refused');
    t.false(h.cluster.operations.some((operation) => operation === 'campaign 6' || operation === 'transfer 6'));
  } finally {
    await h.close();
  }
});

test('removing an isolated node ends the partition on screen: no PARTITION badge, no group letters', async (t) => {
  const h = await harness();
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    const leader = h.cluster.status().leaderId;
    const isolated = [1, 2, 3, 4, 5].find((id) => id !== leader)!;
    h.type(`:isolate ${isolated}\r`);
    await h.waitForScreen(/\[PARTITION /, 'the partition badge');
    h.type(`:remove ${isolated}\r`);
    const screen = await h.waitForScreen(new RegExp(`removed n${isolated}`), 'the removal');
    t.notRegex(screen, /PARTITION|PART /, 'no badge for a partition nobody is cut off by');
    t.is(h.cluster.status().partition, null);
    t.regex(screen, new RegExp(`│[ >] n${leader} +\\* LEADER .* -\\s+│`), 'the GROUP column says none');
  } finally {
    await h.close();
  }
});

test(':voters with learners demotes the leader and a follower on the fake: they stay as learners, a voter leads', async (t) => {
  const h = await harness();
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    const leader = h.cluster.status().leaderId;
    const follower = [1, 2, 3, 4, 5].find((id) => id !== leader)!;
    const voters = [1, 2, 3, 4, 5].filter((id) => id !== leader && id !== follower);
    const demoted = [leader, follower].sort((a, b) => a - b);
    h.type(`:voters ${voters.join(',')} ${demoted.join(',')}\r`);
    const list = (ids: number[]): string => ids.map((id) => `n${id}`).join(',');
    const screen = await h.waitForScreen(new RegExp(`the voters are ${list(voters)}, learners ${list(demoted)}`), 'the report');
    t.regex(screen, new RegExp(`\\[LEARNERS ${demoted.map((id) => `n${id}`).join(' ')}\\]`));
    for (const id of demoted) t.regex(screen, new RegExp(`│[ >] n${id} +\\+ LEARNER`), `n${id} listed as a learner`);
    await h.waitForScreen(/\* LEADER/, 'a voter leads');
    t.true(voters.includes(h.cluster.status().leaderId), 'the new leader is a voter');
    t.deepEqual(h.cluster.status().membership, { voters, learners: demoted });
  } finally {
    await h.close();
  }
});

test('single keys act on the selected node; j/k move the selection', async (t) => {
  const h = await harness();
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    t.is(h.dashboard.ui.selectedNode, 1);
    h.type('j');
    h.type('\x1b[B');
    await h.waitForScreen(/│>\s+n3 /, 'n3 selected');
    h.type('c');
    await h.waitForScreen(/n3\s+X DOWN/, 'n3 down');
    h.type('r');
    await h.waitForScreen(/restarted n3/, 'n3 restarted');
    h.type('k');
    h.type('i');
    await h.waitForScreen(/\[PARTITION 2\|1,3,4,5\]/, 'n2 isolated');
    h.type('h');
    await h.waitForScreen(/healed: every link is up/, 'healed');
    h.type('e');
    await h.waitForScreen(/n2: election timeout forced/, 'campaign');
    h.type('p');
    await h.waitForScreen(/put k\d+=\d+ -> ok/, 'a random put');
    t.deepEqual(
      h.cluster.operations.filter((operation) => !operation.startsWith('faults')),
      ['crash 3', 'restart 3', 'partition 2|1,3,4,5', 'heal', 'campaign 2'],
    );
  } finally {
    await h.close();
  }
});

test('help and detail overlays open and Esc closes them', async (t) => {
  const h = await harness();
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    h.type('?');
    const help = await h.waitForScreen(/Keys \(act on the selected node\)/, 'help');
    t.regex(help, /partition 1,2\|3,4,5/);
    t.notRegex(help, /Esc closes this help/, 'at 48 rows the end of the help is below the fold');
    h.type('jjjjjjjjjjjjjjjjjjjjjjjjjjjjjj');
    await h.waitForScreen(/Esc closes this help/, 'the end of the help after scrolling');
    t.is(h.dashboard.ui.selectedNode, 1, 'j scrolls the help, it does not move the selection');
    h.type('\x1b');
    await h.waitForScreen(/^(?![\s\S]*Keys \(act on)/, 'help closed');
    h.type('\x1b[5~');
    await h.waitForScreen(/events \(\d+ lines back(, \d+ newer)?; End follows the newest\)/, 'the feed scrolled back');
    h.type('\x1b[F');
    await h.waitForScreen(/─ events ─/, 'the feed following the newest again');
    h.type('\r');
    const detail = await h.waitForScreen(/Recent log entries/, 'the detail view');
    t.regex(detail, /node n1 /);
    t.regex(detail, /WAL \d+(\.\d)?[BKM] in 1 file/);
    h.type('\x1b');
    await h.waitForScreen(/^(?![\s\S]*Recent log entries)/, 'detail closed');
  } finally {
    await h.close();
  }
});

test('at 80x24 a node\'s details wrap instead of being cut, and PgUp/PgDn scroll them to their end (the WAL files)', async (t) => {
  const h = await harness(5, 80, 24);
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    for (let index = 0; index < 25; index++) await h.dashboard.runCommand(`put k${index} ${index}`);
    h.type('\r');
    const detail = await h.waitForScreen(/Peers \(leader view/, 'the detail view');
    // Its lines' ends were cut off ("fsyncs over 1/", "malformed mes", "voters n1,n2,n3,n4,n5; learne").
    t.regex(detail, /malformed messages \d+/, detail);
    t.regex(detail, /learners none/);
    t.notRegex(detail, /WAL \d/, 'the WAL files are below the view');
    h.type('\x1b[6~\x1b[6~\x1b[6~');
    const end = await h.waitForScreen(/PgUp\/PgDn scroll/, 'the end of the details');
    t.regex(end, /WAL \d+(\.\d)?[BKM] in 1 file/);
    t.is(h.dashboard.ui.feedScrollLines, 0, 'PgDn scrolled the details, not the event feed behind them');
    h.type('\x1b[5~\x1b[5~\x1b[5~');
    await h.waitForScreen(/node n1 .*term/, 'back at the top');
  } finally {
    await h.close();
  }
});

test('a command line longer than the screen shows its end and the cursor, not its start', async (t) => {
  const h = await harness(3, 80, 24);
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    h.type(`:put k ${'x'.repeat(100)}TAIL`);
    const screen = await h.waitForScreen(/TAIL *$/, 'the end of the typed line');
    const last = screen.split('\n').at(-1) ?? '';
    t.regex(last, /^:<x+TAIL$/, last);
    t.is(last.length, 79, 'the line and the cursor fill the width');
    h.type('\r');
    // The whole line was sent: 100 x's and TAIL, quoted.
    await h.waitForScreen(/\.\.\. \(106 chars\) -> ok/, 'the put');
  } finally {
    await h.close();
  }
});

/** The event feed's rows on a screen, inside its border. */
function feedRows(screen: string): string[] {
  const lines = screen.split('\n');
  const top = lines.findIndex((line) => /┌─ events/.test(line));
  const bottom = lines.findIndex((line, index) => index > top && line.startsWith('└'));
  return lines.slice(top + 1, bottom);
}

test('the event feed scrolled back stays where it was while new events arrive, and says how many came; End follows the newest again', async (t) => {
  const h = await harness();
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    for (let index = 0; index < 40; index++) await h.dashboard.runCommand(`put old${index} ${index}`);
    await h.waitForScreen(/put old39=39 -> ok/, 'the last put in the feed');
    h.type('\x1b[5~');
    const scrolled = await h.waitForScreen(/events \(10 lines back(, \d+ newer)?; End follows the newest\)/, 'the feed scrolled back');
    const rows = feedRows(scrolled);
    t.true(rows.some((row) => /put old\d+=\d+ -> ok/.test(row)), `(seed ${SEED}) the feed shows the older puts:\n${rows.join('\n')}`);
    t.false(rows.some((row) => /put old39=39/.test(row)), 'the newest put is below the view');
    // New entries arrive: the view does not move (it moved up a line per entry, and the
    // lines being read went off the top), and the label counts them.
    for (let index = 0; index < 5; index++) await h.dashboard.runCommand(`put new${index} ${index}`);
    // runCommand resolves once its result is in the feed and drawn.
    const later = h.dashboard.screenText();
    t.deepEqual(feedRows(later), rows, `(seed ${SEED}) the same rows`);
    t.true(Number(/events \(10 lines back, (\d+) newer; End follows the newest\)/.exec(later)?.[1]) >= 5, later);
    h.type('\x1b[F');
    const newest = await h.waitForScreen(/─ events ─/, 'the feed following the newest again');
    t.regex(newest, /put new4=4 -> ok/);
  } finally {
    await h.close();
  }
});

test('command line: history with up/down, Tab completion, Esc cancels', async (t) => {
  const h = await harness();
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    h.type(':select 4\r');
    await h.waitForScreen(/│>\s+n4 /, 'n4 selected');
    h.type(':sel');
    h.type('\t');
    await h.waitForScreen(/^:select\s*$/m, 'completed command name');
    h.type('2\r');
    await h.waitForScreen(/│>\s+n2 /, 'n2 selected');
    h.type(':\x1b[A\x1b[A');
    await h.waitForScreen(/^:select 4/m, 'history recalls the older line');
    h.type('\x1b[B');
    await h.waitForScreen(/^:select 2/m, 'down walks forward');
    h.type('\x1b');
    await h.waitForScreen(/\? help {2}: command/, 'command line closed');
    t.is(h.dashboard.ui.commandLineOpen, false);
    t.is(h.dashboard.ui.selectedNode, 2);
  } finally {
    await h.close();
  }
});

test('q asks before quitting: n cancels, y resolves done', async (t) => {
  const h = await harness();
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    let quit = false;
    void h.dashboard.done.then(() => {
      quit = true;
    });
    h.type('q');
    await h.waitForScreen(/Quit and stop the cluster\? \(y\/n\)/, 'the confirmation');
    h.type('n');
    await h.waitForScreen(/quit cancelled/, 'cancelled');
    t.false(quit);
    h.type('q');
    await h.waitForScreen(/Quit and stop the cluster\?/, 'the confirmation again');
    h.type('y');
    await h.dashboard.done;
    t.true(quit);
  } finally {
    await h.close();
  }
});

// Serial: it points TMPDIR elsewhere for a moment, and serial tests run before the others.
test.serial('runTuiCli with a TMPDIR that is not there says the start failed and why, exit 1, not a stack trace', async (t) => {
  const stdout = Object.assign(new PassThrough(), { isTTY: true }) as unknown as NodeJS.WriteStream;
  const stderr = new PassThrough();
  let started = false;
  const before = process.env['TMPDIR'];
  process.env['TMPDIR'] = '/nonexistent-raftlab-tmp';
  let code: number;
  try {
    code = await runTuiCli([], {
      stdout,
      stderr,
      startCluster: async () => {
        started = true;
        throw new Error('must not start');
      },
    });
  } finally {
    if (before === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = before;
  }
  t.is(code, 1);
  t.false(started);
  t.regex(String(stderr.read()), /^raftlab tui: the cluster did not start: cannot make a scratch directory in \/nonexistent-raftlab-tmp: ENOENT.*; --data DIR puts its files elsewhere\n$/);
});

test('runTuiCli refuses a non-terminal stdout at once, exit code 2', async (t) => {
  const stdout = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
  const stderr = new PassThrough();
  let started = false;
  const code = await runTuiCli([], {
    stdout,
    stderr,
    startCluster: async () => {
      started = true;
      throw new Error('must not start');
    },
  });
  t.is(code, 2);
  t.false(started);
  t.regex(String(stderr.read()), /raftlab tui needs a terminal .*try raftlab sim \/ check \/ bench/);
});

test('runTuiCli on a resized cluster\'s directory names the nodes cluster.json lists, and says when --nodes does not apply', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-tui-manifest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeManifest(dir, { bootstrap: [1, 2, 3], nodes: [1, 3, 4, 5], initialized: null });
  for (const [argv, expected] of [
    [['--data', dir], /starting the 4 node\(s\) .*cluster\.json lists, n1,n3,n4,n5 \(--nodes 5 applies to a new directory only\)/],
    [['--data', dir, '--nodes', '4'], /starting the 4 node\(s\) .*cluster\.json lists, n1,n3,n4,n5, data in/],
  ] as const) {
    const stdout = Object.assign(new PassThrough(), { isTTY: true }) as unknown as NodeJS.WriteStream;
    const stderr = new PassThrough();
    let asked = null as number | null;
    const code = await runTuiCli([...argv], {
      stdout,
      stderr,
      startCluster: async (options) => {
        asked = options.nodes;
        throw new Error('stop here');
      },
    });
    t.is(code, 1, 'the starter failed: exit 1');
    t.not(asked, null, 'the starter was asked');
    t.regex(String(stdout.read()), expected, argv.join(' '));
    t.regex(String(stderr.read()), /the cluster did not start: stop here/);
  }
});

test('runTuiCli on a directory from before every start wrote cluster.json names the nodes it holds, and refuses node directories that are not 1..K', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-tui-legacy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const id of [1, 2, 3]) mkdirSync(join(dir, `node-${id}`));
  const run = async (): Promise<{ code: number; out: string; err: string; asked: boolean }> => {
    const stdout = Object.assign(new PassThrough(), { isTTY: true }) as unknown as NodeJS.WriteStream;
    const stderr = new PassThrough();
    let asked = false;
    const code = await runTuiCli(['--data', dir], {
      stdout,
      stderr,
      startCluster: async () => {
        asked = true;
        throw new Error('stop here');
      },
    });
    return { code, out: String(stdout.read() ?? ''), err: String(stderr.read() ?? ''), asked };
  };
  const legacy = await run();
  t.true(legacy.asked);
  t.regex(legacy.out, /starting the 3 node\(s\) .* holds, n1,n2,n3 \(--nodes 5 applies to a new directory only\)/);
  rmSync(join(dir, 'node-2'), { recursive: true });
  const gap = await run();
  t.is(gap.code, 1);
  t.false(gap.asked, 'nothing is started');
  t.regex(gap.err, /the cluster did not start: .*node-1, node-3 but no cluster\.json/);
});

test('what happened while the cluster started is shown in the event feed', async (t) => {
  const cluster = new FakeCluster({ nodes: 3, seed: SEED, tickMs: 5, autoTick: true, fsync: true });
  const startEvents: ClusterEvent[] = [
    { time: 1, kind: EventKind.Crash, node: 2, text: 'node 2 failed to start: WAL corrupt: node-2/wal-0000000001.log at offset 45; node 2 stays down' },
    { time: 2, kind: EventKind.Restart, node: 1, text: 'node 1 started: replayed 7 entries from 1 segment(s), dropped a torn tail of 12 bytes' },
  ];
  const output = Object.assign(new PassThrough(), { columns: 160, rows: 48, isTTY: true });
  output.resume();
  const dashboard = new Dashboard({ cluster: Object.assign(cluster, { startEvents }), input: new PassThrough(), output, refreshMs: 20, seed: SEED });
  try {
    dashboard.refresh();
    const screen = dashboard.screenText();
    t.regex(screen, /node 2 failed to start: WAL corrupt/);
    t.regex(screen, /dropped a torn tail of 12 bytes/);
  } finally {
    dashboard.destroy();
    await cluster.stop();
  }
});

test('runTuiCli --help lists the exit codes, as every other command\'s --help does', async (t) => {
  for (const flag of ['--help', '-h']) {
    const stdout = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
    const code = await runTuiCli([flag], { stdout, stderr: new PassThrough() });
    t.is(code, 0, flag);
    // The codes the tests here see runTuiCli return: 1 when the starter fails, 2 for bad options and for a stdout that is not a terminal, 0 after quitting.
    t.regex(String(stdout.read()), /\nexit 0 quit cleanly \(the cluster stopped\), 1 the cluster did not start, 2 bad arguments or\n  no terminal \(stdout is not a TTY\)\n$/, flag);
  }
});

test('runTuiCli rejects bad options with its usage', async (t) => {
  for (const argv of [['--nodes', '0'], ['--nodes', '10'], ['--nodes', 'x'], ['--data'], ['--frob']]) {
    const stderr = new PassThrough();
    const code = await runTuiCli(argv, { stdout: process.stdout, stderr });
    t.is(code, 2, argv.join(' '));
    t.regex(String(stderr.read()), /usage: raftlab \[tui\]/, argv.join(' '));
  }
});

test('runTuiCli checks its arguments as every command does: plain decimal in range, each option once, a value not another option', async (t) => {
  const cases: readonly (readonly [readonly string[], RegExp])[] = [
    [['--nodes', '0x3', '--nodes', '3e0'], /^raftlab tui: --nodes given twice\n/],
    [['--nodes', '3', '--nodes', '5'], /^raftlab tui: --nodes given twice\n/],
    [['--data', '/tmp/a', '--data', '/tmp/b'], /^raftlab tui: --data given twice\n/],
    [['--fake', '--fake'], /^raftlab tui: --fake given twice\n/],
    [['--no-fsync', '--no-fsync'], /^raftlab tui: --no-fsync given twice\n/],
    [['--nodes', '0x3'], /^raftlab tui: --nodes must be an integer from 1 to 9, got '0x3'\n/],
    [['--nodes', '3e0'], /^raftlab tui: --nodes must be an integer from 1 to 9, got '3e0'\n/],
    [['--nodes', '+3'], /^raftlab tui: --nodes must be an integer from 1 to 9, got '\+3'\n/],
    [['--nodes', ' 3'], /^raftlab tui: --nodes must be an integer from 1 to 9, got ' 3'\n/],
    [['--nodes', '3.5'], /^raftlab tui: --nodes must be an integer from 1 to 9, got '3.5'\n/],
    [['--nodes', 'Infinity'], /^raftlab tui: --nodes must be an integer from 1 to 9, got 'Infinity'\n/],
    [['--nodes', '10'], /^raftlab tui: --nodes must be an integer from 1 to 9, got '10'\n/],
    [['--nodes'], /^raftlab tui: --nodes needs a value\n/],
    [['--data', '--fake'], /^raftlab tui: --data needs a value\n/],
    [['--nodes', '--fake'], /^raftlab tui: --nodes needs a value\n/],
    [['--data', ''], /^raftlab tui: --data needs a value\n/],
    [['--nodes=3'], /^raftlab tui: unknown option '--nodes=3'\n/],
  ];
  for (const [argv, reason] of cases) {
    // A terminal: what refuses them is the argument check, not the terminal check.
    const stdout = Object.assign(new PassThrough(), { isTTY: true, columns: 160, rows: 48 }) as unknown as NodeJS.WriteStream;
    const stderr = new PassThrough();
    let started = false;
    const code = await runTuiCli(argv, {
      stdout,
      stderr,
      stdin: new PassThrough(),
      startCluster: async () => {
        started = true;
        throw new Error('must not start');
      },
    });
    const what = JSON.stringify(argv);
    t.is(code, 2, what);
    t.false(started, what);
    t.is(stdout.read(), null, `${what}: nothing on stdout`);
    const text = String(stderr.read());
    t.regex(text, reason, what);
    t.regex(text, /\nusage: raftlab \[tui\]/, what);
  }
});

test('runTuiCli takes plain decimal numbers and each option once', async (t) => {
  for (const [argv, nodes] of [
    [['--nodes', '3'], 3],
    [['--nodes', '9', '--no-fsync', '--fake'], 9],
    [[], 5],
  ] as const) {
    const stdout = Object.assign(new PassThrough(), { isTTY: true, columns: 160, rows: 48 }) as unknown as NodeJS.WriteStream;
    let asked = null as number | null;
    const code = await runTuiCli([...argv], {
      stdout,
      stderr: new PassThrough(),
      stdin: new PassThrough(),
      startCluster: async (options) => {
        asked = options.nodes;
        throw new Error('stop here');
      },
    });
    t.is(code, 1, JSON.stringify(argv));
    t.is(asked, nodes, JSON.stringify(argv));
  }
});

test('a 200,000-character paste into the command line is absorbed at once, cut at the cap with a message, and Ctrl-C still quits at once', async (t) => {
  const h = await harness();
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    h.type(':');
    await h.waitForScreen(/^:\s*$/m, 'the command line open');
    const prefix = 'put med ';
    const startedMs = performance.now();
    h.type(prefix + 'a'.repeat(200_000));
    const screen = await h.waitForScreen(/command line full/, 'the limit message');
    const elapsedMs = performance.now() - startedMs;
    t.log(`200,000 characters absorbed in ${Math.round(elapsedMs)} ms`);
    // One redraw per key took about 1 ms each: minutes for this paste.
    t.true(elapsedMs < PASTE_BUDGET_MS, `(seed ${SEED}) absorbed in ${Math.round(elapsedMs)} ms`);
    t.regex(screen, new RegExp(`command line full: ${MAX_COMMAND_LINE_CHARS} characters at most, ${200_000 + prefix.length - MAX_COMMAND_LINE_CHARS} refused; larger values go through the library API`));
    h.type('\r');
    await h.waitForScreen(/-> ok \(\d+ ms\)/, 'the capped put');
    t.is(await h.cluster.client({ timeoutMs: WAIT_MS }).get('med'), 'a'.repeat(MAX_COMMAND_LINE_CHARS - prefix.length), 'the line was cut at the cap');
    const quitStartedMs = performance.now();
    h.type('\x03');
    await Promise.race([h.dashboard.done, new Promise((_, reject) => setTimeout(() => reject(new Error(`Ctrl-C did not quit within ${WAIT_MS} ms`)), WAIT_MS).unref())]);
    t.true(performance.now() - quitStartedMs < PASTE_BUDGET_MS, 'Ctrl-C quits at once');
  } finally {
    await h.close();
  }
});

test('with every node down the status bar shows the term the nodes last reported, not 0', async (t) => {
  const h = await harness(3);
  try {
    await h.waitForScreen(/\* LEADER/, 'a leader');
    h.type(':crash all\r');
    const screen = await h.waitForScreen(/quorum LOST \(0\/3 up\)/, 'every node down');
    const status = h.cluster.status();
    t.is(status.term, 0, 'the fake reports as the supervisor does: no running node, term 0');
    const lastTerm = Math.max(...status.nodes.map((node) => node.term));
    t.true(lastTerm > 0);
    t.regex(screen, new RegExp(`leader none \\| term ${lastTerm} \\(last known\\) \\|`), `(seed ${SEED})`);
  } finally {
    await h.close();
  }
});

/** Runs runTuiCli on the fake cluster with a pretend terminal, quits with Ctrl-C once a leader shows; what it printed besides the screen. */
async function runAndQuit(argv: readonly string[], quit: (stdin: PassThrough) => void = (stdin) => stdin.write('\x03')): Promise<{ readonly code: number; readonly printed: string; readonly dataDir: string }> {
  const stdin = new PassThrough();
  const stdout = Object.assign(new PassThrough(), { isTTY: true, columns: 160, rows: 48 }) as unknown as NodeJS.WriteStream;
  let printed = '';
  stdout.on('data', (chunk: Buffer) => {
    printed += chunk.toString();
  });
  const started: { cluster: FakeCluster | null } = { cluster: null };
  const running = runTuiCli([...argv], {
    stdin,
    stdout,
    stderr: new PassThrough(),
    startCluster: async (options) => {
      started.cluster = new FakeCluster({ nodes: options.nodes, seed: SEED, tickMs: 5, autoTick: true, fsync: options.fsync });
      return started.cluster;
    },
  });
  const deadline = Date.now() + WAIT_MS;
  while ((started.cluster?.status().leaderId ?? 0) === 0) {
    if (Date.now() > deadline) throw new Error(`(seed ${SEED}) no leader within ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  quit(stdin);
  const code = await running;
  const dataDir = /data in (\S+) \.\.\./.exec(printed)?.[1] ?? '';
  return { code, printed: printed.slice(printed.lastIndexOf('raftlab: cluster stopped')), dataDir };
}

test('runTuiCli removes the scratch directory it made when the dashboard quits, and says so', async (t) => {
  const { code, printed, dataDir } = await runAndQuit(['--nodes', '3']);
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  t.is(code, 0);
  t.true(dataDir.startsWith(join(tmpdir(), 'raftlab-tui-')), dataDir);
  t.false(existsSync(dataDir), `${dataDir} is gone`);
  t.is(printed, `raftlab: cluster stopped; removed its scratch directory ${dataDir} (--data DIR keeps the files)\n`);
});

// Serial: the signal is emitted on this process, where another test's dashboard would take it too.
test.serial('runTuiCli: a Ctrl-C (SIGINT), SIGTERM or hangup while the cluster starts stops it once started and removes the scratch directory, exit 0', async (t) => {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const stdin = new PassThrough();
    const stdout = Object.assign(new PassThrough(), { isTTY: true, columns: 160, rows: 48 }) as unknown as NodeJS.WriteStream;
    let printed = '';
    stdout.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
    });
    let cluster: FakeCluster | null = null;
    let stops = 0;
    const running = runTuiCli(['--nodes', '3'], {
      stdin,
      stdout,
      stderr: new PassThrough(),
      startCluster: async (options) => {
        // The signal arrives while the nodes start (before, nothing caught it: the process
        // died with its nodes, exit 130, and left its scratch directory).
        process.emit(signal);
        process.emit(signal);
        cluster = new FakeCluster({ nodes: options.nodes, seed: SEED, tickMs: 5, autoTick: true, fsync: options.fsync });
        const stop = cluster.stop.bind(cluster);
        cluster.stop = () => {
          stops += 1;
          return stop();
        };
        return cluster;
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([running, new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), WAIT_MS)))]);
    clearTimeout(timer);
    if (outcome === 'still running') {
      stdin.write('\x03');
      await running;
    }
    const dataDir = /data in (\S+) \.\.\./.exec(printed)?.[1] ?? '';
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
    t.is(outcome, 0, `${signal}: runTuiCli ends, exit 0`);
    t.is(stops, 1, `${signal}: the cluster was stopped once`);
    t.false(existsSync(dataDir), `${signal}: ${dataDir} is gone`);
    t.regex(printed, /raftlab: quitting: stopping the cluster once it has started \.\.\.\n/, signal);
    t.is(printed.match(/quitting/g)?.length, 1, `${signal}: said once`);
    t.regex(printed, /raftlab: cluster stopped; removed its scratch directory /, signal);
    t.is(process.listenerCount(signal), 0, `${signal}: its handler is gone`);
  }
});

test('runTuiCli removes its scratch directory when the cluster does not start', async (t) => {
  const stdout = Object.assign(new PassThrough(), { isTTY: true }) as unknown as NodeJS.WriteStream;
  const stderr = new PassThrough();
  let dataDir = '';
  const code = await runTuiCli(['--nodes', '3'], {
    stdout,
    stderr,
    startCluster: async (options) => {
      dataDir = options.dataDir;
      writeFileSync(join(dataDir, 'cluster.json'), '{}');
      throw new Error('no room');
    },
  });
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  t.is(code, 1);
  t.regex(String(stderr.read()), /the cluster did not start: no room/);
  t.true(dataDir.startsWith(join(tmpdir(), 'raftlab-tui-')), dataDir);
  t.false(existsSync(dataDir), `${dataDir} is gone`);
});

test('runTuiCli quits cleanly when its terminal\'s input ends, though its screen writes nothing that could fail', async (t) => {
  for (const [what, quit] of [
    ['end of input', (stdin: PassThrough) => stdin.end()],
    ['EIO on input', (stdin: PassThrough) => stdin.destroy(Object.assign(new Error('read EIO'), { code: 'EIO' }))],
  ] as const) {
    const { code, printed, dataDir } = await runAndQuit(['--nodes', '3'], quit);
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
    t.is(code, 0, what);
    t.regex(printed, /^raftlab: cluster stopped/, what);
  }
});

test('runTuiCli keeps a --data directory when the dashboard quits, and says where it is', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-tui-keep-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'marker'), 'kept');
  const { code, printed, dataDir } = await runAndQuit(['--nodes', '3', '--data', dir]);
  t.is(code, 0);
  t.is(dataDir, dir);
  t.is(readFileSync(join(dir, 'marker'), 'utf8'), 'kept');
  t.is(printed, `raftlab: cluster stopped; its files are in ${dir}\n`);
});
