// The benchmark's pure parts: option parsing, the value format the read-back relies on,
// and the pipeline-limit arithmetic that --baseline prints.

import test from 'ava';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureFdatasyncUnderLoad, pipelineLimit } from '../lib/bench/baseline.js';
import type { BaselineMeasurements } from '../lib/bench/baseline.js';
import { fdatasyncLatencyText } from '../lib/bench/report.js';
import { keyName, makeValue, parseValue, writeKeyName, writeMadeValue } from '../lib/bench/load.js';
import { MsgpackWriter, decimalLength } from '../lib/transport/msgpack-writer.js';
import { summarizeProfile } from '../lib/bench/profile.js';
import { BENCH_USAGE, BenchUsageError, generatorsFor, parseBenchArgs } from '../lib/bench/options.js';
import { LatencyRecorder, newLatencyHistogram, recordLatencyMs, recordSampledDelayMs, summarizeMs } from '../lib/bench/histogram.js';
import { MachineNoiseMeter } from '../lib/bench/machine-noise.js';
import { createPrng } from '../lib/raft/prng.js';
import { Pacer, PacerSlot, nextPacerTick } from '../lib/bench/pacer.js';
import { OpenLoopSchedule } from '../lib/bench/schedule.js';
import { ThroughputTrace, secondHalfOverFirst, unsteadyWindowNote } from '../lib/bench/throughput-trace.js';
import { diskFigures } from '../lib/bench/run.js';
import type { ClusterStatus, NodeStatus } from '../lib/cluster/types.js';

test('options: defaults follow the issue, flags parse, nonsense is refused with a reason', (t) => {
  const defaults = parseBenchArgs([]);
  t.deepEqual(defaults.nodeCounts, [1, 3, 5, 7]);
  t.is(defaults.durationSeconds, 10);
  t.is(defaults.warmupSeconds, 2);
  t.is(defaults.clients, 64);
  t.is(defaults.valueBytes, 128);
  t.is(defaults.keys, 10_000);
  t.is(defaults.readFraction, 0);
  t.is(defaults.ratePerSecond, null);
  t.true(defaults.fsync);

  const parsed = parseBenchArgs(['--nodes', '1,3', '--duration', '2', '--fsync', 'off', '--rate', '5000', '--reads', '0.25', '--json', 'x.json', '--baseline', '--seed', '42']);
  t.deepEqual(parsed.nodeCounts, [1, 3]);
  t.is(parsed.durationSeconds, 2);
  t.false(parsed.fsync);
  t.is(parsed.ratePerSecond, 5000);
  t.is(parsed.readFraction, 0.25);
  t.is(parsed.jsonPath, 'x.json');
  t.true(parsed.baseline);
  t.is(parsed.seed, 42);
  t.is(defaults.snapshotEntries, null, "the cluster's own compaction period unless asked");
  t.is(parseBenchArgs(['--snapshot-entries', '300000']).snapshotEntries, 300_000);
  t.throws(() => parseBenchArgs(['--snapshot-entries', '0']), { instanceOf: BenchUsageError, message: /--snapshot-entries/ });

  t.throws(() => parseBenchArgs(['--nodes', '0']), { instanceOf: BenchUsageError, message: /--nodes/ });
  t.throws(() => parseBenchArgs(['--fsync', 'maybe']), { instanceOf: BenchUsageError, message: /on or off/ });
  t.throws(() => parseBenchArgs(['--reads', '1.5']), { instanceOf: BenchUsageError, message: /fraction/ });
  t.throws(() => parseBenchArgs(['--bogus', '1']), { instanceOf: BenchUsageError, message: /unknown option/ });
  t.throws(() => parseBenchArgs(['--duration']), { instanceOf: BenchUsageError, message: /needs a value/ });
  // Closed loop needs a free key for every write in flight.
  t.throws(() => parseBenchArgs(['--keys', '100']), { instanceOf: BenchUsageError, message: /--keys too small/ });
});

