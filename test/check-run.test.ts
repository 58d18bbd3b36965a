// `raftlab check` end to end: real clusters under the nemesis. A correct build passes
// both workloads; each deliberately broken build (test-only switches of the cluster,
// never code edits) is caught within a bounded run.

import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppendAnomalyKind } from '../lib/check/append-checks.js';
import { Verdict } from '../lib/check/linearizability.js';
import {
  allNemesisKinds,
  applicableNemesisKinds,
  CheckError,
  CheckErrorCode,
  formatCheckSummary,
  NemesisKind,
  nemesisMinNodes,
  runCheck,
  Workload,
  type CheckRunOptions,
  type CheckRunResult,
} from '../lib/check/run.js';
import { freshSeed } from './check-helpers.js';

const normalRunMs = 30_000;
const teethRunMs = 20_000;
/** A broken build gets this many runs (fresh seeds) to be caught. */
const teethAttempts = 2;
/**
 * Acknowledging before fsync is caught in about three runs of four (here, alone: 3 of 4
 * runs); in the others the lost writes crash a leader on an invariant (a follower's log
 * shorter than what it acknowledged) before the history shows them. Four runs.
 */
const ackBeforeFsyncAttempts = 4;

function options(seed: number, overrides: Partial<CheckRunOptions>): CheckRunOptions {
  return {
    nodes: 5,
    durationMs: normalRunMs,
    clients: 10,
    workload: Workload.Register,
    nemesis: allNemesisKinds,
    seed,
    historyFile: null,
    ...overrides,
  };
}

