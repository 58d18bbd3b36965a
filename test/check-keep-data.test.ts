// `raftlab check` keeps its evidence: a run that does not pass, or that ends in an error,
// keeps the cluster's files (each node's WAL and node.log) and the history next to them;
// a passing run removes its scratch directory unless asked to keep it. One-node runs of
// two seconds, each in a temporary directory of its own (TMPDIR), so every test here is
// serial.

import test, { type ExecutionContext } from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readHistoryFile } from '../lib/check/history.js';
import { Verdict } from '../lib/check/linearizability.js';
import { CheckError, CheckErrorCode, KEPT_HISTORY_FILE, NemesisKind, runCheck, Workload, type CheckRunOptions } from '../lib/check/run.js';
import { verifyHistory } from '../lib/check/verify.js';
import { freshSeed } from './check-helpers.js';

function options(seed: number, overrides: Partial<CheckRunOptions> = {}): CheckRunOptions {
  return { nodes: 1, durationMs: 2_000, clients: 2, workload: Workload.Register, nemesis: [NemesisKind.Crash], seed, historyFile: null, ...overrides };
}

/** Runs `body` with TMPDIR pointed at a fresh directory, which it gets; removed afterwards. */
async function inOwnTmpdir<T>(t: ExecutionContext, body: (scratch: string) => Promise<T>): Promise<T> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'raftlab-keep-data-'));
  const saved = process.env['TMPDIR'];
  process.env['TMPDIR'] = scratch;
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  try {
    return await body(scratch);
  } finally {
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
  }
}

/** The one raftlab-check-* directory in `scratch`. */
function onlyRunDir(t: ExecutionContext, scratch: string): string {
  const dirs = readdirSync(scratch).filter((name) => name.startsWith('raftlab-check-'));
  t.is(dirs.length, 1, `one run directory in ${scratch}: ${dirs.join(', ')}`);
  return path.join(scratch, dirs[0] ?? 'none');
}

test.serial('a passing run removes its scratch directory and writes no history of its own', async (t) => {
  const seed = freshSeed();
  await inOwnTmpdir(t, async (scratch) => {
    const result = await runCheck(options(seed));
    t.is(result.verdict, Verdict.Linearizable, `seed ${seed}`);
    t.is(result.dataDir, null);
    t.is(result.historyFile, null);
    t.deepEqual(readdirSync(scratch), [], `seed ${seed}: nothing left in the temp directory`);
  });
});

test.serial('keepData keeps a passing run\'s directory: each node\'s WAL and node.log, and the history, which verifies', async (t) => {
  const seed = freshSeed();
  await inOwnTmpdir(t, async (scratch) => {
    const result = await runCheck(options(seed, { keepData: true }));
    t.is(result.verdict, Verdict.Linearizable, `seed ${seed}`);
    const kept = onlyRunDir(t, scratch);
    t.is(result.dataDir, kept);
    t.true(existsSync(path.join(kept, 'node-1', 'node.log')), `seed ${seed}`);
    t.true(readdirSync(path.join(kept, 'node-1')).some((name) => /^wal-\d+\.log$/.test(name)), `seed ${seed}: ${readdirSync(path.join(kept, 'node-1')).join(', ')}`);
    t.is(result.historyFile, path.join(kept, KEPT_HISTORY_FILE));
    t.is(result.historyError, null);
    const history = await readHistoryFile(result.historyFile ?? '');
    t.is(history.events.length, result.events.length);
    t.is(verifyHistory(history).verdict, Verdict.Linearizable);
  });
});

test.serial('a failing run keeps its directory and its history, which shows the failure', async (t) => {
  const seed = freshSeed();
  await inOwnTmpdir(t, async (scratch) => {
    const result = await runCheck(options(seed, { testOnlyFalseFinalRead: true }));
    t.is(result.verdict, Verdict.NotLinearizable, `seed ${seed}`);
    const kept = onlyRunDir(t, scratch);
    t.is(result.dataDir, kept);
    t.true(existsSync(path.join(kept, 'node-1', 'node.log')), `seed ${seed}`);
    t.is(result.historyFile, path.join(kept, KEPT_HISTORY_FILE));
    const history = await readHistoryFile(result.historyFile ?? '');
    t.true(history.events.some((event) => event.value === 'testOnly: never written'), `seed ${seed}`);
    t.is(verifyHistory(history).verdict, Verdict.NotLinearizable, `seed ${seed}`);
  });
});

test.serial('a failing run with --history writes it there, and keeps the directory', async (t) => {
  const seed = freshSeed();
  await inOwnTmpdir(t, async (scratch) => {
    const historyFile = path.join(scratch, 'asked-for.json');
    const result = await runCheck(options(seed, { testOnlyFalseFinalRead: true, historyFile }));
    t.is(result.verdict, Verdict.NotLinearizable, `seed ${seed}`);
    const kept = onlyRunDir(t, scratch);
    t.is(result.dataDir, kept);
    t.is(result.historyFile, historyFile);
    t.true(existsSync(historyFile));
    t.false(existsSync(path.join(kept, KEPT_HISTORY_FILE)));
  });
});

test.serial('a run that ends in an error keeps its directory and the history so far, and says where', async (t) => {
  const seed = freshSeed();
  await inOwnTmpdir(t, async (scratch) => {
    const lines: string[] = [];
    const log = (line: string): void => {
      lines.push(line);
      // An error inside the run, after the clients and the nemesis have run.
      if (line.startsWith('healing')) throw new Error('test: the run breaks while healing');
    };
    await t.throwsAsync(runCheck(options(seed, { log })), { message: /the run breaks while healing/ });
    const kept = onlyRunDir(t, scratch);
    const said = lines.find((line) => line.includes('ended in an error'));
    t.truthy(said, lines.join('\n'));
    t.true(said?.includes(`its data directory is kept in ${kept}`), said);
    t.true(said?.includes(`written to ${path.join(kept, KEPT_HISTORY_FILE)}`), said);
    t.true(existsSync(path.join(kept, 'node-1', 'node.log')));
    const history = await readHistoryFile(path.join(kept, KEPT_HISTORY_FILE));
    t.true(history.events.length > 0, `seed ${seed}`);
  });
});

test.serial('dataDir puts the cluster in a directory of one\'s choosing, made if missing, and keeps it; a non-empty one is refused', async (t) => {
  const seed = freshSeed();
  await inOwnTmpdir(t, async (scratch) => {
    const dataDir = path.join(scratch, 'chosen', 'run');
    const result = await runCheck(options(seed, { dataDir }));
    t.is(result.verdict, Verdict.Linearizable, `seed ${seed}`);
    t.is(result.dataDir, dataDir);
    t.true(existsSync(path.join(dataDir, 'node-1', 'node.log')));
    t.true(existsSync(path.join(dataDir, KEPT_HISTORY_FILE)));
    t.deepEqual(readdirSync(scratch), ['chosen'], 'no scratch directory besides');

    const used = path.join(scratch, 'used');
    mkdirSync(used);
    writeFileSync(path.join(used, 'something'), 'x');
    const error = await t.throwsAsync(runCheck(options(seed, { dataDir: used })), { instanceOf: CheckError });
    t.is(error?.code, CheckErrorCode.DataDirNotUsable);
    t.regex(error?.message ?? '', /is not empty/);
    t.deepEqual(readdirSync(used), ['something'], 'left as it was');
  });
});