test('options: an unknown option is called unknown, with or without a value, and --flag=value is told how to write it', (t) => {
  t.throws(() => parseBenchArgs(['--bogus']), { instanceOf: BenchUsageError, message: "unknown option '--bogus'" });
  t.throws(() => parseBenchArgs(['--nodes=3']), { instanceOf: BenchUsageError, message: "unknown option '--nodes=3' (an option's value is the next argument: --nodes 3)" });
  // Another option is no value: not a JSON file named "--baseline".
  t.throws(() => parseBenchArgs(['--json', '--baseline']), { instanceOf: BenchUsageError, message: '--json needs a value' });
});

test('options: a repeated option and numbers not in plain decimal are refused', (t) => {
  t.throws(() => parseBenchArgs(['--nodes', '1', '--nodes', '3']), { instanceOf: BenchUsageError, message: '--nodes given twice' });
  t.throws(() => parseBenchArgs(['--baseline', '--baseline']), { instanceOf: BenchUsageError, message: '--baseline given twice' });
  for (const [flag, text] of [
    ['--clients', '1e3'],
    ['--clients', '0x10'],
    ['--clients', '3.5'],
    ['--clients', '-2'],
    ['--seed', ''],
    ['--seed', ' 7'],
    ['--duration', '1e3'],
    ['--duration', '0x10'],
    ['--duration', 'Infinity'],
    ['--warmup', '-1'],
    ['--rate', '1e5'],
    ['--reads', ''],
    ['--reads', '0x0'],
    ['--load-curve', '0x1'],
  ] as const) {
    t.throws(() => parseBenchArgs([flag, text]), { instanceOf: BenchUsageError, message: new RegExp(`^${flag} `) }, `${flag} '${text}'`);
  }
  t.is(parseBenchArgs(['--duration', '2.5']).durationSeconds, 2.5);
  t.is(parseBenchArgs(['--warmup', '.5']).warmupSeconds, 0.5);
  t.is(parseBenchArgs(['--seed', '0']).seed, 0);
});

test('options: every option the usage lists is parsed (those of the CLI itself aside)', (t) => {
  const cliOnly = new Set(['--catch-up', '--against', '--rounds', '--cpu-prof', '--profile-summary']);
  const examples: Record<string, string> = { '--fsync': 'on', '--client': 'kv', '--reads': '0.5', '--load-curve': '0.5', '--nodes': '1', '--json': 'x.json', '--data-dir': '/tmp', '--follower-sync-spacing': '1', '--verify-sample': '10', '--value-size': '128', '--keys': '100000' };
  const flags = [...BENCH_USAGE.matchAll(/^ {2}(--[a-z-]+)( \S)?/gm)].map((match) => ({ flag: match[1]!, valued: match[2] !== undefined }));
  t.true(flags.length >= 20, flags.map((each) => each.flag).join(' '));
  for (const { flag, valued } of flags) {
    if (cliOnly.has(flag)) continue;
    t.notThrows(() => parseBenchArgs(valued ? [flag, examples[flag] ?? '4'] : [flag]), flag);
  }
});

test('options: --load-curve takes distinct fractions of the peak in (0, 1], not with --rate', (t) => {
  t.deepEqual(parseBenchArgs([]).loadCurve, []);
  t.deepEqual(parseBenchArgs(['--load-curve', '0.5, 0.1,1']).loadCurve, [0.5, 0.1, 1]);
  for (const bad of ['0', '1.5', '-0.2', 'half', '0.5,', '']) {
    t.throws(() => parseBenchArgs(['--load-curve', bad]), { instanceOf: BenchUsageError, message: /fractions of the peak above 0 and at most 1/ }, bad);
  }
  t.throws(() => parseBenchArgs(['--load-curve', '0.5,0.25,0.5']), { instanceOf: BenchUsageError, message: /twice/ });
  t.throws(() => parseBenchArgs(['--load-curve', '0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9']), { instanceOf: BenchUsageError, message: /at most 8/ });
  t.throws(() => parseBenchArgs(['--load-curve', '0.5', '--rate', '1000']), { instanceOf: BenchUsageError, message: /leave out --rate/ });
});

