// `raftlab verify HISTORY.json` and `raftlab check ...`: argument parsing and output;
// the work is in verify.ts and run.ts.

import { readFile } from 'node:fs/promises';
import { HistoryError, parseHistory } from './history.js';
import { defaultSearchBudget, type SearchBudget } from './linearizability.js';
import { allNemesisKinds, checkDefaults, formatCheckSummary, runCheck, Workload, type CheckRunOptions, type NemesisKind } from './run.js';
import { exitCodeOf, formatReport, verifyHistory, VerifyExitCode } from './verify.js';
import { MIN_SEGMENT_BYTES } from '../storage/types.js';

const verifyUsage = `usage: raftlab verify [--budget-ms MS] [--max-steps N] HISTORY.json
  exit 0 linearizable, 1 not linearizable, 2 unknown (search budget exceeded), 3 unreadable input
  --budget-ms MS   wall-clock budget for the whole search (default ${defaultSearchBudget.timeMs})
  --max-steps N    search steps allowed per key (default ${defaultSearchBudget.maxStepsPerKey})`;

type VerifyArguments = { readonly ok: true; readonly file: string; readonly budget: Partial<SearchBudget> } | { readonly ok: false; readonly reason: string };

function parsePositiveInteger(flag: string, text: string | undefined): number | string {
  const value = Number(text);
  if (text === undefined || !Number.isSafeInteger(value) || value <= 0) return `${flag} needs a positive integer, got ${JSON.stringify(text ?? null)}`;
  return value;
}

function parseVerifyArguments(argv: readonly string[]): VerifyArguments {
  let file: string | null = null;
  const budget: { timeMs?: number; maxStepsPerKey?: number } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--budget-ms' || arg === '--max-steps') {
      const value = parsePositiveInteger(arg, argv[++i]);
      if (typeof value === 'string') return { ok: false, reason: value };
      if (arg === '--budget-ms') budget.timeMs = value;
      else budget.maxStepsPerKey = value;
    } else if (arg.startsWith('-')) {
      return { ok: false, reason: `unknown option ${arg}` };
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
  let text: string;
  try {
    text = await readFile(parsed.file, 'utf8');
  } catch (error) {
    process.stderr.write(`raftlab verify: cannot read ${parsed.file}: ${error instanceof Error ? error.message : String(error)}\n`);
    return VerifyExitCode.UnreadableInput;
  }
  let history;
  try {
    history = parseHistory(text);
  } catch (error) {
    if (!(error instanceof HistoryError)) throw error;
    process.stderr.write(`raftlab verify: ${parsed.file} is not a valid history (${error.code}): ${error.message}\n`);
    return VerifyExitCode.UnreadableInput;
  }
  const report = verifyHistory(history, parsed.budget);
  process.stdout.write(`${parsed.file}\n${formatReport(report)}\n`);
  return exitCodeOf(report.verdict);
}

const checkUsage = `usage: raftlab check [--nodes ${checkDefaults.nodes}] [--duration ${checkDefaults.durationS}] [--clients ${checkDefaults.clients}] [--workload register|append]
                     [--nemesis ${allNemesisKinds.join(',')} | all | none] [--seed S] [--history FILE]
                     [--tick-ms MS] [--timeout-ms MS] [--snapshot-entries N] [--snapshot-chunk-bytes B] [--segment-bytes B]
  --tick-ms MS     Raft tick of the cluster (slower timers widen the window a deposed leader has)
  --snapshot-entries N  each node compacts its log every N applied entries (small N: InstallSnapshot under faults)
  --snapshot-chunk-bytes B  InstallSnapshot chunk size (small B: snapshots go in many chunks under faults)
  --segment-bytes B     each node's WAL segment size, at least ${MIN_SEGMENT_BYTES} (small B: segments roll, into ones prepared ahead, under faults)
  --timeout-ms MS  deadline of one client call (default ${checkDefaults.operationTimeoutMs})
  runs a real cluster (fsync on) under concurrent clients and faults, records the history,
  checks it; exit 0 pass, 1 anomaly found, 2 unknown (search budget exceeded), 3 bad arguments`;

type CheckArguments = { readonly ok: true; readonly options: CheckRunOptions } | { readonly ok: false; readonly reason: string };

