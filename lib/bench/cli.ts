// `raftlab bench`: parse, run, print the table and chart, write the JSON.
// Exit codes: 0 a run whose acknowledged writes all read back (errors, if any, are
// printed loudly); 1 acknowledged writes missing or nothing acknowledged; 2 bad usage;
// 3 the report was printed but the --json file could not be written.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CATCH_UP_USAGE, formatCatchUp, parseCatchUpArgs, runCatchUp } from './catch-up.js';
import type { CatchUpOptions } from './catch-up.js';
import { formatComparison, otherCliPath, parseAgainstArgs, runComparison } from './compare.js';
import type { AgainstArgs } from './compare.js';
import { BENCH_USAGE, BenchUsageError, parseBenchArgs, rejectRepeatedOptions } from './options.js';
import type { BenchOptions } from './options.js';
import { formatProfiles, runProfiled, summarizeProfileDir } from './profile.js';
import { formatReport } from './report.js';
import { laterPhases, runBench } from './run.js';
import type { BenchReport } from './run.js';
import { makeDirectories, whyNotWritable } from '../output-file.js';

const CLI_URL = new URL('../cli.js', import.meta.url);

export const BenchExitCode = {
  Ok: 0,
  /** Acknowledged writes missing, or nothing acknowledged; with --catch-up: the follower did not catch up. */
  WritesLost: 1,
  Usage: 2,
  /** The results were printed, but the --json file could not be written. */
  JsonNotWritten: 3,
} as const;

export function benchExitCode(report: BenchReport): number {
  // Every window: the half-peak and load-curve ones read back their own writes too.
  const windows = report.results.flatMap((result) => [result, ...laterPhases(result).map(({ phase }) => phase)]);
  const nothingAcknowledged = windows.some((phase) => phase.writesAckedTotal === 0);
  const unverified = windows.some((phase) => phase.verify.readErrors > 0);
  return report.writesMissing > 0 || nothingAcknowledged || unverified ? BenchExitCode.WritesLost : BenchExitCode.Ok;
}

/** A usage error unless `file` (from --json) can be written. */
function checkJsonFile(file: string | null): void {
  const problem = file === null ? null : whyNotWritable(file);
  if (problem !== null) throw new BenchUsageError(`--json ${file}: cannot write there: ${problem}`);
}

/** A usage error unless `dir` (from --data-dir) is a directory, or can be made: a wrong path is said as one, not a stack trace. */
function checkDataDir(dir: string | null): void {
  if (dir === null) return;
  try {
    makeDirectories(dir);
  } catch (error) {
    throw new BenchUsageError(`--data-dir ${dir}: cannot make that directory: ${(error as Error).message}`);
  }
}

/** Writes a report's JSON after it was printed; if that fails, says so (exit 3) rather than lose the exit code's meaning. */
function writeJson(file: string | null, report: unknown, exitCode: number): number {
  if (file === null) return exitCode;
  try {
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  } catch (error) {
    process.stderr.write(`raftlab bench: the results above were not written to ${file}: ${error instanceof Error ? error.message : String(error)}\n`);
    return BenchExitCode.JsonNotWritten;
  }
  process.stdout.write(`wrote ${file}\n`);
  return exitCode;
}

/** A BenchUsageError said with the usage text (exit 2); anything else is not a usage error and is thrown on. */
function usageError(error: unknown, usage: string): number {
  if (!(error instanceof BenchUsageError)) throw error;
  process.stderr.write(`raftlab bench: ${error.message}\n${usage}\n`);
  return BenchExitCode.Usage;
}