test('load generators: two in closed loop, in open loop one per 450,000 requests/s (at most two), or as many as asked', (t) => {
  const defaults = parseBenchArgs([]);
  t.is(defaults.generators, null, 'chosen per window unless given');
  t.is(generatorsFor(defaults, null), 2);
  t.is(generatorsFor(defaults, 1), 1);
  t.is(generatorsFor(defaults, 250_000), 1);
  t.is(generatorsFor(defaults, 300_000), 1);
  t.is(generatorsFor(defaults, 450_000), 1);
  t.is(generatorsFor(defaults, 450_001), 2);
  t.is(generatorsFor(defaults, 5_000_000), 2, 'never more than in closed loop');
  const three = parseBenchArgs(['--generators', '3']);
  t.is(generatorsFor(three, null), 3);
  t.is(generatorsFor(three, 1000), 3, 'given: the same in every window');
  t.is(generatorsFor(parseBenchArgs(['--generators', '3', '--clients', '2', '--keys', '100000']), null), 2, 'never more than sessions');
  t.throws(() => parseBenchArgs(['--generators', '0']), { instanceOf: BenchUsageError, message: /--generators/ });
});

test('values are exactly value-size bytes of JSON and carry generator and seq', (t) => {
  for (const valueBytes of [32, 128, 1024]) {
    const value = makeValue(3, 123_456, valueBytes, 'x'.repeat(valueBytes));
    t.is(Buffer.byteLength(JSON.stringify(value)), valueBytes);
    t.deepEqual(parseValue(value), { generatorId: 3, seq: 123_456 });
  }
  t.is(parseValue(null), null);
  t.is(parseValue(17), null);
  t.is(parseValue('garbage'), null);
});

