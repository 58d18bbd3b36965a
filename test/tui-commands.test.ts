import test from 'ava';
import type { JsonValue } from '../lib/cluster/types.js';
import type { DashboardCluster, DashboardKv, LinkFaults } from '../tui/cluster-port.js';
import { COMMANDS, CommandHistory, ECHO_VALUE_CHARS, NO_LINK_FAULTS, UsageError, complete, describeIds, executeLine, formatValue, parseGroups, parseLine, parseMemberKind, parseValue } from '../tui/commands.js';
import type { CommandContext } from '../tui/commands.js';
import type { MessageLevel } from '../tui/state.js';
import { healthyStatus, leaderlessStatus, learnerStatus } from './tui-fixtures.js';

interface Recorder {
  readonly context: CommandContext;
  readonly calls: string[];
  readonly reports: { text: string; level: MessageLevel }[];
  readonly results: { text: string; ok: boolean }[];
  faults: LinkFaults;
  load: number;
}

/** How a recorded membership call shows `{ force: true }`; any other value of force is a bug. */
function forced(options: { readonly force?: boolean } | undefined): string {
  if (options?.force === undefined) return '';
  return options.force === true ? ' --force' : ' force=false?';
}

/** A context whose cluster and client only record what they were asked to do. */
function recorder(status = healthyStatus(), kvFailure: unknown = null): Recorder {
  const calls: string[] = [];
  const record = (line: string): void => {
    calls.push(line);
  };
  const kvCall = async <T>(line: string, value: T): Promise<T> => {
    record(line);
    if (kvFailure !== null) throw kvFailure;
    return value;
  };
  const kv: DashboardKv = {
    get: (key) => kvCall(`get ${key}`, 'v' as JsonValue),
    put: (key, value) => kvCall(`put ${key} ${JSON.stringify(value)}`, undefined),
    delete: (key) => kvCall(`delete ${key}`, undefined),
    append: (key, value) => kvCall(`append ${key} ${JSON.stringify(value)}`, undefined),
    cas: (key, expected, next) => kvCall(`cas ${key} ${JSON.stringify(expected)} ${JSON.stringify(next)}`, true),
  };
  const cluster: DashboardCluster = {
    status: () => status,
    on: () => undefined,
    off: () => undefined,
    crash: async (id) => record(`crash ${id}`),
    restart: async (id) => record(`restart ${id}`),
    partition: (groups) => record(`partition ${JSON.stringify(groups)}`),
    heal: () => record('heal'),
    cutLink: (from, to) => record(`cut ${from} ${to}`),
    setLinkFaults: (faults) => record(`faults ${JSON.stringify(faults)}`),
    campaign: (id) => record(`campaign ${id}`),
    transferLeadership: (to) => record(`transfer ${to}`),
    setTickMs: (tickMs) => record(`tick ${tickMs}`),
    addNode: async (options) => {
      record(`add${options?.learner === true ? ' learner' : ''}${forced(options)}`);
      return 6;
    },
    promote: async (id, options) => record(`promote ${id}${forced(options)}`),
    removeNode: async (id, options) => record(`remove ${id}${forced(options)}`),
    setVoters: async (voters, options) => record(`voters ${voters.join(',')}${options?.learners === undefined ? '' : ` learners ${options.learners.join(',') || '-'}`}${forced(options)}`),
    client: () => kv,
    stop: async () => record('stop'),
  };
  const result: Recorder = {
    calls,
    reports: [],
    results: [],
    faults: NO_LINK_FAULTS,
    load: 0,
    context: {
      cluster,
      kv,
      scenarios: {
        list: () => [{ name: 'leader-crash', summary: 'x' }],
        start: (name) => record(`scenario ${name}`),
        advance: () => record('next'),
        stop: () => {
          record('scenario stop');
          return calls.includes('scenario leader-crash');
        },
      },
      status: () => status,
      report: (text, level) => result.reports.push({ text, level }),
      clientResult: (text, ok) => result.results.push({ text, ok }),
      linkFaults: () => result.faults,
      setLinkFaults: (faults) => {
        result.faults = faults;
      },
      setLoad: (rate) => {
        result.load = rate;
      },
      setTickMs: (tickMs) => record(`speed ${tickMs}`),
      select: (id) => record(`select ${id}`),
      openHelp: () => record('help'),
      requestQuit: () => record('quit'),
    },
  };
  return result;
}

