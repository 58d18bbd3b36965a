import test from 'ava';
import type { JsonValue } from '../lib/cluster/types.js';
import type { DashboardCluster, DashboardKv, LinkFaults } from '../tui/cluster-port.js';
import { COMMANDS, CommandHistory, NO_LINK_FAULTS, UsageError, complete, executeLine, parseGroups, parseLine, parseValue } from '../tui/commands.js';
import type { CommandContext } from '../tui/commands.js';
import type { MessageLevel } from '../tui/state.js';
import { healthyStatus, leaderlessStatus } from './tui-fixtures.js';

interface Recorder {
  readonly context: CommandContext;
  readonly calls: string[];
  readonly reports: { text: string; level: MessageLevel }[];
  readonly results: { text: string; ok: boolean }[];
  faults: LinkFaults;
  load: number;
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
        stop: () => record('scenario stop'),
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
    ['delay -5', /usage: delay MS/],
    ['load fast', /'fast' is not a number -- usage: load RATE\|stop/],
    ['speed 0', /usage: speed TICK_MS\|normal/],
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

test('link faults accumulate; heal clears them; load and speed', async (t) => {
  const rec = recorder();
  await executeLine('drop 10%', rec.context);
  await executeLine('delay 30', rec.context);
  await executeLine('dup 0.05', rec.context);
  t.deepEqual(rec.faults, { dropRate: 0.1, delayMs: 30, duplicateRate: 0.05 });
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