test('keys and values written without building their strings are the strings\' msgpack bytes', (t) => {
  const writer = new MsgpackWriter(8);
  const reference = new MsgpackWriter(8);
  for (const index of [0, 9, 10, 99_999, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
    writer.reset();
    reference.reset();
    writeKeyName(writer, index);
    reference.str(keyName(index));
    t.deepEqual([...writer.written()], [...reference.written()], `key ${index}`);
  }
  // Sizes around each msgpack string header (fixstr < 32, str8 < 256, str16) and a prefix longer than the size.
  for (const valueBytes of [1, 10, 33, 34, 128, 257, 258, 1024, 70_000]) {
    for (const [generatorId, seq] of [[0, 1], [3, 123_456], [15, Number.MAX_SAFE_INTEGER]] as const) {
      writer.reset();
      reference.reset();
      writeMadeValue(writer, generatorId, seq, valueBytes);
      reference.str(makeValue(generatorId, seq, valueBytes, 'x'.repeat(valueBytes)));
      t.deepEqual([...writer.written()], [...reference.written()], `value of ${valueBytes} bytes, generator ${generatorId}, seq ${seq}`);
    }
  }
  t.throws(() => decimalLength(-1), { instanceOf: RangeError });
  t.throws(() => decimalLength(0.5), { instanceOf: RangeError });
  t.throws(() => writer.asciiDigits(123, 2), { instanceOf: RangeError }, 'a length too short is refused');
  t.throws(() => writer.asciiDigits(123, 4), { instanceOf: RangeError }, 'a length too long is refused');
});

test('pipeline limit: the arithmetic printed by --baseline', (t) => {
  const baseline: BaselineMeasurements = {
    fdatasyncPerSecond: 1000,
    fdatasyncMeanMs: 1,
    portMessagesPerSecond: 1_000_000,
    msgpackEncodeEntriesPerSecond: 1_000_000,
    msgpackDecodeEntriesPerSecond: 2_000_000,
    fdatasyncLatency: { idle: { count: 1, p50: 1, p90: 1, p99: 1, p999: 1, max: 1, mean: 1 }, busy: { count: 1, p50: 1, p90: 1, p99: 1, p999: 1, max: 1, mean: 1 }, spinners: 2 },
  };
  // 3 nodes, batches of 100, 1000 in flight, fsync on, 2 cores. In µs per write:
  //   leader   = 2*0.5 + 2*1 + 2*3*1/100 = 3.06 (its fdatasync overlaps, on libuv's pool)
  //   follower = 2*0.5 + 2/100 = 1.02 of CPU, + 1000/100 waiting for its fdatasync = 11.02
  //   generator = 1 + 0.5 + 0.02 = 1.52; cluster CPU = 3.06 + 2*1.02 + 1.52 = 6.62
  const limit = pipelineLimit(baseline, 3, 100, 1000, true, 2);
  t.is(Number(limit.leaderMicrosPerWrite.toFixed(6)), 3.06);
  t.is(Number(limit.followerMicrosPerWrite!.toFixed(6)), 11.02);
  t.is(Number(limit.clusterCpuMicrosPerWrite.toFixed(6)), 6.62);
  t.is(Math.round(limit.leaderBoundWritesPerSecond), Math.round(1e6 / 3.06));
  t.is(Math.round(limit.followerBoundWritesPerSecond!), Math.round(1e6 / 11.02));
  t.is(Math.round(limit.cpuBoundWritesPerSecond), Math.round(2e6 / 6.62));
  t.is(limit.diskBoundWritesPerSecond, 1_000_000);
  t.is(limit.limitWritesPerSecond, limit.followerBoundWritesPerSecond!);
  // One node: no follower, and the leader's fdatasync is not on its thread (until the
  // thirty-first session the leader was charged 1000/100 µs for it: a limit of 1e6 / 13.02
  // = 76,805 writes/s instead of 1e6 / 3.02 = 331,126).
  const one = pipelineLimit(baseline, 1, 100, 1000, true, 2);
  t.is(one.followerMicrosPerWrite, null);
  t.is(one.followerBoundWritesPerSecond, null);
  t.is(Number(one.leaderMicrosPerWrite.toFixed(6)), 3.02);
  t.is(Number(one.clusterCpuMicrosPerWrite.toFixed(6)), 4.54);
  t.is(Math.round(one.limitWritesPerSecond), Math.round(1e6 / 3.02));
  // fsync off: the disk drops out, and the follower's thread does only its CPU.
  const off = pipelineLimit(baseline, 3, 100, 1000, false, 2);
  t.is(off.diskBoundWritesPerSecond, null);
  t.is(Number(off.leaderMicrosPerWrite.toFixed(6)), 3.06);
  t.is(Number(off.followerMicrosPerWrite!.toFixed(6)), 1.02);
});

test('fdatasync latency line: both halves and their p99 ratio; an empty half prints no number', (t) => {
  const half = (p50: number, p99: number, max: number) => ({ count: 9, p50, p90: p99, p99, p999: max, max, mean: p50 });
  const line = fdatasyncLatencyText({ idle: half(0.3, 0.7, 2), busy: half(0.4, 4.2, 12.5), spinners: 2 });
  t.regex(line, /cores idle p50 0\.30 \/ p99 0\.70 \/ max 2\.00 ms/);
  t.regex(line, /2 spinning thread\(s\) at nice 19\) p50 0\.40 \/ p99 4\.20 \/ max 12\.5 ms \(x6\.0 at p99\)/);
  const empty = { count: 0, p50: null, p90: null, p99: null, p999: null, max: null, mean: null };
  const partial = fdatasyncLatencyText({ idle: half(0.3, 0.7, 2), busy: empty, spinners: 1 });
  t.regex(partial, /p50 - \/ p99 - \/ max - ms$/);
  t.notRegex(partial, /at p99/);
});