function parseCheckArguments(argv: readonly string[]): CheckArguments {
  let nodes: number = checkDefaults.nodes;
  let durationS: number = checkDefaults.durationS;
  let clients: number = checkDefaults.clients;
  let workload: Workload = checkDefaults.workload;
  let nemesis: readonly NemesisKind[] = allNemesisKinds;
  let seed = Math.floor(Math.random() * 0x7fffffff);
  let historyFile: string | null = null;
  let tickMs: number | null = null;
  let operationTimeoutMs: number | null = null;
  let snapshotEntries: number | null = null;
  let segmentBytes: number | null = null;
  let snapshotChunkBytes: number | null = null;
  const workloads: readonly string[] = Object.values(Workload);
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    i++;
    const integer = (): number | string => parsePositiveInteger(flag, value);
    switch (flag) {
      case '--nodes':
      case '--duration':
      case '--clients':
      case '--tick-ms':
      case '--timeout-ms':
      case '--snapshot-entries':
      case '--snapshot-chunk-bytes':
      case '--segment-bytes':
      case '--seed': {
        const parsed = flag === '--seed' && value === '0' ? 0 : integer();
        if (typeof parsed === 'string') return { ok: false, reason: parsed };
        if (flag === '--nodes') nodes = parsed;
        else if (flag === '--duration') durationS = parsed;
        else if (flag === '--clients') clients = parsed;
        else if (flag === '--tick-ms') tickMs = parsed;
        else if (flag === '--timeout-ms') operationTimeoutMs = parsed;
        else if (flag === '--snapshot-entries') snapshotEntries = parsed;
        else if (flag === '--snapshot-chunk-bytes') snapshotChunkBytes = parsed;
        else if (flag === '--segment-bytes') {
          if (parsed < MIN_SEGMENT_BYTES) return { ok: false, reason: `--segment-bytes must be at least ${MIN_SEGMENT_BYTES}, got ${parsed}` };
          segmentBytes = parsed;
        }
        else seed = parsed;
        break;
      }
      case '--workload':
        if (value === undefined || !workloads.includes(value)) return { ok: false, reason: `--workload must be ${workloads.join(' or ')}, got ${JSON.stringify(value ?? null)}` };
        workload = value as Workload;
        break;
      case '--nemesis': {
        if (value === undefined) return { ok: false, reason: '--nemesis needs a list' };
        if (value === 'all' || value === 'none') {
          nemesis = value === 'all' ? allNemesisKinds : [];
          break;
        }
        const kinds = value.split(',').filter((kind) => kind !== '');
        const unknown = kinds.find((kind) => !(allNemesisKinds as readonly string[]).includes(kind));
        if (unknown !== undefined) return { ok: false, reason: `unknown nemesis ${JSON.stringify(unknown)}; known: ${allNemesisKinds.join(', ')}` };
        nemesis = kinds as NemesisKind[];
        break;
      }
      case '--history':
        if (value === undefined) return { ok: false, reason: '--history needs a file name' };
        historyFile = value;
        break;
      default:
        return { ok: false, reason: `unknown option ${flag}` };
    }
  }
  return {
    ok: true,
    options: {
      nodes,
      durationMs: durationS * 1000,
      clients,
      workload,
      nemesis,
      seed,
      historyFile,
      ...(tickMs === null ? {} : { tickMs }),
      ...(operationTimeoutMs === null ? {} : { operationTimeoutMs }),
      ...(snapshotEntries === null ? {} : { snapshotEntries }),
      ...(segmentBytes === null ? {} : { segmentBytes }),
      ...(snapshotChunkBytes === null ? {} : { snapshotChunkBytes }),
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
    return VerifyExitCode.UnreadableInput;
  }
  const { options } = parsed;
  process.stderr.write(`raftlab check: seed ${options.seed}\n`);
  const result = await runCheck({ ...options, log: (line) => process.stderr.write(`  ${line}\n`) });
  process.stdout.write(`${formatCheckSummary(result)}\n`);
  if (options.historyFile !== null) process.stdout.write(`history written to ${options.historyFile}\n`);
  return exitCodeOf(result.verdict);
}