test('every command has a unique name and a usage starting with it', (t) => {
  const names = COMMANDS.flatMap((command) => [command.name, ...command.aliases]);
  t.is(new Set(names).size, names.length);
  for (const command of COMMANDS) t.true(command.usage.startsWith(command.name), command.usage);
});

test('parseLine checks arity and keeps spaces in values', (t) => {
  t.deepEqual(parseLine('put greeting hello world').args, ['greeting', 'hello world']);
  // As typed, every space kept (joined again with one space, "a  b" was stored as "a b").
  t.deepEqual(parseLine('put  k   "a   b"').args, ['k', '"a   b"']);
  t.deepEqual(parseLine('append log one  two   three ').args, ['log', 'one  two   three']);
  t.deepEqual(parseLine('put k v').args, ['k', 'v']);
  t.deepEqual(parseLine('  crash   leader ').args, ['leader']);
  t.is(parseLine('delete k').spec.name, 'del');
  t.is(parseLine('scenario').args.length, 0);
  t.throws(() => parseLine('crash'), { instanceOf: UsageError, message: /missing argument/ });
  t.throws(() => parseLine('heal now'), { instanceOf: UsageError, message: /too many arguments/ });
  t.throws(() => parseLine('frobnicate'), { instanceOf: UsageError, message: /unknown command 'frobnicate'/ });
  t.throws(() => parseLine('   '), { instanceOf: UsageError });
});

test('values are JSON when they parse, text otherwise', (t) => {
  t.is(parseValue('12'), 12);
  t.deepEqual(parseValue('[1,"a"]'), [1, 'a']);
  t.is(parseValue('null'), null);
  t.is(parseValue('hello'), 'hello');
  t.is(parseValue('{broken'), '{broken');
});

test('partition groups: ids once per group, bridges allowed, at least two groups', (t) => {
  const status = healthyStatus();
  t.deepEqual(parseGroups('1,2|3,4,5', status), [
    [1, 2],
    [3, 4, 5],
  ]);
  t.deepEqual(parseGroups('1|2', status), [[1], [2]]);
  t.throws(() => parseGroups('1,2', status), { message: /at least two groups/ });
  t.deepEqual(parseGroups('1,2,3|3,4,5', status), [
    [1, 2, 3],
    [3, 4, 5],
  ], 'n3 may bridge both groups');
  t.throws(() => parseGroups('1,1|2,3', status), { message: /node 1 twice in one group/ });
  t.throws(() => parseGroups('1,9|2', status), { message: /no node 9/ });
  t.throws(() => parseGroups('1||2', status), { message: /empty group/ });
});