test('fdatasync latency under load: both halves measured, the spinners stopped, the probe file removed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-fsync-latency-'));
  try {
    const result = await measureFdatasyncUnderLoad(dir, 60, 2, 2);
    t.is(result.spinners, 2);
    for (const half of [result.idle, result.busy]) {
      t.true(half.count > 0, 'fdatasyncs were timed');
      const { p50, p99, max } = half;
      t.true(p50 !== null && p99 !== null && max !== null && p50 > 0 && p50 <= p99 && p99 <= max, `ordered percentiles: ${JSON.stringify(half)}`);
    }
    t.deepEqual(readdirSync(dir), [], 'the probe file is gone');
    await t.throwsAsync(() => measureFdatasyncUnderLoad(dir, 10, 0), { instanceOf: RangeError });
    await t.throwsAsync(() => measureFdatasyncUnderLoad(dir, 10, 1, 0), { instanceOf: RangeError });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('profile summary: busy share excludes idle, roles come from the thread entry file', (t) => {
  const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 9 });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)', '') },
      { id: 2, callFrame: frame('(idle)', '') },
      { id: 3, callFrame: frame('apply', 'file:///x/dist/lib/cluster/node-host.js') },
      { id: 4, callFrame: frame('', 'file:///x/dist/workers/raft-node.js') },
    ],
    samples: [2, 3, 3, 4, 2],
    timeDeltas: [1000, 3000, 3000, 2000, 1000],
  };
  const summary = summarizeProfile('p.cpuprofile', profile, 5);
  t.is(summary.role, 'raft node');
  t.is(summary.totalSeconds, 0.01);
  t.is(summary.busySeconds, 0.008);
  t.deepEqual(summary.top, [
    { where: 'apply dist/lib/cluster/node-host.js:10', busyFraction: 0.75 },
    { where: '(anonymous) dist/workers/raft-node.js:10', busyFraction: 0.25 },
  ]);
});

test('latency recorder: counted values reach the histogram exactly as values recorded one by one', (t) => {
  const seed = Number(process.env['RAFTLAB_TEST_SEED'] ?? Date.now() % 0x7fffffff);
  const random = createPrng(seed);
  const direct = newLatencyHistogram();
  const counted = newLatencyHistogram();
  const recorder = new LatencyRecorder(counted);
  try {
    for (let i = 0; i < 20_000; i++) {
      // Mostly sub-millisecond to tens of ms, some past the 100 ms the recorder counts itself.
      const ms = random() < 0.05 ? 100 + random() * 5_000 : random() * random() * 100;
      recordLatencyMs(direct, ms);
      recorder.recordMs(ms);
    }
    recorder.flush();
    recorder.flush(); // a second flush adds nothing
    t.is(counted.totalCount, direct.totalCount, `seed ${seed}`);
    for (const percentile of [0, 50, 90, 99, 99.9, 100]) {
      t.is(counted.getValueAtPercentile(percentile), direct.getValueAtPercentile(percentile), `p${percentile}, seed ${seed}`);
    }
    t.is(counted.maxValue, direct.maxValue, `seed ${seed}`);
    t.is(counted.mean, direct.mean, `seed ${seed}`);
  } finally {
    direct.destroy();
    counted.destroy();
  }
});

test('sampled delays: one past the sampling interval also counts the samples it displaced (jHiccup); one within it counts once', (t) => {
  const histogram = newLatencyHistogram();
  try {
    recordSampledDelayMs(histogram, 3, 10);
    t.is(histogram.totalCount, 1);
    recordSampledDelayMs(histogram, 95, 10);
    // 95, 85, ..., 15: nine more samples, the wakes a 95 ms stall kept from happening.
    t.is(histogram.totalCount, 1 + 9);
    // 3, 15, 25, ..., 95: the fifth of ten, within its bucket's width (three significant digits).
    t.true(Math.abs(summarizeMs(histogram).p50! - 45) < 0.1, String(summarizeMs(histogram).p50));
  } finally {
    histogram.destroy();
  }
});

