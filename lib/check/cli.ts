// `raftlab verify HISTORY.json` and `raftlab check ...`: argument parsing and output;
// the work is in verify.ts and run.ts.

import { HistoryError, HistoryErrorCode, readHistoryFile, type History } from './history.js';
import { defaultSearchBudget, type SearchBudget } from './linearizability.js';
import {
  allNemesisKinds,
  applicableNemesisKinds,
  checkDefaults,
  formatCheckSummary,
  KEPT_HISTORY_FILE,
  runCheck,
  whyDataDirNotUsable,
  whyNemesisNotApplicable,
  Workload,
  type CheckRunOptions,
  type NemesisKind,
} from './run.js';
import { exitCodeOf, formatReport, verifyHistory, VerifyExitCode } from './verify.js';
import { MIN_SEGMENT_BYTES } from '../storage/types.js';
import { makeDirectories, whyNotWritable } from '../output-file.js';

const verifyUsage = `usage: raftlab verify [--budget-ms MS] [--max-steps N] HISTORY.json
  exit 0 linearizable, 1 not linearizable, 2 unknown (search budget exceeded), 3 unreadable input
  --budget-ms MS   wall-clock budget for the whole search (default ${defaultSearchBudget.timeMs})
  --max-steps N    search steps allowed per key (default ${defaultSearchBudget.maxStepsPerKey})`;

type VerifyArguments = { readonly ok: true; readonly file: string; readonly budget: Partial<SearchBudget> } | { readonly ok: false; readonly reason: string };

/**
 * An option's value, or why there is none: the next argument, unless the list ends or it
 * is another option (`--history --nodes 3` must not write a file named "--nodes").
 */
function optionValue(text: string | undefined): string | null {
  return text === undefined || text.startsWith('--') ? null : text;
}

/** Why an argument that is no known option was refused; `--nodes=3` is told how to write it. */
function unknownOption(arg: string): string {
  const equals = arg.indexOf('=');
  if (arg.startsWith('--') && equals > 0) return `unknown option ${arg} (an option's value is the next argument: ${arg.slice(0, equals)} ${arg.slice(equals + 1)})`;
  return `unknown option ${arg}`;
}

/** A whole number written in decimal digits (no 1e3, 0x10, 3.5 or blank), from min to max. */
function parseInteger(flag: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | string {
  const value = optionValue(text);
  if (value === null) return `${flag} needs a value`;
  const number = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < min || number > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    return `${flag} needs an integer ${range}, got ${JSON.stringify(value)}`;
  }
  return number;
}

/** The first option given twice (the second would silently win), or null. */
function repeatedOption(argv: readonly string[]): string | null {
  const seen = new Set<string>();
  for (const arg of argv) {
    if (!arg.startsWith('--')) continue;
    if (seen.has(arg)) return `${arg} given twice`;
    seen.add(arg);
  }
  return null;
}

function parseVerifyArguments(argv: readonly string[]): VerifyArguments {
  let file: string | null = null;
  const budget: { timeMs?: number; maxStepsPerKey?: number } = {};
  const repeated = repeatedOption(argv);
  if (repeated !== null) return { ok: false, reason: repeated };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--budget-ms' || arg === '--max-steps') {
      const value = parseInteger(arg, argv[++i], 1);
      if (typeof value === 'string') return { ok: false, reason: value };
      if (arg === '--budget-ms') budget.timeMs = value;
      else budget.maxStepsPerKey = value;
    } else if (arg.startsWith('-')) {
      return { ok: false, reason: unknownOption(arg) };
    } else if (file === null) {
      file = arg;
    } else {
      return { ok: false, reason: `one history file only, got ${JSON.stringify(file)} and ${JSON.stringify(arg)}` };
    }
  }
  if (file === null) return { ok: false, reason: 'no history file given' };
  return { ok: true, file, budget };
}