/** The summary without the per-key rows: enough to see what happened, short enough to print. */
function summary(result: CheckRunResult): string {
  return formatCheckSummary(result)
    .split('\n')
    .filter((line) => !/^\s+"/.test(line))
    .slice(0, 120)
    .join('\n');
}

/** The append run's WAL segments are small, so its nodes roll into segments prepared ahead under the crashes and power losses. */
const appendSegmentBytes = 16_384;

for (const workload of [Workload.Register, Workload.Append]) {
  test.serial(`a correct cluster passes a ${normalRunMs / 1000} s ${workload} run under every nemesis`, async (t) => {
    const seed = freshSeed();
    const segments = workload === Workload.Append ? { segmentBytes: appendSegmentBytes } : {};
    const segmentFlag = workload === Workload.Append ? ` --segment-bytes ${appendSegmentBytes}` : '';
    t.log(`seed ${seed} (replay: raftlab check --workload ${workload} --duration ${normalRunMs / 1000}${segmentFlag} --seed ${seed})`);
    const started = Date.now();
    const result = await runCheck(options(seed, { workload, ...segments }));
    t.log(`took ${Date.now() - started} ms; ${result.report.history.counts.ok} ok, ${result.report.history.counts.info} info, ${result.timeline.length} faults`);
    t.is(result.verdict, Verdict.Linearizable, `seed ${seed}\n${summary(result)}`);
    t.deepEqual(result.problems, [], `seed ${seed}`);
    // The run did real work and really injected faults.
    t.true(result.report.history.counts.ok > 1_000, `seed ${seed}: only ${result.report.history.counts.ok} ok operations`);
    t.true(result.timeline.length >= 3, `seed ${seed}: only ${result.timeline.length} faults injected`);
    t.true(result.report.linearizability.perKey.length >= 5, `seed ${seed}`);
  });
}

test('a nemesis that cannot act on the cluster size is refused before anything starts', async (t) => {
  t.deepEqual(applicableNemesisKinds(allNemesisKinds, 1), {
    applicable: [NemesisKind.Crash, NemesisKind.Lose],
    notApplicable: [NemesisKind.Partition, NemesisKind.Isolate, NemesisKind.Cut, NemesisKind.Faults, NemesisKind.Transfer, NemesisKind.Membership],
  });
  t.deepEqual(applicableNemesisKinds(allNemesisKinds, 2).notApplicable, []);
  t.true(allNemesisKinds.every((kind) => nemesisMinNodes[kind] <= 2));
  // Nothing made either: no scratch directory left behind (the only test here not serial, so
  // it runs alone, after them, and may point TMPDIR elsewhere).
  const scratch = mkdtempSync(path.join(tmpdir(), 'raftlab-check-refused-'));
  const savedTmpdir = process.env['TMPDIR'];
  process.env['TMPDIR'] = scratch;
  try {
    const error = await t.throwsAsync(runCheck(options(1, { nodes: 1, durationMs: 1_000, nemesis: [NemesisKind.Crash, NemesisKind.Membership] })), { instanceOf: CheckError });
    t.is(error?.code, CheckErrorCode.NemesisNotApplicable);
    t.regex(error?.message ?? '', /membership needs at least 2 nodes; on 1 node only crash, lose can act/);
    t.deepEqual(readdirSync(scratch), []);
  } finally {
    if (savedTmpdir === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = savedTmpdir;
    rmSync(scratch, { recursive: true, force: true });
  }
});

/** Timeline texts of faults that did nothing (audit 3, 1.1): a bridge that is everyone, no link cut, no hand-off. */
const noOpFault = / as the bridge$|^cut links one way around .*: $|^leadership transfers every \d+ ms$/;

test.serial('a 2-node cluster passes under every nemesis, each fault doing something', async (t) => {
  const seed = freshSeed();
  t.log(`seed ${seed} (replay: raftlab check --nodes 2 --duration 10 --seed ${seed})`);
  const result = await runCheck(options(seed, { nodes: 2, durationMs: 10_000 }));
  t.is(result.verdict, Verdict.Linearizable, `seed ${seed}\n${summary(result)}`);
  t.deepEqual(result.problems, [], `seed ${seed}`);
  t.true(result.timeline.length >= 2, `seed ${seed}: only ${result.timeline.length} faults\n${summary(result)}`);
  // The summary's counts are the history's: every event counted once, by its type.
  const byType = (type: string): number => result.events.filter((event) => event.type === type && event.process !== 'nemesis').length;
  const { counts } = result.report.history;
  t.deepEqual([counts.ok, counts.fail, counts.info + counts.neverCompleted], [byType('ok'), byType('fail'), byType('info') + byType('invoke') - byType('ok') - byType('fail') - byType('info')], `seed ${seed}`);
  t.is(counts.neverCompleted, 0, `seed ${seed}: every operation completed`);
  t.regex(formatCheckSummary(result), new RegExp(`: ${counts.ok} ok operations, .*\\nnemesis timeline \\(${result.timeline.length};`), `seed ${seed}`);
  // The history records what the nemesis did: each fault's actions within its span, and
  // the heal before the final reads.
  const nemesis = result.report.history.nemesis;
  t.true(nemesis.length >= result.timeline.length + 1, `seed ${seed}: ${nemesis.length} nemesis events for ${result.timeline.length} faults`);
  t.is(nemesis.filter((event) => event.f === 'heal').length >= 1, true, `seed ${seed}`);
  for (const record of result.timeline) {
    const during = nemesis.filter((event) => event.time >= record.startMs && event.time <= (record.endMs ?? Infinity));
    t.true(during.length >= 1, `seed ${seed}: no nemesis event in the history during "${record.text}"`);
  }
  for (const record of result.timeline) {
    t.notRegex(record.text, noOpFault, `seed ${seed}`);
    t.true(record.startMs <= (record.endMs ?? -1), `seed ${seed}: ${record.text}`);
    // One zero point: every fault within the run.
    t.true(record.endMs !== null && record.endMs <= result.durationMs, `seed ${seed}: ${record.text} ended at ${record.endMs} ms, run ${result.durationMs} ms`);
  }
});

async function caughtWithin(
  t: ExecutionContext,
  what: string,
  make: (seed: number) => CheckRunOptions,
  caught: (result: CheckRunResult) => boolean,
  attempts = teethAttempts,
): Promise<void> {
  const firstSeed = freshSeed();
  const misses: string[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    const seed = firstSeed + attempt;
    const started = Date.now();
    const result = await runCheck(make(seed));
    t.log(`${what}: seed ${seed}, verdict ${result.verdict}, ${Date.now() - started} ms`);
    if (caught(result)) {
      t.log(`${what}: caught with seed ${seed} after ${attempt + 1} run(s)`);
      break;
    }
    misses.push(`seed ${seed}:\n${summary(result)}`);
  }
  t.true(misses.length < attempts, `${what} was not caught in ${attempts} runs:\n${misses.join('\n\n')}`);
}

test.serial('teeth: stale reads from a node that only believes it leads are caught', async (t) => {
  await caughtWithin(
    t,
    'staleReads',
    // Slower timers widen the time a deposed leader keeps answering; short client
    // deadlines move writers to the new leader within that time.
    (seed) => options(seed, { durationMs: teethRunMs, nemesis: [NemesisKind.Isolate], tickMs: 100, operationTimeoutMs: 300, testOnly: { staleReads: true } }),
    (result) => result.verdict === Verdict.NotLinearizable && result.report.linearizability.anomalies.some((anomaly) => anomaly.blocked.f === 'get'),
  );
});

test.serial('teeth: duplicate appends with the session table disabled are caught', async (t) => {
  await caughtWithin(
    t,
    'disableSessions',
    (seed) => options(seed, { durationMs: teethRunMs, workload: Workload.Append, nemesis: [NemesisKind.Crash], testOnly: { disableSessions: true } }),
    (result) => result.report.appends.anomalies.some((anomaly) => anomaly.kind === AppendAnomalyKind.DuplicateElement),
  );
});

test.serial('teeth: appends acknowledged before fsync are caught losing writes', async (t) => {
  await caughtWithin(
    t,
    'ackBeforeFsync',
    (seed) => options(seed, { durationMs: teethRunMs, workload: Workload.Append, nemesis: [NemesisKind.Lose], testOnly: { ackBeforeFsync: true } }),
    (result) => result.verdict === Verdict.NotLinearizable && result.report.appends.anomalies.length > 0,
    ackBeforeFsyncAttempts,
  );
});

test.serial('a node that goes down on its own (its disk fails), not by the nemesis, fails the run', async (t) => {
  const seed = freshSeed();
  // Node 1's WAL refuses every write after 50 entries, as a full disk would: it stops with
  // WAL_IO, a crash event the nemesis did not cause. The other two serve on, and the
  // history alone is linearizable.
  const result = await runCheck(
    options(seed, { nodes: 3, durationMs: 3_000, clients: 4, nemesis: [], testOnly: { walFault: { node: 1, afterEntries: 50, fault: 'enospc' } } }),
  );
  t.teardown(() => {
    if (result.dataDir !== null) rmSync(result.dataDir, { recursive: true, force: true });
  });
  t.is(result.verdict, Verdict.NotLinearizable, `seed ${seed}\n${summary(result)}`);
  t.true(
    result.problems.some((problem) => /node 1 went down on its own: .*its disk failed.*ENOSPC/.test(problem)),
    `seed ${seed}: ${result.problems.join('\n')}`,
  );
  t.not(result.dataDir, null, 'a failing run keeps its files');
});

test.serial('the nemesis\'s own crashes are no problem of the run', async (t) => {
  const seed = freshSeed();
  const result = await runCheck(options(seed, { nodes: 3, durationMs: 8_000, clients: 4, nemesis: [NemesisKind.Crash, NemesisKind.Lose] }));
  t.teardown(() => {
    if (result.dataDir !== null) rmSync(result.dataDir, { recursive: true, force: true });
  });
  // Gaps of 0.8-2 s, holds of 1-3 s and the restarts: at least one crash in 8 s.
  t.true(result.timeline.length >= 1, `seed ${seed}: ${result.timeline.length} faults`);
  t.deepEqual(result.problems, [], `seed ${seed}`);
  t.is(result.verdict, Verdict.Linearizable, `seed ${seed}\n${summary(result)}`);
});