test('machine noise: a 300 ms stall of the measuring thread counts as the thirty late wakes it displaced, not as one', async (t) => {
  const meter = new MachineNoiseMeter();
  meter.start();
  // Nothing runs on this thread for 300 ms, so the meter's 10 ms timer wakes about 290 ms late.
  const blockedUntil = performance.now() + 300;
  while (performance.now() < blockedUntil);
  // A timer due after the meter's overdue one: it fires once the meter has recorded its wake.
  await new Promise((resolve) => setTimeout(resolve, 1));
  const noise = meter.stop();
  const context = JSON.stringify(noise.hiccupMs);
  t.true(noise.hiccupMs.count >= 25, context);
  t.true(noise.hiccupMs.p50! >= 100, context);
  t.true(noise.hiccupMs.max! >= 280, context);
});

test('latency summary: no percentile above the max, even when the slowest writes share its bucket', (t) => {
  // One stall caught 64 writes within 3 µs of one another at about 123 ms: with three
  // significant digits they share a bucket whose top is above the slowest of them (the
  // smoke bench once failed on p99.9 > max this way).
  const histogram = newLatencyHistogram();
  try {
    for (let i = 0; i < 1_000; i++) recordLatencyMs(histogram, 5);
    for (let i = 0; i < 64; i++) recordLatencyMs(histogram, 123.456 + (i % 3) / 1000);
    t.true(histogram.getValueAtPercentile(99.9) > histogram.maxValue, 'the bucket top the histogram reports is above the max');
    const summary = summarizeMs(histogram);
    t.is(summary.max, 123.458);
    t.is(summary.p999, 123.458);
    t.is(summary.p99, 123.458);
    // Below the max the bucket top stands: 5 ms within three significant digits.
    t.true(summary.p50! >= 5 && summary.p50! < 5.01, `p50 ${summary.p50}`);
    t.is(summary.count, 1_064);
  } finally {
    histogram.destroy();
  }
});

test('throughput trace: per-second rates from running counts, exact where the counts are', (t) => {
  // A cluster doing 100, 200, 300 and 400 operations in the four seconds from t = 1000
  // ms, sampled every 250 ms (each second's operations spread evenly over it).
  const trace = new ThroughputTrace();
  const rates = [100, 200, 300, 400];
  let count = 0;
  trace.add(0, 0);
  for (let second = 0; second < rates.length; second++) {
    for (let quarter = 0; quarter < 4; quarter++) {
      trace.add(1000 + second * 1000 + quarter * 250, count + (rates[second]! * quarter) / 4);
    }
    count += rates[second]!;
  }
  trace.add(5000, count);
  t.deepEqual(trace.perSecond(1000, 5000), rates);
  t.deepEqual(trace.perSecond(2000, 4500), [200, 300], 'whole seconds only');
  t.is(secondHalfOverFirst(rates), 700 / 300);
  t.is(trace.perSecond(500, 5600), null, 'the samples end before the window does');
  t.is(trace.perSecond(1000, 1500), null, 'no whole second');
  t.throws(() => trace.add(4000, count), { instanceOf: RangeError, message: /goes back/ });
  t.throws(() => trace.add(6000, count - 1), { instanceOf: RangeError, message: /goes back/ });
});

test('throughput trace: irregular samples of a steady rate give that rate every second (seeded)', (t) => {
  const seed = Number(process.env['RAFTLAB_TEST_SEED'] ?? Date.now() % 0x7fffffff);
  const random = createPrng(seed);
  const perMs = 50 + random() * 200;
  const trace = new ThroughputTrace();
  // Timer ticks 200-290 ms apart, around a window of 10 s from t = 2000 ms.
  for (let at = 0; at < 13_000; at += 200 + random() * 90) trace.add(at, at * perMs);
  trace.add(13_000, 13_000 * perMs);
  const perSecond = trace.perSecond(2000, 12_000);
  if (perSecond === null) return t.fail(`window not covered, seed ${seed}`);
  t.is(perSecond.length, 10, `seed ${seed}`);
  for (const rate of perSecond) t.true(Math.abs(rate - perMs * 1000) < 1e-6 * perMs * 1000, `rate ${rate} against ${perMs * 1000}, seed ${seed}`);
  const ratio = secondHalfOverFirst(perSecond);
  t.true(ratio !== null && Math.abs(ratio - 1) < 1e-9, `seed ${seed}`);
});