export async function runVerifyCli(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${verifyUsage}\n`);
    return VerifyExitCode.Linearizable;
  }
  const parsed = parseVerifyArguments(argv);
  if (!parsed.ok) {
    process.stderr.write(`raftlab verify: ${parsed.reason}\n${verifyUsage}\n`);
    return VerifyExitCode.UnreadableInput;
  }
  let history: History;
  try {
    // In chunks, event by event: a history file of any size (check writes them so).
    history = await readHistoryFile(parsed.file);
  } catch (error) {
    if (error instanceof HistoryError) {
      const what = error.code === HistoryErrorCode.TooLarge ? 'cannot read' : 'is not a valid history';
      process.stderr.write(`raftlab verify: ${parsed.file} ${what} (${error.code}): ${error.message}\n`);
    } else {
      process.stderr.write(`raftlab verify: cannot read ${parsed.file}: ${error instanceof Error ? error.message : String(error)}\n`);
    }
    return VerifyExitCode.UnreadableInput;
  }
  const report = verifyHistory(history, parsed.budget);
  process.stdout.write(`${parsed.file}\n${formatReport(report)}\n`);
  return exitCodeOf(report.verdict);
}

/**
 * Bounds of check's numbers: the cluster's own limits (Cluster.start refuses more), and
 * for anything that ends up in a timer, less than setTimeout's 2^31-1 ms (beyond, Node
 * warns and fires the timer at once: a 99999999 s run lasted half a second).
 */
const checkLimits = {
  maxNodes: 9,
  /** As `raftlab bench --duration`. */
  maxDurationS: 3600,
  /** Client processes at once (each with its own connections). */
  maxClients: 1000,
  /** Cluster.start's limit. */
  maxTickMs: 60_000,
  maxOperationTimeoutMs: 3_600_000,
  /** Cluster.start's limit (a chunk is one message between workers). */
  maxSnapshotChunkBytes: 64 << 20,
  /** A WAL segment's offsets are 32-bit (lib/storage). */
  maxSegmentBytes: 0x7fffffff,
  /** The seeds check draws itself are below this; the generators use 32 bits of a seed. */
  maxSeed: 0x7fffffff,
} as const;

/** check's integer options: [min, max]. */
const integerOptions = {
  '--nodes': [1, checkLimits.maxNodes],
  '--duration': [1, checkLimits.maxDurationS],
  '--clients': [1, checkLimits.maxClients],
  '--tick-ms': [1, checkLimits.maxTickMs],
  '--timeout-ms': [1, checkLimits.maxOperationTimeoutMs],
  '--snapshot-entries': [1, Number.MAX_SAFE_INTEGER],
  '--snapshot-chunk-bytes': [1, checkLimits.maxSnapshotChunkBytes],
  '--segment-bytes': [MIN_SEGMENT_BYTES, checkLimits.maxSegmentBytes],
  '--seed': [0, checkLimits.maxSeed],
} as const satisfies Record<string, readonly [number, number]>;
type IntegerOption = keyof typeof integerOptions;

function isIntegerOption(flag: string): flag is IntegerOption {
  return Object.hasOwn(integerOptions, flag);
}

/** Exit codes of `raftlab check`: a verdict's (verify.ts) and these. */
export const CheckExitCode = {
  /** Bad arguments, or a --history file that cannot be written (refused before the run). */
  BadInput: VerifyExitCode.UnreadableInput,
  /** The run finished and its verdict was printed, but its history could not be written. */
  HistoryNotWritten: 4,
} as const;

const checkUsage = `usage: raftlab check [--nodes ${checkDefaults.nodes}] [--duration ${checkDefaults.durationS}] [--clients ${checkDefaults.clients}] [--workload register|append]
                     [--nemesis ${allNemesisKinds.join(',')} | all | none] [--seed S] [--history FILE]
                     [--keep-data] [--data DIR] [--tick-ms MS] [--timeout-ms MS] [--snapshot-entries N] [--snapshot-chunk-bytes B] [--segment-bytes B]
  --nodes N        cluster size, 1-${checkLimits.maxNodes} (default ${checkDefaults.nodes})
  --duration S     seconds of clients and faults, 1-${checkLimits.maxDurationS} (default ${checkDefaults.durationS})
  --clients N      concurrent client processes, 1-${checkLimits.maxClients} (default ${checkDefaults.clients})
  --workload W     register (get, put, cas) or append (append, get) (default ${checkDefaults.workload})
  --nemesis K,...  the faults to draw from (default all: those that can act on the cluster's size;
                   on 1 node only crash and lose, the others need 2 nodes)
  --seed S         replays a run's schedule of operations and faults, 0-${checkLimits.maxSeed} (default random, printed)
  --history FILE   write the recorded history there (checked to be writable before the run)
  --keep-data      keep the cluster's files (each node's WAL and node.log) after a passing run too;
                   a run that fails or ends in an error always keeps them, and prints where
  --data DIR       put the cluster's files in DIR (made if missing, must be empty) and keep them
                   (a kept directory also gets the history as ${KEPT_HISTORY_FILE} unless --history is given)
  --tick-ms MS     Raft tick of the cluster, 1-${checkLimits.maxTickMs} (slower timers widen the window a deposed leader has)
  --timeout-ms MS  deadline of one client call, 1-${checkLimits.maxOperationTimeoutMs} (default ${checkDefaults.operationTimeoutMs})
  --snapshot-entries N  each node compacts its log every N applied entries (small N: InstallSnapshot under faults)
  --snapshot-chunk-bytes B  InstallSnapshot chunk size, at most ${checkLimits.maxSnapshotChunkBytes} (small B: snapshots go in many chunks under faults)
  --segment-bytes B     each node's WAL segment size, at least ${MIN_SEGMENT_BYTES} (small B: segments roll, into ones prepared ahead, under faults)
  runs a real cluster (fsync on) under concurrent clients and faults, records the history,
  checks it; exit 0 pass, 1 anomaly found, 2 unknown (search budget exceeded), 3 bad arguments,
  4 the history could not be written at the end (the verdict is printed first)`;

type CheckArguments =
  | { readonly ok: true; readonly options: CheckRunOptions; readonly nemesisLeftOut: readonly NemesisKind[] }
  | { readonly ok: false; readonly reason: string };

function parseCheckArguments(argv: readonly string[]): CheckArguments {
  const integers: Partial<Record<IntegerOption, number>> = {};
  let workload: Workload = checkDefaults.workload;
  let nemesis: readonly NemesisKind[] = allNemesisKinds;
  /** `all` (the default) takes the kinds that apply to the cluster's size; named ones must all apply. */
  let nemesisAll = true;
  let historyFile: string | null = null;
  let dataDir: string | null = null;
  let keepData = false;
  const workloads: readonly string[] = Object.values(Workload);
  const repeated = repeatedOption(argv);
  if (repeated !== null) return { ok: false, reason: repeated };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (isIntegerOption(flag)) {
      const [min, max] = integerOptions[flag];
      const parsed = parseInteger(flag, argv[++i], min, max);
      if (typeof parsed === 'string') return { ok: false, reason: parsed };
      integers[flag] = parsed;
      continue;
    }
    if (flag === '--keep-data') {
      keepData = true;
      continue;
    }
    if (flag !== '--workload' && flag !== '--nemesis' && flag !== '--history' && flag !== '--data') return { ok: false, reason: unknownOption(flag) };
    const value = optionValue(argv[++i]);
    if (value === null) return { ok: false, reason: `${flag} needs a value` };
    if (flag === '--workload') {
      if (!workloads.includes(value)) return { ok: false, reason: `--workload must be ${workloads.join(' or ')}, got ${JSON.stringify(value)}` };
      workload = value as Workload;
    } else if (flag === '--nemesis') {
      if (value === 'all' || value === 'none') {
        nemesis = value === 'all' ? allNemesisKinds : [];
        nemesisAll = value === 'all';
        continue;
      }
      const kinds = value.split(',');
      if (kinds.every((kind) => kind === '')) return { ok: false, reason: `--nemesis needs at least one kind (or all, or none), got ${JSON.stringify(value)}` };
      // A list is of kinds, each once: 'crash,' or 'crash,crash' is a typo, not a schedule.
      if (kinds.includes('')) return { ok: false, reason: `--nemesis has an empty kind in ${JSON.stringify(value)}` };
      const alone = kinds.find((kind) => kind === 'all' || kind === 'none');
      if (alone !== undefined) return { ok: false, reason: `--nemesis ${alone} stands alone, not in a list: got ${JSON.stringify(value)}` };
      const unknown = kinds.find((kind) => !(allNemesisKinds as readonly string[]).includes(kind));
      if (unknown !== undefined) return { ok: false, reason: `unknown nemesis ${JSON.stringify(unknown)}; known: ${allNemesisKinds.join(', ')}` };
      const repeated = kinds.find((kind, at) => kinds.indexOf(kind) !== at);
      if (repeated !== undefined) return { ok: false, reason: `--nemesis names ${repeated} twice in ${JSON.stringify(value)}` };
      nemesis = kinds as NemesisKind[];
      nemesisAll = false;
    } else if (flag === '--data') {
      dataDir = value;
    } else {
      historyFile = value;
    }
  }
  const nodes = integers['--nodes'] ?? checkDefaults.nodes;
  let nemesisLeftOut: readonly NemesisKind[] = [];
  if (nemesisAll) {
    ({ applicable: nemesis, notApplicable: nemesisLeftOut } = applicableNemesisKinds(nemesis, nodes));
  } else {
    const whyNot = whyNemesisNotApplicable(nemesis, nodes);
    if (whyNot !== null) return { ok: false, reason: `--nemesis ${nemesis.join(',')} cannot act on --nodes ${nodes}: ${whyNot}` };
  }
  const { '--tick-ms': tickMs, '--timeout-ms': operationTimeoutMs, '--snapshot-entries': snapshotEntries, '--segment-bytes': segmentBytes, '--snapshot-chunk-bytes': snapshotChunkBytes } = integers;
  return {
    ok: true,
    nemesisLeftOut,
    options: {
      nodes,
      durationMs: (integers['--duration'] ?? checkDefaults.durationS) * 1000,
      clients: integers['--clients'] ?? checkDefaults.clients,
      workload,
      nemesis,
      ...(nemesisLeftOut.length === 0 ? {} : { nemesisLeftOut }),
      seed: integers['--seed'] ?? Math.floor(Math.random() * checkLimits.maxSeed),
      historyFile,
      ...(dataDir === null ? {} : { dataDir }),
      ...(keepData ? { keepData } : {}),
      ...(tickMs === undefined ? {} : { tickMs }),
      ...(operationTimeoutMs === undefined ? {} : { operationTimeoutMs }),
      ...(snapshotEntries === undefined ? {} : { snapshotEntries }),
      ...(segmentBytes === undefined ? {} : { segmentBytes }),
      ...(snapshotChunkBytes === undefined ? {} : { snapshotChunkBytes }),
    },
  };
}

export async function runCheckCli(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${checkUsage}\n`);
    return VerifyExitCode.Linearizable;
  }
  const parsed = parseCheckArguments(argv);
  if (!parsed.ok) {
    process.stderr.write(`raftlab check: ${parsed.reason}\n${checkUsage}\n`);
    return CheckExitCode.BadInput;
  }
  const { options } = parsed;
  // Refused now rather than found out after the whole run.
  const unwritable = options.historyFile === null ? null : whyNotWritable(options.historyFile);
  if (unwritable !== null) {
    process.stderr.write(`raftlab check: cannot write the history to ${options.historyFile}: ${unwritable}\n`);
    return CheckExitCode.BadInput;
  }
  const unusable = options.dataDir == null ? null : whyDataDirNotUsable(options.dataDir);
  if (unusable !== null) {
    process.stderr.write(`raftlab check: cannot put the cluster in ${options.dataDir}: ${unusable}\n`);
    return CheckExitCode.BadInput;
  }
  // Made now, the last check before the run: a directory that cannot be made (under a file,
  // under /proc, not permitted) ended the run with a stack trace, exit 1 (an anomaly's code).
  if (options.dataDir != null) {
    try {
      makeDirectories(options.dataDir);
    } catch (error) {
      process.stderr.write(`raftlab check: cannot put the cluster in ${options.dataDir}: cannot make that directory: ${error instanceof Error ? error.message : String(error)}\n`);
      return CheckExitCode.BadInput;
    }
  }
  process.stderr.write(`raftlab check: seed ${options.seed}\n`);
  if (parsed.nemesisLeftOut.length > 0) {
    process.stderr.write(
      `raftlab check: nemesis all on ${options.nodes} node${options.nodes === 1 ? '' : 's'}: leaving out ${parsed.nemesisLeftOut.join(', ')} ` +
        `(they cannot act on a cluster this small); using ${options.nemesis.length > 0 ? options.nemesis.join(', ') : 'none'}\n`,
    );
  }
  const result = await runCheck({ ...options, log: (line) => process.stderr.write(`  ${line}\n`) });
  process.stdout.write(`${formatCheckSummary(result)}\n`);
  if (result.dataDir !== null) {
    const why = options.dataDir != null ? '--data' : options.keepData === true ? '--keep-data' : 'the run did not pass';
    process.stdout.write(`data kept in ${result.dataDir} (${why}): each node's WAL and node.log in node-<id>/\n`);
  }
  if (result.historyError !== null) {
    process.stderr.write(`raftlab check: the history was not written to ${result.historyFile}: ${result.historyError}\n`);
    return CheckExitCode.HistoryNotWritten;
  }
  if (result.historyFile !== null) process.stdout.write(`history written to ${result.historyFile}\n`);
  return exitCodeOf(result.verdict);
}
