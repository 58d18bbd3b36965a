// `raftlab verify HISTORY.json` and `raftlab check ...`.

import { readFile } from 'node:fs/promises';
import { HistoryError, parseHistory } from './history.js';
import { defaultSearchBudget, type SearchBudget } from './linearizability.js';
import { exitCodeOf, formatReport, verifyHistory, VerifyExitCode } from './verify.js';

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

export async function runCheckCli(argv: readonly string[]): Promise<number> {
  void argv;
  process.stderr.write('raftlab check: not yet available (waiting for lib/cluster); use `raftlab verify HISTORY.json` meanwhile\n');
  return VerifyExitCode.Unknown;
}