test('wrong commands and arguments put the usage in the status line and never throw', async (t) => {
  const cases: readonly [string, RegExp][] = [
    ['crash 9', /no node 9 \(nodes are 1\.\.5\) -- usage: crash ID\|leader\|all/],
    ['crash abc', /'abc' is not a node id -- usage: crash ID\|leader\|all/],
    ['restart', /missing argument -- usage: restart ID\|all/],
    ['partition 1,2', /at least two groups.*usage: partition 1,2\|3,4,5/],
    ['drop 2', /drop rate must be between 0 and 1 -- usage: drop RATE/],
    ['drop 150%', /between 0 and 100 -- usage: drop/],
    ['delay -5', /delay \(ms\) must be between 0 and 10000 -- usage: delay MS/],
    ['load fast', /'fast' is not a number \(plain decimal, e\.g\. 0\.5\) -- usage: load RATE\|stop/],
    ['speed 0', /usage: speed TICK_MS\|normal/],
    // Numbers are plain decimal, as on raftlab's command line; the tick a whole number (the cluster refuses 1.5).
    ['speed 1.5', /tick \(ms\) must be a whole number, got 1\.5 -- usage: speed TICK_MS\|normal/],
    ['speed 0x20', /'0x20' is not a number \(plain decimal, e\.g\. 1\) -- usage: speed/],
    ['delay 0x10', /'0x10' is not a number -- usage: delay MS|'0x10' is not a number \(plain decimal/],
    ['delay 1e3', /'1e3' is not a number/],
    ['load Infinity', /'Infinity' is not a number/],
    ['drop 0b1', /'0b1' is not a number/],
    ['drop 5e1%', /'5e1' is not a number/],
    ['cut 2 2', /FROM and TO must differ -- usage: cut FROM TO/],
    ['isolate all', /isolate takes one node -- usage: isolate ID\|leader/],
    ['scenario nope', /no scenario 'nope'; try: leader-crash/],
    ['cas k 1', /usage: cas KEY EXPECTED NEW/],
    ['bogus 1 2', /unknown command 'bogus'/],
  ];
  for (const [line, expected] of cases) {
    const { context, reports, calls } = recorder();
    await t.notThrowsAsync(executeLine(line, context), line);
    t.is(reports.length, 1, line);
    t.regex(reports[0]?.text ?? '', expected, line);
    t.is(reports[0]?.level, 'error', line);
    t.deepEqual(calls, [], `${line} did nothing`);
  }
});

test('crash leader / all, restart all, isolate, heal reach the cluster', async (t) => {
  const { context, calls } = recorder();
  await executeLine('crash leader', context);
  await executeLine('crash all', context);
  await executeLine('restart all', context);
  await executeLine('isolate 2', context);
  await executeLine('partition 1,2|3,4,5', context);
  await executeLine('heal', context);
  await executeLine('cut 1 3', context);
  await executeLine('campaign 2', context);
  await executeLine('transfer 3', context);
  // n4 is down in the fixture: crash all skips it, restart all only restarts it.
  t.deepEqual(calls, ['crash 1', 'crash 1', 'crash 2', 'crash 3', 'crash 5', 'restart 4', 'partition [[2],[1,3,4,5]]', 'partition [[1,2],[3,4,5]]', 'heal', 'cut 1 3', 'campaign 2', 'transfer 3']);
});

test('crash leader without a leader says so', async (t) => {
  const { context, reports, calls } = recorder(leaderlessStatus());
  await executeLine('crash leader', context);
  t.deepEqual(calls, []);
  t.regex(reports[0]?.text ?? '', /there is no leader right now/);
});

test('restart of a node that is up, or of all when every node is up, says so plainly and does nothing', async (t) => {
  const healthy = healthyStatus();
  const { context, reports, calls } = recorder({ ...healthy, nodes: healthy.nodes.map((node) => ({ ...node, alive: true })) });
  await executeLine('restart all', context);
  await executeLine('restart 03', context);
  t.deepEqual(calls, []);
  t.deepEqual(reports, [
    { text: 'every node is up: nothing to restart', level: 'info' },
    { text: 'n3 is up: nothing to restart', level: 'info' },
  ]);
});

test('restart of a node shown down that is starting already (NODE_ALREADY_RUNNING) is not a failure; the others restart', async (t) => {
  const status = leaderlessStatus();
  const down = status.nodes.filter((node) => !node.alive).map((node) => node.id);
  t.true(down.length >= 1, 'the fixture has a node down');
  for (const [line, starting] of [['restart all', down[0]!], [`restart ${down[0]!}`, down[0]!]] as const) {
    const rec = recorder(status);
    const restart = rec.context.cluster.restart;
    (rec.context.cluster as { restart: typeof restart }).restart = async (id) => {
      if (id === starting) throw Object.assign(new Error(`node ${id} is already running`), { code: 'NODE_ALREADY_RUNNING' });
      return restart(id);
    };
    await executeLine(line, rec.context);
    const last = rec.reports.at(-1);
    t.is(last?.level, 'ok', `${line}: ${JSON.stringify(rec.reports)}`);
    t.notRegex(last?.text ?? '', /failed/);
    t.regex(last?.text ?? '', new RegExp(`n${starting} already starting or up$`), line);
    const others = down.filter((id) => id !== starting);
    if (line === 'restart all' && others.length > 0) t.regex(last?.text ?? '', new RegExp(`^restarted ${others.map((id) => `n${id}`).join(' ')}; `));
  }
  // Any other failure is still one.
  const rec = recorder(status);
  (rec.context.cluster as { restart: DashboardCluster['restart'] }).restart = async () => {
    throw Object.assign(new Error('disk gone'), { code: 'NODE_FAILED' });
  };
  await executeLine(`restart ${down[0]!}`, rec.context);
  t.regex(rec.reports.at(-1)?.text ?? '', /^restart failed: NODE_FAILED: disk gone/);
});

test('link faults accumulate; heal clears them; load and speed', async (t) => {
  const rec = recorder();
  await executeLine('drop 10%', rec.context);
  await executeLine('delay 2.5', rec.context);
  await executeLine('dup .05', rec.context);
  t.deepEqual(rec.faults, { dropRate: 0.1, delayMs: 2.5, duplicateRate: 0.05 });
  await executeLine('delay 30', rec.context);
  t.is(rec.faults.delayMs, 30);
  await executeLine('heal', rec.context);
  t.deepEqual(rec.faults, NO_LINK_FAULTS);
  await executeLine('load 200', rec.context);
  t.is(rec.load, 200);
  await executeLine('load stop', rec.context);
  t.is(rec.load, 0);
  await executeLine('speed 250', rec.context);
  await executeLine('speed normal', rec.context);
  t.deepEqual(rec.calls.filter((call) => call.startsWith('speed')), ['speed 250', 'speed null']);
});

test('client commands report results and errors with code and certainty', async (t) => {
  const ok = recorder();
  await executeLine('put k hello world', ok.context);
  await executeLine('get k', ok.context);
  await executeLine('append log 3', ok.context);
  await executeLine('cas k null 5', ok.context);
  await executeLine('del k', ok.context);
  t.deepEqual(ok.calls, ['put k "hello world"', 'get k', 'append log 3', 'cas k null 5', 'delete k']);
  t.regex(ok.results[1]?.text ?? '', /^get k -> "v" \(\d+ ms\)$/);
  t.regex(ok.results[3]?.text ?? '', /cas k null->5 -> swapped/);
  t.true(ok.results.every((result) => result.ok));
  const failing = recorder(healthyStatus(), { code: 'TIMEOUT', indeterminate: true, message: 'no answer' });
  await executeLine('put k v', failing.context);
  t.false(failing.results[0]?.ok ?? true);
  t.regex(failing.results[0]?.text ?? '', /put k="v" -> TIMEOUT \(outcome unknown\): no answer/);
});

test('echoes show the value as parsed: 1e999 as Infinity, not null; a long value cut, with its length', async (t) => {
  const refused = recorder(healthyStatus(), { code: 'INVALID_VALUE', indeterminate: false, message: 'invalid value: Infinity is not a JSON number' });
  await executeLine('put x 1e999', refused.context);
  await executeLine('append x [1,-1e999]', refused.context);
  await executeLine('cas x {"a":1e999} 2', refused.context);
  t.deepEqual(
    refused.results.map((result) => result.text),
    [
      'put x=Infinity -> INVALID_VALUE (did not happen): invalid value: Infinity is not a JSON number',
      'append x+[1,-Infinity] -> INVALID_VALUE (did not happen): invalid value: Infinity is not a JSON number',
      'cas x {"a":Infinity}->2 -> INVALID_VALUE (did not happen): invalid value: Infinity is not a JSON number',
    ],
  );
  for (const value of [12, 'a "quoted" text', null, true, [1, 'a', [null]], { k: [1, { 'x y': false }] }]) t.is(formatValue(value), JSON.stringify(value));
  const long = recorder();
  await executeLine(`put big ${'a'.repeat(4000)}`, long.context);
  t.is(long.calls[0], `put big "${'a'.repeat(4000)}"`, 'the whole value is written');
  t.regex(long.results[0]?.text ?? '', new RegExp(`^put big="a{${ECHO_VALUE_CHARS - 1}}\\.\\.\\. \\(4002 chars\\) -> ok \\(\\d+ ms\\)$`));
});

test('scenario, next, select, help, quit', async (t) => {
  const rec = recorder();
  await executeLine('scenario', rec.context);
  t.regex(rec.reports[0]?.text ?? '', /scenarios: leader-crash/);
  await executeLine('scenario leader-crash', rec.context);
  await executeLine('next', rec.context);
  await executeLine('select 3', rec.context);
  await executeLine('help', rec.context);
  await executeLine('quit', rec.context);
  t.deepEqual(rec.calls, ['scenario leader-crash', 'next', 'select 3', 'help', 'quit']);
});

test(':scenario stop says whether it stopped one', async (t) => {
  const rec = recorder();
  await executeLine('scenario stop', rec.context);
  t.deepEqual(rec.reports.at(-1), { text: 'no scenario is running: nothing to stop', level: 'info' });
  await executeLine('scenario leader-crash', rec.context);
  await executeLine('scenario stop', rec.context);
  t.deepEqual(rec.reports.at(-1), { text: 'scenario stopped: putting back what it changed (see the events)', level: 'ok' });
});

test('Tab completes command names, node ids, leader/all and scenario names', (t) => {
  const status = healthyStatus();
  const scenarios = ['leader-crash', 'lost-writes'];
  t.deepEqual(complete('cr', status, scenarios), { line: 'crash ', candidates: ['crash'] });
  t.deepEqual(complete('c', status, scenarios).candidates, ['cas', 'crash', 'cut', 'campaign']);
  t.is(complete('c', status, scenarios).line, 'c');
  t.is(complete('crash l', status, scenarios).line, 'crash leader ');
  t.deepEqual(complete('crash ', status, scenarios).candidates, ['1', '2', '3', '4', '5', 'leader', 'all']);
  t.deepEqual(complete('restart ', status, scenarios).candidates, ['1', '2', '3', '4', '5', 'all']);
  t.is(complete('scenario le', status, scenarios).line, 'scenario leader-crash ');
  t.is(complete('scenario l', status, scenarios).line, 'scenario l');
  t.is(complete('speed n', status, scenarios).line, 'speed normal ');
  t.deepEqual(complete('put k', status, scenarios).candidates, []);
});

test('history walks back and forward to the draft', (t) => {
  const history = new CommandHistory();
  history.push('put a 1');
  history.push('get a');
  history.push('get a');
  t.is(history.previous('dra'), 'get a');
  t.is(history.previous('get a'), 'put a 1');
  t.is(history.previous('put a 1'), 'put a 1');
  t.is(history.next(), 'get a');
  t.is(history.next(), 'dra');
});

test('membership commands: add, add learner, promote, remove reach the cluster and report', async (t) => {
  const rec = recorder(learnerStatus());
  await executeLine('add', rec.context);
  await executeLine('add learner', rec.context);
  await executeLine('add voter', rec.context);
  await executeLine('promote 6', rec.context);
  await executeLine('remove 3', rec.context);
  await executeLine('remove leader', rec.context);
  await executeLine('rm 7', rec.context);
  await executeLine('voters 6,2,1', rec.context);
  await executeLine('voters 6,2 3,1', rec.context);
  await executeLine('voters 2 -', rec.context);
  t.deepEqual(rec.calls, ['add', 'add learner', 'add', 'promote 6', 'remove 3', 'remove 1', 'remove 7', 'voters 1,2,6', 'voters 2,6 learners 1,3', 'voters 2 learners -']);
  const oks = rec.reports.filter((report) => report.level === 'ok').map((report) => report.text);
  t.deepEqual(oks, [
    'added n6 as a voter',
    'added n6 as a learner',
    'added n6 as a voter',
    'n6 is a voter',
    'removed n3',
    'removed n1',
    'removed n7',
    'the voters are n1,n2,n6',
    'the voters are n2,n6, learners n1,n3',
    'the voters are n2, learners none',
  ]);
  t.true(rec.reports.some((report) => report.level === 'info' && /adding a learner/.test(report.text)), 'says it is working while the node catches up');
});

test('membership commands: wrong input gets a clear error line and does nothing', async (t) => {
  const cases: readonly [string, RegExp][] = [
    ['add observer', /'observer' is neither learner nor voter -- usage: add \[learner\|voter\]/],
    ['add learner now', /too many arguments -- usage: add/],
    ['promote', /missing argument -- usage: promote ID/],
    ['promote 2', /n2 is not a learner \(learners: n6\) -- usage: promote ID/],
    ['promote x', /'x' is not a node id -- usage: promote ID/],
    ['promote 12', /no node 12 \(nodes are 1\.\.7\)/],
    ['remove all', /remove takes one node -- usage: remove ID\|leader/],
    ['remove 12', /no node 12 .*usage: remove ID\|leader/],
    ['remove', /missing argument -- usage: remove/],
    ['voters', /missing argument -- usage: voters 1,4,5/],
    ['voters 1,1', /node 1 twice -- usage: voters 1,4,5/],
    ['voters 1,x', /'x' is not a node id -- usage: voters 1,4,5/],
    ['voters 1,12', /no node 12 .*usage: voters 1,4,5/],
    ['voters 1,2 3 4', /too many arguments -- usage: voters/],
    ['voters 1,2 2', /n2 cannot be both a voter and a learner -- usage: voters 1,4,5 \[2,3\|-\]/],
    ['voters 1,2 3,x', /'x' is not a node id -- usage: voters/],
  ];
  for (const [line, expected] of cases) {
    const { context, reports, calls } = recorder(learnerStatus());
    await t.notThrowsAsync(executeLine(line, context), line);
    t.is(reports.length, 1, line);
    t.regex(reports[0]?.text ?? '', expected, line);
    t.is(reports[0]?.level, 'error', line);
    t.deepEqual(calls, [], `${line} did nothing`);
  }
  // No learners at all.
  const none = recorder();
  await executeLine('promote 2', none.context);
  t.regex(none.reports[0]?.text ?? '', /n2 is not a learner \(there are none\)/);
  // Nine nodes: no room for another.
  const full = healthyStatus();
  const nine = recorder({ ...full, nodes: [1, 2, 3, 4, 5, 6, 7, 8, 9].map((id) => ({ ...full.nodes[0]!, id, role: 'follower' as const })) });
  await executeLine('add', nine.context);
  t.regex(nine.reports[0]?.text ?? '', /already has 9 nodes; :remove one first/);
  t.deepEqual(nine.calls, []);
  t.is(parseMemberKind(undefined), false);
  t.is(parseMemberKind('learner'), true);
  t.throws(() => parseMemberKind('LEARNER'), { instanceOf: UsageError });
});

test('a refused membership change shows its code in the error line, never a crash', async (t) => {
  const rec = recorder(learnerStatus());
  const refusal = Object.assign(new Error('cannot remove n3: node 3 is the only voter'), { code: 'INVALID_MEMBERSHIP_CHANGE', indeterminate: false });
  const context = {
    ...rec.context,
    cluster: {
      ...rec.context.cluster,
      removeNode: async () => {
        throw refusal;
      },
      addNode: async () => {
        throw Object.assign(new Error('node 6 did not catch up'), { code: 'CATCH_UP_TIMEOUT', indeterminate: false });
      },
    },
  };
  await t.notThrowsAsync(executeLine('remove 3', context));
  await t.notThrowsAsync(executeLine('add', context));
  const errors = rec.reports.filter((report) => report.level === 'error').map((report) => report.text);
  t.deepEqual(errors, ['remove failed: INVALID_MEMBERSHIP_CHANGE: cannot remove n3: node 3 is the only voter', 'add failed: CATCH_UP_TIMEOUT: node 6 did not catch up']);
});

test('--force reaches the membership calls (the library\'s { force: true }), anywhere on the line; other commands and options are refused', async (t) => {
  const rec = recorder(learnerStatus());
  await executeLine('remove 3 --force', rec.context);
  await executeLine('rm --force 7', rec.context);
  await executeLine('promote 6 --force', rec.context);
  await executeLine('voters 6,2,1 --force', rec.context);
  await executeLine('voters 6,2 3,1 --force', rec.context);
  await executeLine('add --force', rec.context);
  await executeLine('add learner', rec.context);
  t.deepEqual(rec.calls, ['remove 3 --force', 'remove 7 --force', 'promote 6 --force', 'voters 1,2,6 --force', 'voters 2,6 learners 1,3 --force', 'add --force', 'add learner']);
  t.true(rec.reports.some((report) => report.level === 'info' && /removing n3\.\.\. \(--force: proposed even if its voters cannot commit it\)/.test(report.text)));
  const cases: readonly [string, RegExp][] = [
    ['remove 3 --frce', /remove: unknown option '--frce' \(it takes --force\) -- usage: remove ID\|leader \[--force\]/],
    ['remove 3 --force --force', /remove: --force given twice/],
    ['remove --force', /remove: missing argument -- usage: remove ID\|leader \[--force\]/],
    ['crash 3 --force', /'--force' is not a node id|too many arguments/],
  ];
  for (const [line, expected] of cases) {
    const { context, reports, calls } = recorder(learnerStatus());
    await executeLine(line, context);
    t.regex(reports[0]?.text ?? '', expected, line);
    t.deepEqual(calls, [], `${line} did nothing`);
  }
  // A value may still start with --.
  const put = recorder();
  await executeLine('put k --force', put.context);
  t.deepEqual(put.calls, ['put k "--force"']);
  t.deepEqual(parseLine('remove 3 --force').flags, new Set(['--force']));
  t.is(complete('remove 3 --f', learnerStatus(), []).line, 'remove 3 --force ');
  t.deepEqual(complete('remove --force ', learnerStatus(), []).candidates, ['1', '2', '3', '4', '5', '6', '7', 'leader']);
});

test('a change refused as unsafe says how to force it from here (:... --force), not with the library\'s { force: true }', async (t) => {
  const rec = recorder(learnerStatus());
  const unsafe = (what: string): Error =>
    Object.assign(new Error(`cannot ${what}: its voters n1,n3 need 2 to commit, and only 1 (n3) run and reach leader n3; nothing was proposed (with { force: true } it is, and the cluster takes no write until enough of them are back)`), {
      code: 'MEMBERSHIP_CHANGE_UNSAFE',
      indeterminate: false,
    });
  const context = {
    ...rec.context,
    cluster: {
      ...rec.context.cluster,
      removeNode: async () => {
        throw unsafe('remove n2');
      },
      addNode: async () => {
        throw unsafe('make n8 a voter');
      },
      setVoters: async () => {
        throw unsafe('make the voters n1,n3 (learners none) by joint consensus');
      },
    },
  };
  await executeLine('remove  2', context);
  await executeLine('add', context);
  await executeLine('voters 1,3', context);
  await executeLine('remove 2 --force', context);
  const errors = rec.reports.filter((report) => report.level === 'error').map((report) => report.text);
  const tail = 'proposes it anyway, and the cluster takes no write until enough of them are back';
  t.deepEqual(errors, [
    `remove refused: MEMBERSHIP_CHANGE_UNSAFE: cannot remove n2: its voters n1,n3 need 2 to commit, and only 1 (n3) run and reach leader n3; nothing was proposed -- ':remove 2 --force' ${tail}`,
    `add refused: MEMBERSHIP_CHANGE_UNSAFE: cannot make n8 a voter: its voters n1,n3 need 2 to commit, and only 1 (n3) run and reach leader n3; nothing was proposed -- n8 stays a learner; ':promote 8 --force' ${tail}`,
    `voters refused: MEMBERSHIP_CHANGE_UNSAFE: cannot make the voters n1,n3 (learners none) by joint consensus: its voters n1,n3 need 2 to commit, and only 1 (n3) run and reach leader n3; nothing was proposed -- ':voters 1,3 --force' ${tail}`,
    // Already forced (a fake that refuses anyway): no hint to do what was done.
    'remove failed: MEMBERSHIP_CHANGE_UNSAFE: cannot remove n2: its voters n1,n3 need 2 to commit, and only 1 (n3) run and reach leader n3; nothing was proposed (with { force: true } it is, and the cluster takes no write until enough of them are back)',
  ]);
  for (const error of errors.slice(0, 3)) t.notRegex(error, /\{ force: true \}/);
});

test('a learner refused promotion while it is down says how to force it from here too', async (t) => {
  const rec = recorder(learnerStatus());
  const context = {
    ...rec.context,
    cluster: {
      ...rec.context.cluster,
      promote: async () => {
        throw Object.assign(new Error('cannot make n6 a voter: it is not running; it stays a learner, to be restarted first (with { force: true } it is, and counts against every majority until it is back)'), {
          code: 'NODE_NOT_RUNNING',
          indeterminate: false,
        });
      },
    },
  };
  await executeLine('promote 6', context);
  const errors = rec.reports.filter((report) => report.level === 'error').map((report) => report.text);
  t.deepEqual(errors, [
    "promote refused: NODE_NOT_RUNNING: cannot make n6 a voter: it is not running; it stays a learner, to be restarted first -- ':promote 6 --force' proposes it anyway, and counts against every majority until it is back",
  ]);
});

test('campaign and transfer refuse a node that could not campaign or lead (the core ignores them), instead of reporting what never happens', async (t) => {
  const cases: readonly [string, RegExp][] = [
    ['campaign 6', /n6 is a learner: it never campaigns \(:promote 6 first\) -- usage: campaign ID/],
    ['campaign 7', /n7 is not in the configuration it uses \(voters n1,n2,n3; learners none\): it never campaigns -- usage: campaign ID/],
    ['transfer 6', /n6 is a learner: only a voter can lead \(:promote 6 first\) -- usage: transfer ID/],
    ['transfer 7', /n7 is not in the configuration \(voters n1,n2,n3,n4,n5; learners n6\): it cannot lead -- usage: transfer ID/],
  ];
  for (const [line, expected] of cases) {
    const { context, reports, calls } = recorder(learnerStatus());
    await executeLine(line, context);
    t.regex(reports[0]?.text ?? '', expected, line);
    t.is(reports[0]?.level, 'error', line);
    t.deepEqual(calls, [], `${line} did nothing`);
  }
  // Voters still can; so can a node whose newest configuration leaves it out before that commits (thesis §4.2.2).
  const base = learnerStatus();
  const pending = { ...base, nodes: base.nodes.map((node) => (node.id === 7 ? { ...node, membershipIndex: 3, commitIndex: 2 } : node)) };
  const ok = recorder(pending);
  await executeLine('campaign 2', ok.context);
  await executeLine('transfer 3', ok.context);
  await executeLine('campaign 7', ok.context);
  t.deepEqual(ok.calls, ['campaign 2', 'transfer 3', 'campaign 7']);
});

test('Tab completes membership commands: learner|voter, learners for promote, ids and leader for remove', (t) => {
  const status = learnerStatus();
  t.deepEqual(complete('ad', status, []), { line: 'add ', candidates: ['add'] });
  t.deepEqual(complete('add ', status, []).candidates, ['learner', 'voter']);
  t.is(complete('add l', status, []).line, 'add learner ');
  t.is(complete('pro', status, []).line, 'promote ');
  t.deepEqual(complete('promote ', status, []).candidates, ['6']);
  t.is(complete('promote ', status, []).line, 'promote 6 ');
  t.deepEqual(complete('remove ', status, []).candidates, ['1', '2', '3', '4', '5', '6', '7', 'leader']);
  t.deepEqual(complete('r', status, []).candidates, ['restart', 'remove']);
});

test('node ids with gaps (after a removal) are listed, not shown as a range', async (t) => {
  t.is(describeIds([1, 2, 3, 4, 5]), '1..5');
  t.is(describeIds([1, 2, 4, 6]), '1, 2, 4, 6');
  t.is(describeIds([2, 3]), '2, 3');
  const status = healthyStatus();
  const gappy = { ...status, nodes: status.nodes.filter((node) => node.id !== 3) };
  const { context, reports } = recorder(gappy);
  await executeLine('crash 3', context);
  t.regex(reports[0]?.text ?? '', /no node 3 \(nodes are 1, 2, 4, 5\)/);
});
