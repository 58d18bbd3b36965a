// `raftlab verify` and `raftlab check` as a user runs them: exit codes, reports, refusals.

import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { events, repoRoot, type Row } from './check-helpers.js';
import { runCliActing } from './helpers/cli.js';

const cli = path.join(repoRoot, 'dist', 'lib', 'cli.js');
const directory = mkdtempSync(path.join(tmpdir(), 'raftlab-verify-'));
test.after.always(() => rmSync(directory, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const where = path.join(directory, name);
  writeFileSync(where, content);
  return where;
}

function raftlab(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const verify = (...args: string[]): ReturnType<typeof raftlab> => raftlab('verify', ...args);

const linearizable: Row[] = [
  [0, 'invoke', 'put', 'x', 1],
  [1, 'invoke', 'get', 'x', null],
  [0, 'ok', 'put', 'x', null],
  [1, 'ok', 'get', 'x', 1],
  [2, 'invoke', 'append', 'l', 'a'],
  [2, 'ok', 'append', 'l', null],
  [3, 'invoke', 'cas', 'x', [1, 2]],
  [3, 'info', 'cas', 'x', null],
];

const stale: Row[] = [
  [0, 'invoke', 'put', 'x', 1],
  [0, 'ok', 'put', 'x', null],
  [0, 'invoke', 'put', 'x', 2],
  [0, 'ok', 'put', 'x', null],
  [1, 'invoke', 'get', 'x', null],
  [1, 'ok', 'get', 'x', 1],
  [1, 'invoke', 'get', 'x', null],
  [1, 'fail', 'get', 'x', null],
];

test('exit 0 for a linearizable history, with the report', (t) => {
  const result = verify(file('good.json', JSON.stringify(events(linearizable))));
  t.is(result.status, 0, result.stderr);
  t.regex(result.stdout, /verdict: linearizable/);
  t.regex(result.stdout, /4 operations \(ok 3, info 1; 0 failed, left out\)/);
  t.regex(result.stdout, /cas\s+0\s+0\s+1/);
  t.regex(result.stdout, /"x"\s+3\s+2\s+1\s+\d+\s+\d+\s+linearizable/);
});

test('exit 1 for a history that is not linearizable, with the anomaly explained', (t) => {
  const result = verify(file('stale.json', JSON.stringify(events(stale))));
  t.is(result.status, 1, result.stderr);
  t.regex(result.stdout, /verdict: not-linearizable/);
  t.regex(result.stdout, /anomalies \(1\):/);
  t.regex(result.stdout, /\[not linearizable\] key "x"/);
  t.regex(result.stdout, /it read 1 but the value was 2/);
  t.regex(result.stdout, /get\s+1\s+1\s+0/);
});

test('exit 2 when the search budget is exceeded', (t) => {
  const result = verify('--max-steps', '2', file('budget.json', JSON.stringify(events(stale))));
  t.is(result.status, 2, result.stderr);
  t.regex(result.stdout, /verdict: unknown/);
  // The steps reported are the steps allowed, not one more.
  t.regex(result.stdout, /key "x": search budget exceeded after 2 steps: verdict unknown/);
});

test('verify: put null then an acknowledged append is not linearizable, as in the store', (t) => {
  const result = verify(
    file(
      'put-null-append.json',
      JSON.stringify(
        events([
          [0, 'invoke', 'put', 'x', null],
          [0, 'ok', 'put', 'x', null],
          [0, 'invoke', 'append', 'x', 'a'],
          [0, 'ok', 'append', 'x', null],
          [1, 'invoke', 'get', 'x', null],
          [1, 'ok', 'get', 'x', ['a']],
        ]),
      ),
    ),
  );
  t.is(result.status, 1, result.stdout);
  t.regex(result.stdout, /it was acknowledged but the value was null, not a list/);
});

test('verify: events that break DESIGN.md\'s format are refused with the real reason', (t) => {
  const invoke = '{"process": 0, "type": "invoke", "f": "put", "key": "x", "value": 1, "time": 0}';
  for (const [name, text, reason] of [
    ['huge-time.json', '[{"process": 0, "type": "invoke", "f": "get", "key": "x", "value": null, "time": 1e400}]', /event 0: time must be a finite number, got a number out of range/],
    ['deep.json', `[{"process": 0, "type": "invoke", "f": "put", "key": "x", "value": ${'['.repeat(300)}${']'.repeat(300)}, "time": 0}]`, /value is nested deeper than 256 levels/],
    ['get-argument.json', '[{"process": 0, "type": "invoke", "f": "get", "key": "x", "value": 42, "time": 0}]', /a get invoke's value must be null/],
    ['put-result.json', `[${invoke}, {"process": 0, "type": "ok", "f": "put", "key": "x", "value": 999, "time": 1}]`, /event 1: an ok put returns null/],
  ] as const) {
    const result = verify(file(name, text));
    t.is(result.status, 3, `${name}: ${result.stdout}${result.stderr}`);
    t.regex(result.stderr, /is not a valid history \(HISTORY_BAD_EVENT\)/, name);
    t.regex(result.stderr, reason, name);
  }
});

test('exit 3 for unreadable input, with the reason', (t) => {
  const notJson = verify(file('broken.json', '[{"process": 0'));
  t.is(notJson.status, 3);
  t.regex(notJson.stderr, /not a valid history \(HISTORY_NOT_JSON\)/);

  const badEvent = verify(file('bad-event.json', JSON.stringify([{ process: 0, type: 'invoke', f: 'incr', key: 'x', value: null, time: 0 }])));
  t.is(badEvent.status, 3);
  t.regex(badEvent.stderr, /HISTORY_BAD_EVENT.*event 0: f must be one of/);

  const missing = verify(path.join(directory, 'no-such-file.json'));
  t.is(missing.status, 3);
  t.regex(missing.stderr, /cannot read .*no-such-file\.json/);

  const noFile = verify();
  t.is(noFile.status, 3);
  t.regex(noFile.stderr, /no history file given/);
});

test('check: a short run on a real cluster passes, writes its history, and verify agrees', (t) => {
  const historyFile = path.join(directory, 'check-history.json');
  const result = raftlab('check', '--nodes', '3', '--duration', '3', '--clients', '4', '--workload', 'append', '--nemesis', 'crash', '--seed', '5', '--history', historyFile);
  t.is(result.status, 0, `${result.stdout}\n${result.stderr}`);
  t.regex(result.stderr, /seed 5/);
  t.regex(result.stdout, /raftlab check: workload append, 3 nodes, 4 clients, 3\.0s, nemesis crash, seed 5/);
  t.regex(result.stdout, /check: PASS \(replay: --seed 5\)/);
  const replay = verify(historyFile);
  t.is(replay.status, 0, replay.stdout);
  t.regex(replay.stdout, /verdict: linearizable/);
  // The history carries what the nemesis did: at least the heal before the final reads.
  const recorded = (JSON.parse(readFileSync(historyFile, 'utf8')) as { process: unknown; f: string }[]).filter((event) => event.process === 'nemesis');
  t.true(recorded.some((event) => event.f === 'heal'), JSON.stringify(recorded));
  t.regex(replay.stdout, new RegExp(`nemesis: ${recorded.length} events \\(.*\\bheal\\b`));
  // It opens with the run's limits, which verify holds the appends to.
  t.deepEqual((JSON.parse(readFileSync(historyFile, 'utf8')) as unknown[])[0], { process: 'header', limits: { maxValueBytes: 1 << 20 } });
  t.regex(replay.stdout, /lists bounded by maxValueBytes 1,048,576 \(the history's header\)/);
});

test('verify: an anomaly is shown with the nemesis events near it, and only those', (t) => {
  const nemesis = (time: number, f: string, value: unknown): object => ({ process: 'nemesis', type: 'info', f, value, time });
  // The stale read, at 20-27 s; a partition and a crash near it, a transfer long before.
  const stamped = events(stale).map((event, index) => ({ ...event, time: 20_000 + index * 1_000 }));
  const text = JSON.stringify([
    nemesis(1_000, 'transfer', { from: 1, to: 2 }),
    ...stamped.slice(0, 4),
    nemesis(23_500, 'partition', { groups: [[1, 2], [3, 4, 5]] }),
    ...stamped.slice(4),
    nemesis(29_000, 'crash', { node: 3, leader: true }),
    nemesis(40_000, 'heal', null),
  ]);
  const result = verify(file('stale-nemesis.json', text));
  t.is(result.status, 1, result.stderr);
  t.regex(result.stdout, /nemesis: 4 events \(1 transfer, 1 partition, 1 crash, 1 heal\)/);
  const near = result.stdout.slice(result.stdout.indexOf('anomalies ('));
  t.regex(near, /nemesis within 5 s of it \(its operations ran \d+\.\d{3} s to \d+\.\d{3} s\):\n\s+23\.500 s  partition \{"groups":\[\[1,2\],\[3,4,5\]\]\}\n\s+29\.000 s  crash \{"node":3,"leader":true\}/);
  t.notRegex(near, /transfer|heal/);
  // Without nemesis events the report is as before.
  t.notRegex(verify(file('stale-plain.json', JSON.stringify(events(stale)))).stdout, /nemesis/);
});

test('check: bad arguments exit 3 with the reason', (t) => {
  const workload = raftlab('check', '--workload', 'bank');
  t.is(workload.status, 3);
  t.regex(workload.stderr, /--workload must be register or append/);
  const nemesis = raftlab('check', '--nemesis', 'crash,meteor');
  t.is(nemesis.status, 3);
  t.regex(nemesis.stderr, /unknown nemesis "meteor"/);
  const nodes = raftlab('check', '--nodes', 'many');
  t.is(nodes.status, 3);
  t.regex(nodes.stderr, /--nodes needs an integer from 1 to 9, got "many"/);
});

/** Seconds in a check summary's "ran" line and its timeline. */
function runTimes(stdout: string): { ran: number; faults: { start: number; end: number; text: string }[] } {
  const ran = /^ran ([\d.]+)s from the cluster's start to its stop/m.exec(stdout);
  const faults = [...stdout.matchAll(/^\s+([\d.]+)s –\s+([\d.]+)s\s+(.*)$/gm)].map((match) => ({ start: Number(match[1]), end: Number(match[2]), text: match[3]! }));
  return { ran: ran === null ? NaN : Number(ran[1]), faults };
}

test('check: on one node the default nemesis leaves out what cannot act there, says so, and passes', (t) => {
  const result = raftlab('check', '--nodes', '1', '--duration', '4', '--clients', '4', '--seed', '12');
  const context = `${result.stdout}\n${result.stderr}`;
  t.is(result.status, 0, context);
  t.regex(result.stderr, /nemesis all on 1 node: leaving out partition, isolate, cut, faults, transfer, membership \(they cannot act on a cluster this small\); using crash, lose/, context);
  t.regex(result.stdout, /1 nodes, 4 clients, 4\.0s, nemesis crash,lose, seed 12/, context);
  t.regex(result.stdout, /nemesis left out of all \(cannot act on 1 node\): partition,isolate,cut,faults,transfer,membership/, context);
  t.notRegex(result.stdout, /problems/, context);
  t.regex(result.stdout, /check: PASS/, context);
  // One zero point: every fault lies within the run.
  const { ran, faults } = runTimes(result.stdout);
  t.true(ran > 0, context);
  for (const fault of faults) t.true(fault.start <= fault.end && fault.end <= ran, `${fault.text} at ${fault.start}–${fault.end} s, run ${ran} s\n${context}`);
});

/** A refusal: exit 3, the reason on stderr, no stack trace, and nothing run. */
function refused(t: ExecutionContext, args: readonly string[], reason: RegExp): void {
  const result = raftlab(...args);
  const context = `${args.join(' ')}\n${result.stderr}`;
  t.is(result.status, 3, context);
  t.regex(result.stderr, reason, context);
  t.notRegex(result.stderr, /^\s+at /m, `no stack trace: ${context}`);
  t.notRegex(result.stderr, /starting \d+ nodes/, `no run: ${context}`);
}

test('check: numbers out of range, malformed or missing are refused before anything runs', (t) => {
  refused(t, ['check', '--nodes', '10'], /--nodes needs an integer from 1 to 9, got "10"/);
  refused(t, ['check', '--nodes', '0'], /--nodes needs an integer from 1 to 9, got "0"/);
  // Beyond setTimeout's range the run would last half a second and pass.
  refused(t, ['check', '--duration', '99999999'], /--duration needs an integer from 1 to 3600, got "99999999"/);
  refused(t, ['check', '--timeout-ms', '99999999999'], /--timeout-ms needs an integer from 1 to 3600000/);
  refused(t, ['check', '--tick-ms', '60001'], /--tick-ms needs an integer from 1 to 60000/);
  refused(t, ['check', '--snapshot-chunk-bytes', '67108865'], /--snapshot-chunk-bytes needs an integer from 1 to 67108864/);
  refused(t, ['check', '--segment-bytes', '2147483648'], /--segment-bytes needs an integer from 256 to 2147483647/);
  refused(t, ['check', '--clients', '10000000000'], /--clients needs an integer from 1 to 1000/);
  refused(t, ['check', '--seed', '4294967296'], /--seed needs an integer from 0 to 2147483647/);
  for (const text of ['1e3', '0x10', '3.5', '-2', '', ' 3']) {
    refused(t, ['check', '--clients', text], new RegExp(`--clients needs an integer from 1 to 1000, got ${JSON.stringify(JSON.stringify(text)).slice(1, -1)}`));
  }
  refused(t, ['check', '--nodes'], /--nodes needs a value/);
  refused(t, ['check', '--workload'], /--workload needs a value/);
  // Not a history file named "--nodes".
  refused(t, ['check', '--history', '--nodes', '3'], /--history needs a value/);
});

test('check: a nemesis named explicitly that cannot act on the cluster size is refused before the run', (t) => {
  for (const kind of ['partition', 'isolate', 'cut', 'faults', 'transfer', 'membership']) {
    refused(t, ['check', '--nodes', '1', '--nemesis', kind], new RegExp(`--nemesis ${kind} cannot act on --nodes 1: ${kind} needs at least 2 nodes; on 1 node only crash, lose can act`));
  }
  refused(t, ['check', '--nodes', '1', '--nemesis', 'crash,isolate,transfer'], /isolate needs at least 2 nodes, transfer needs at least 2 nodes/);
});

test('check: an empty nemesis list, a repeated option and --flag=value are refused', (t) => {
  refused(t, ['check', '--nemesis', ','], /--nemesis needs at least one kind \(or all, or none\), got ","/);
  // A list with a hole, a kind twice, or all / none inside it (they were accepted, or
  // 'all,crash' said "unknown nemesis all"; readmeaudit, thirty-first session).
  refused(t, ['check', '--nemesis', 'crash,'], /--nemesis has an empty kind in "crash,"/);
  refused(t, ['check', '--nemesis', 'crash,,lose'], /--nemesis has an empty kind in "crash,,lose"/);
  refused(t, ['check', '--nemesis', 'crash,crash'], /--nemesis names crash twice in "crash,crash"/);
  refused(t, ['check', '--nemesis', 'all,crash'], /--nemesis all stands alone, not in a list: got "all,crash"/);
  refused(t, ['check', '--nemesis', 'crash,none'], /--nemesis none stands alone, not in a list: got "crash,none"/);
  refused(t, ['check', '--nodes', '3', '--nodes', '4'], /--nodes given twice/);
  refused(t, ['check', '--nodes=3'], /unknown option --nodes=3 \(an option's value is the next argument: --nodes 3\)/);
  refused(t, ['check', '--bogus'], /unknown option --bogus/);
});

test('check: a --history file that cannot be written is refused before the run', (t) => {
  refused(t, ['check', '--nodes', '1', '--duration', '2', '--nemesis', 'none', '--history', '/nonexistent/dir/h.json'], /cannot write the history to \/nonexistent\/dir\/h\.json: ENOENT/);
  refused(t, ['check', '--nodes', '1', '--duration', '2', '--nemesis', 'none', '--history', directory], /cannot write the history to .*EISDIR/);
  // An existing file is left as it was by the probe.
  const existing = file('existing-history.json', 'old');
  const help = raftlab('check', '--history', existing, '--nodes', '0');
  t.is(help.status, 3);
  t.is(readFileSync(existing, 'utf8'), 'old');
});

// Serial: the other tests block this process in spawnSync, which would hold back the removal until after the run.
test.serial('check: a history that cannot be written at the end: the verdict, then the error, exit 4', async (t) => {
  const parent = mkdtempSync(path.join(tmpdir(), 'raftlab-check-history-'));
  const historyFile = path.join(parent, 'h.json');
  // Writable when the run starts; gone by its end.
  const result = await runCliActing(['check', '--nodes', '1', '--duration', '2', '--clients', '2', '--nemesis', 'none', '--seed', '7', '--history', historyFile], /starting 1 nodes/, () =>
    rmSync(parent, { recursive: true, force: true }),
  );
  const context = `${result.stdout}\n${result.stderr}`;
  t.true(result.acted, context);
  t.is(result.code, 4, context);
  t.regex(result.stdout, /check: PASS \(replay: --seed 7\)/, context);
  t.regex(result.stderr, /the history was not written to .*h\.json: ENOENT/, context);
  t.notRegex(result.stderr, /^\s+at /m, context);
  t.true(result.stdout.indexOf('check: PASS') >= 0 && !/history written/.test(result.stdout), context);
});

test('check: a run that fails to start its cluster removes its scratch directory', (t) => {
  // Past the CLI's checks (runCheck called directly), in a temp dir of its own.
  const scratch = mkdtempSync(path.join(tmpdir(), 'raftlab-check-scratch-'));
  try {
    const run = pathToFileURL(path.join(repoRoot, 'dist', 'lib', 'check', 'run.js')).href;
    const script = `import(${JSON.stringify(run)}).then((m) => m.runCheck({ nodes: 10, durationMs: 1000, clients: 1, workload: 'register', nemesis: [], seed: 1, historyFile: null }))
      .then(() => process.exit(0), (error) => { process.stdout.write(String(error.code)); process.exit(5); });`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TMPDIR: scratch } });
    t.is(result.status, 5, result.stderr);
    t.is(result.stdout, 'INVALID_CONFIG');
    t.deepEqual(readdirSync(scratch), [], 'no raftlab-check-* directory left behind');
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

test('verify: a repeated option, --flag=value and numbers not in decimal are refused', (t) => {
  const history = file('refusals.json', JSON.stringify(events(linearizable)));
  for (const [args, reason] of [
    [['--max-steps', '3', '--max-steps', '4', history], /--max-steps given twice/],
    [['--budget-ms=5', history], /unknown option --budget-ms=5 \(an option's value is the next argument: --budget-ms 5\)/],
    [['--max-steps', '1e3', history], /--max-steps needs an integer of at least 1, got "1e3"/],
    [['--budget-ms', '0x10', history], /--budget-ms needs an integer of at least 1, got "0x10"/],
    [[history, '--budget-ms'], /--budget-ms needs a value/],
  ] as const) {
    const result = verify(...args);
    t.is(result.status, 3, `${args.join(' ')}: ${result.stderr}`);
    t.regex(result.stderr, reason);
  }
});

test('check: --keep-data keeps a passing run\'s files and history and says where; --data refuses a directory in use', (t) => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'raftlab-check-keep-'));
  try {
    const result = spawnSync(process.execPath, [cli, 'check', '--nodes', '1', '--duration', '2', '--clients', '2', '--nemesis', 'none', '--seed', '9', '--keep-data'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, TMPDIR: scratch },
    });
    const context = `${result.stdout}\n${result.stderr}`;
    t.is(result.status, 0, context);
    const kept = readdirSync(scratch).filter((name) => name.startsWith('raftlab-check-'));
    t.is(kept.length, 1, context);
    const dir = path.join(scratch, kept[0] ?? '');
    t.true(result.stdout.includes(`data kept in ${dir} (--keep-data): each node's WAL and node.log in node-<id>/`), context);
    t.true(result.stdout.includes(`history written to ${path.join(dir, 'history.json')}`), context);
    t.true(readdirSync(path.join(dir, 'node-1')).includes('node.log'), context);
    t.is(verify(path.join(dir, 'history.json')).status, 0);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const used = file('not-a-data-dir', 'x');
  refused(t, ['check', '--nodes', '1', '--duration', '2', '--data', used], /cannot put the cluster in .*not-a-data-dir: .* is not a directory/);
  refused(t, ['check', '--nodes', '1', '--duration', '2', '--data', directory], /cannot put the cluster in .* is not empty/);
});