test('second half over first: the middle second of an odd window is left out; too short or idle gives null', (t) => {
  t.is(secondHalfOverFirst([10, 99, 20]), 2);
  t.is(secondHalfOverFirst([10, 10, 20, 20]), 2);
  t.is(secondHalfOverFirst([5]), null);
  t.is(secondHalfOverFirst([]), null);
  t.is(secondHalfOverFirst([0, 0, 7, 7]), null);
});

test('unsteady-window note: only past the limit as printed, and it says what it cannot tell apart (slower halves: bench-report-notes.test.ts)', (t) => {
  t.is(unsteadyWindowNote(null), null);
  t.regex(unsteadyWindowNote(0.7) ?? '', /x0\.70/, 'a slower second half is noted too');
  t.is(unsteadyWindowNote(1.1), null);
  t.is(unsteadyWindowNote(1.1049), null, 'prints as x1.10: not above the limit');
  const note = unsteadyWindowNote(1.234);
  t.regex(note ?? '', /^the window was not steady: its second half did x1\.23 the operations\/s of its first/);
  t.regex(note ?? '', /warming up, or the machine's speed changing/);
});

test('pacer: ticks wake a waiting generator, stop ends its thread, and with no pacer a wait still ends', async (t) => {
  // Neither the pacer's thread (unref'd, so that a pacer left running on an error path
  // does not keep the process alive) nor a pending Atomics.waitAsync keeps the event loop
  // alive: a generator's ports do, and this timer does here.
  const keepAlive = setTimeout(() => undefined, 10_000);
  t.teardown(() => clearTimeout(keepAlive));
  const pacer = new Pacer(1);
  const slots = new Int32Array(pacer.buffer);
  try {
    await pacer.ready();
    const before = Atomics.load(slots, PacerSlot.Tick);
    const woken: unknown[] = [];
    t.true(before >= 1, 'ready() returns once the pacer has ticked');
    // A generous timeout: on a busy machine the pacer's thread may be descheduled for longer
    // than a generator's fallback wake (50 ms), and only a tick may end these waits.
    for (let i = 0; i < 20; i++) woken.push(await nextPacerTick(slots, 5_000));
    // A wait ends on a tick ('ok'), or at once if the tick came before it began ('not-equal').
    t.true(woken.every((result) => result === 'ok' || result === 'not-equal'), `woken by ${woken.join(', ')}`);
    t.true(Atomics.load(slots, PacerSlot.Tick) - before >= 20);
  } finally {
    await pacer.stop();
  }
  const stoppedAt = Atomics.load(slots, PacerSlot.Tick);
  t.is(Atomics.load(slots, PacerSlot.Stop), 1);
  // Nothing ticks any more: a generator's wait falls back to its timeout instead of hanging.
  t.is(await nextPacerTick(slots), 'timed-out');
  t.is(Atomics.load(slots, PacerSlot.Tick), stoppedAt);
  t.throws(() => new Pacer(0), { instanceOf: RangeError });
});

test('open-loop schedule: the rate ramps linearly to its full value, then holds; dueAt inverts dueBy', (t) => {
  // 1,000 requests/s over a 2-s ramp: 1,000 due by its end, then one a millisecond.
  const ramped = new OpenLoopSchedule(1000, 2000);
  t.is(ramped.dueBy(-1), 0);
  t.is(ramped.dueBy(0), 1);
  t.is(ramped.dueBy(1000), 251, 'a quarter of the ramp count by half the ramp');
  t.is(ramped.dueBy(2000), 1001);
  t.is(ramped.dueBy(3000), 2001);
  t.is(ramped.dueAt(0), 0);
  t.is(ramped.dueAt(1000), 2000);
  t.is(ramped.dueAt(2000), 3000);
  // Without a ramp, a fixed interval from the start.
  const flat = new OpenLoopSchedule(4000, 0);
  t.is(flat.dueBy(0), 1);
  t.is(flat.dueBy(10), 41);
  t.is(flat.dueAt(40), 10);
  const disagreements: string[] = [];
  for (const schedule of [ramped, flat]) {
    let previous = -1;
    for (let k = 0; k < 3000; k++) {
      const at = schedule.dueAt(k);
      if (at < previous) disagreements.push(`dueAt(${k}) ${at} before dueAt(${k - 1}) ${previous}`);
      previous = at;
      // Request k is due at dueAt(k): counted by then (a hair later, for rounding), not a hair before.
      if (schedule.dueBy(at + 1e-9) < k + 1 || schedule.dueBy(at - 1e-6) !== k) disagreements.push(`dueBy around dueAt(${k}) = ${at}`);
    }
  }
  t.deepEqual(disagreements, []);
  t.throws(() => new OpenLoopSchedule(0, 100), { instanceOf: RangeError });
  t.throws(() => new OpenLoopSchedule(100, -1), { instanceOf: RangeError });
});

test('disk figures: each node\'s counts over the time between its own two reports, not the supervisor\'s window', (t) => {
  type Counters = Pick<NodeStatus, 'id' | 'fsyncCount' | 'entriesPersisted' | 'appendEntriesSent' | 'entriesSent' | 'slowFsyncs' | 'reportedAt' | 'fsyncLatencyMs'>;
  const node = (counters: Counters): NodeStatus => counters as unknown as NodeStatus;
  const status = (nodes: Counters[]): ClusterStatus => ({ nodes: nodes.map(node), leaderId: 1 }) as unknown as ClusterStatus;
  const at = (id: number, reportedAt: number, fsyncCount: number, slow: number[]): Counters => ({
    id,
    fsyncCount,
    entriesPersisted: fsyncCount * 10,
    appendEntriesSent: fsyncCount * 2,
    entriesSent: fsyncCount * 20,
    slowFsyncs: slow,
    reportedAt,
    fsyncLatencyMs: 0.5,
  });
  // The supervisor sampled 3 s apart; the leader's reports were 2.5 s apart (its last one
  // came late, a busy thread), the follower's 3.2 s: 1,000 and 1,600 fdatasyncs.
  const before = status([at(1, 10_000, 500, [10, 1, 0]), at(2, 10_001, 0, [0, 0, 0])]);
  const after = status([at(1, 12_500, 1_500, [60, 6, 1]), at(2, 13_201, 1_600, [32, 0, 0])]);
  const disk = diskFigures(1, before, after);
  t.is(disk.missing, null);
  t.is(disk.leaderFsyncsPerSecond, 400);
  t.is(disk.allFsyncsPerSecond, 400 + 500);
  t.is(disk.leaderEntriesPerFsync, 10);
  t.is(disk.entriesPerAppendEntries, 10);
  t.deepEqual(disk.slowFsyncs, { thresholdsMs: [1, 5, 20], leader: [20, 2, 0.4], others: [10, 0, 0] });
  // A leader with no report since the window started: no rates, and the reason.
  const stale = diskFigures(1, before, status([at(1, 10_000, 500, [10, 1, 0]), at(2, 13_201, 1_600, [32, 0, 0])]));
  t.is(stale.leaderFsyncsPerSecond, null);
  t.is(stale.allFsyncsPerSecond, null);
  t.is(stale.slowFsyncs, null);
  t.regex(stale.missing ?? '', /no status during the window/);
});