export async function runBenchCli(argv: readonly string[]): Promise<number> {
  if (argv.includes('--catch-up')) return runCatchUpCli(argv);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(BENCH_USAGE + '\n');
    return BenchExitCode.Ok;
  }
  let against: AgainstArgs | null;
  try {
    // Before --against takes its options out of argv: a second --json would reach every run.
    rejectRepeatedOptions(argv);
    against = parseAgainstArgs(argv);
    // Check the arguments every run will get, and the other build, before starting any.
    if (against !== null) {
      checkDataDir(parseBenchArgs(against.benchArgs).dataParent);
      otherCliPath(against.otherRoot);
      checkJsonFile(against.jsonPath);
    }
  } catch (error) {
    return usageError(error, BENCH_USAGE);
  }
  if (against !== null) return runAgainst(against);
  // --cpu-prof DIR: re-run under `node --cpu-prof` and summarise every thread's profile.
  const profileAt = argv.indexOf('--cpu-prof');
  if (profileAt !== -1) {
    const dir = argv[profileAt + 1];
    if (dir === undefined || dir.startsWith('--')) {
      process.stderr.write(`raftlab bench: --cpu-prof needs a directory\n${BENCH_USAGE}\n`);
      return BenchExitCode.Usage;
    }
    // Made (or found) before the run starts: a wrong path is said as one, not a stack trace.
    try {
      makeDirectories(dir);
    } catch (error) {
      process.stderr.write(`raftlab bench: --cpu-prof ${dir}: cannot make that directory: ${(error as Error).message}\n${BENCH_USAGE}\n`);
      return BenchExitCode.Usage;
    }
    const rest = [...argv.slice(0, profileAt), ...argv.slice(profileAt + 2)];
    return runProfiled(fileURLToPath(CLI_URL), rest, dir);
  }
  const summaryAt = argv.indexOf('--profile-summary');
  if (summaryAt !== -1) {
    const dir = argv[summaryAt + 1];
    if (dir === undefined || dir.startsWith('--')) {
      process.stderr.write(`raftlab bench: --profile-summary needs a directory\n${BENCH_USAGE}\n`);
      return BenchExitCode.Usage;
    }
    let summary: string;
    try {
      summary = formatProfiles(summarizeProfileDir(dir));
    } catch (error) {
      process.stderr.write(`raftlab bench: cannot summarise the profiles in ${dir}: ${error instanceof Error ? error.message : String(error)}\n`);
      return BenchExitCode.Usage;
    }
    process.stdout.write(summary + '\n');
    return BenchExitCode.Ok;
  }
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv);
    checkJsonFile(options.jsonPath);
    checkDataDir(options.dataParent);
  } catch (error) {
    return usageError(error, BENCH_USAGE);
  }
  const tty = process.stderr.isTTY;
  let progressShown = false;
  const clearProgress = (): void => {
    if (progressShown) process.stderr.write('\r\x1b[2K');
    progressShown = false;
  };
  const report = await runBench(options, {
    progress: tty
      ? (line) => {
          process.stderr.write(`\r\x1b[2K${line}`);
          progressShown = true;
        }
      : () => undefined,
    note: (line) => {
      clearProgress();
      process.stderr.write(`${line}\n`);
    },
  }, ['raftlab', 'bench', ...argv].join(' '));
  clearProgress();
  process.stdout.write(formatReport(report) + '\n');
  return writeJson(options.jsonPath, report, benchExitCode(report));
}

/** `--catch-up`: a follower restarted under load with a large state (lib/bench/catch-up.ts). */
async function runCatchUpCli(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(CATCH_UP_USAGE + '\n');
    return BenchExitCode.Ok;
  }
  let options: CatchUpOptions;
  try {
    rejectRepeatedOptions(argv);
    options = parseCatchUpArgs(argv);
    checkDataDir(options.dataParent);
  } catch (error) {
    return usageError(error, CATCH_UP_USAGE);
  }
  const report = await runCatchUp(options, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(formatCatchUp(report) + '\n');
  return report.caughtUp ? BenchExitCode.Ok : BenchExitCode.WritesLost;
}

/** `--against DIR`: this build and the other take turns (lib/bench/compare.ts). */
async function runAgainst(args: AgainstArgs): Promise<number> {
  const report = await runComparison(fileURLToPath(CLI_URL), args, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(formatComparison(report) + '\n');
  return writeJson(args.jsonPath, report, report.failures.length === 0 ? BenchExitCode.Ok : BenchExitCode.WritesLost);
}
