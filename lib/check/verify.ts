// One verdict for a history: the linearizability search plus the append checks, and the
// report `raftlab verify` and `raftlab check` print.

import { assertNever } from '../raft/assert.js';
import { checkAppends, type AppendCheckResult } from './append-checks.js';
import { EventType, isNemesisEvent, OperationStatus, OpFunction, type History, type NemesisEvent, type Operation } from './history.js';
import { checkLinearizability, Verdict, type LinearizabilityResult, type SearchBudget } from './linearizability.js';

export interface VerifyReport {
  /** not-linearizable if either check found an anomaly; else the search's verdict. */
  readonly verdict: Verdict;
  readonly history: History;
  readonly linearizability: LinearizabilityResult;
  readonly appends: AppendCheckResult;
}

export function verifyHistory(history: History, budget: Partial<SearchBudget> = {}): VerifyReport {
  const linearizability = checkLinearizability(history.operations, budget);
  const appends = checkAppends(history.operations, history.limits);
  // Every append anomaly is a linearizability violation too; it settles the verdict even
  // when the search ran out of budget.
  const verdict = appends.anomalies.length > 0 ? Verdict.NotLinearizable : linearizability.verdict;
  return { verdict, history, linearizability, appends };
}

export const VerifyExitCode = {
  Linearizable: 0,
  NotLinearizable: 1,
  Unknown: 2,
  UnreadableInput: 3,
} as const;
export type VerifyExitCode = (typeof VerifyExitCode)[keyof typeof VerifyExitCode];

export function exitCodeOf(verdict: Verdict): VerifyExitCode {
  switch (verdict) {
    case Verdict.Linearizable:
      return VerifyExitCode.Linearizable;
    case Verdict.NotLinearizable:
      return VerifyExitCode.NotLinearizable;
    case Verdict.Unknown:
      return VerifyExitCode.Unknown;
    default:
      return assertNever(verdict, 'verdict');
  }
}

/** Rows of the per-key table before it is summarised. */
const maxKeyRowsShown = 40;

function pad(text: string | number, width: number): string {
  return String(text).padStart(width);
}

/** Operations by function and outcome, from the raw events (fails are not operations). */
export function formatOutcomeTable(history: History): string {
  const functions = Object.values(OpFunction);
  const rows = new Map(functions.map((f) => [f, { ok: 0, fail: 0, info: 0 }]));
  for (const event of history.events) {
    if (isNemesisEvent(event)) continue;
    const row = rows.get(event.f);
    if (row === undefined) continue;
    if (event.type === EventType.Ok) row.ok++;
    else if (event.type === EventType.Fail) row.fail++;
  }
  for (const operation of history.operations) {
    if (operation.status === OperationStatus.Info) rows.get(operation.f)!.info++;
  }
  const lines = [`  ${'function'.padEnd(8)} ${pad('ok', 7)} ${pad('fail', 7)} ${pad('info', 7)}`];
  for (const f of functions) {
    const row = rows.get(f)!;
    if (row.ok + row.fail + row.info === 0) continue;
    lines.push(`  ${f.padEnd(8)} ${pad(row.ok, 7)} ${pad(row.fail, 7)} ${pad(row.info, 7)}`);
  }
  return lines.join('\n');
}

/** Nemesis events this close before the first or after the last operation of an anomaly are shown with it. */
export const nemesisNearMs = 5_000;
/** The most nemesis events shown beside one anomaly (the ones nearest its operations). */
const nemesisShownPerAnomaly = 12;
/** A nemesis event's value is cut to this many characters of JSON in a report. */
const nemesisValueShownChars = 160;

/** "4 partition, 4 heal, 2 crash": the nemesis events by action, most frequent first; null if none. */
export function formatNemesisCounts(nemesis: readonly NemesisEvent[]): string | null {
  if (nemesis.length === 0) return null;
  const counts = new Map<string, number>();
  for (const event of nemesis) counts.set(event.f, (counts.get(event.f) ?? 0) + 1);
  const parts = [...counts].sort((a, b) => b[1] - a[1]).map(([f, count]) => `${count} ${f}`);
  return `nemesis: ${nemesis.length} events (${parts.join(', ')})`;
}

export function describeNemesisEvent(event: NemesisEvent): string {
  const value = JSON.stringify(event.value);
  const shown = value.length > nemesisValueShownChars ? `${value.slice(0, nemesisValueShownChars - 3)}...` : value;
  return `${(event.time / 1000).toFixed(3)} s  ${event.f}${event.value === null ? '' : ` ${shown}`}`;
}

export interface NemesisNear {
  /** The span of the anomaly's operations, in the history's ms: first call to last known return. */
  readonly fromMs: number;
  readonly toMs: number;
  /** The nemesis events from nemesisNearMs before that span to nemesisNearMs after it (the nearest nemesisShownPerAnomaly). */
  readonly events: readonly NemesisEvent[];
  /** How many more were in that window and are not shown. */
  readonly notShown: number;
  /** When none is in the window: the last one before it, if any (a fault may be held for a long while). */
  readonly lastBefore: NemesisEvent | null;
}

/** The nemesis events around `operations` (an anomaly's), or null when there are none to show. */
export function nemesisNear(nemesis: readonly NemesisEvent[], operations: readonly Operation[]): NemesisNear | null {
  if (nemesis.length === 0 || operations.length === 0) return null;
  let fromMs = Infinity;
  let toMs = -Infinity;
  for (const operation of operations) {
    fromMs = Math.min(fromMs, operation.call);
    // An operation of unknown outcome never returns: its call bounds the span instead.
    toMs = Math.max(toMs, Number.isFinite(operation.return) ? operation.return : operation.call);
  }
  const inWindow = nemesis.filter((event) => event.time >= fromMs - nemesisNearMs && event.time <= toMs + nemesisNearMs);
  const distance = (event: NemesisEvent): number => (event.time < fromMs ? fromMs - event.time : event.time > toMs ? event.time - toMs : 0);
  const shown = new Set([...inWindow].sort((a, b) => distance(a) - distance(b)).slice(0, nemesisShownPerAnomaly));
  const lastBefore = inWindow.length > 0 ? null : ([...nemesis].reverse().find((event) => event.time < fromMs) ?? null);
  return { fromMs, toMs, events: inWindow.filter((event) => shown.has(event)), notShown: inWindow.length - shown.size, lastBefore };
}

function formatNemesisNear(near: NemesisNear): string {
  const span = `${(near.fromMs / 1000).toFixed(3)} s to ${(near.toMs / 1000).toFixed(3)} s`;
  if (near.events.length === 0) {
    return near.lastBefore === null
      ? `nemesis near it (its operations ran ${span}): none within ${nemesisNearMs / 1000} s, none before`
      : `nemesis near it (its operations ran ${span}): none within ${nemesisNearMs / 1000} s; the last before: ${describeNemesisEvent(near.lastBefore)}`;
  }
  return [
    `nemesis within ${nemesisNearMs / 1000} s of it (its operations ran ${span}):`,
    ...near.events.map((event) => `  ${describeNemesisEvent(event)}`),
    ...(near.notShown > 0 ? [`  ... and ${near.notShown} more`] : []),
  ].join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

export function formatReport(report: VerifyReport): string {
  const { history, linearizability, appends } = report;
  const { counts } = history;
  const out: string[] = [];
  out.push(
    `history: ${history.events.length} events, ${history.operations.length} operations ` +
      `(ok ${counts.ok}, info ${counts.info + counts.neverCompleted}` +
      (counts.neverCompleted > 0 ? ` of which ${counts.neverCompleted} never completed` : '') +
      `; ${counts.fail} failed, left out)`,
  );
  out.push(formatOutcomeTable(history));
  const nemesisCounts = formatNemesisCounts(history.nemesis);
  if (nemesisCounts !== null) out.push(nemesisCounts);

  out.push(`linearizability: ${linearizability.perKey.length} keys searched in ${linearizability.elapsedMs} ms`);
  const verdictRank = (verdict: Verdict): number => (verdict === Verdict.NotLinearizable ? 0 : verdict === Verdict.Unknown ? 1 : 2);
  const rows = [...linearizability.perKey].sort((a, b) => verdictRank(a.verdict) - verdictRank(b.verdict));
  const keyWidth = Math.max(3, ...rows.slice(0, maxKeyRowsShown).map((row) => JSON.stringify(row.key).length));
  out.push(`  ${'key'.padEnd(keyWidth)} ${pad('ops', 6)} ${pad('ok', 6)} ${pad('info', 6)} ${pad('steps', 10)} ${pad('ms', 6)}  verdict`);
  for (const row of rows.slice(0, maxKeyRowsShown)) {
    out.push(
      `  ${JSON.stringify(row.key).padEnd(keyWidth)} ${pad(row.operations, 6)} ${pad(row.ok, 6)} ${pad(row.info, 6)} ` +
        `${pad(row.steps, 10)} ${pad(row.elapsedMs, 6)}  ${row.verdict}`,
    );
  }
  if (rows.length > maxKeyRowsShown) {
    const rest = rows.slice(maxKeyRowsShown);
    out.push(`  ... ${rest.length} more keys, all ${rest.every((row) => row.verdict === Verdict.Linearizable) ? 'linearizable' : 'searched'}`);
  }
  for (const row of rows) {
    if (row.verdict === Verdict.Unknown) out.push(`  key ${JSON.stringify(row.key)}: search budget exceeded after ${row.steps} steps: verdict unknown`);
  }

  if (appends.keysChecked.length > 0 || appends.keysSkipped.length > 0) {
    out.push(
      `append checks: ${appends.keysChecked.length} keys checked, ${appends.anomalies.length} anomalies` +
        (history.limits?.maxValueBytes == null
          ? '; list sizes not checked (the history records no maxValueBytes)'
          : `; lists bounded by maxValueBytes ${history.limits.maxValueBytes.toLocaleString('en-US')} (the history's header)`) +
        (appends.keysSkipped.length > 0 ? `; skipped ${appends.keysSkipped.map((skip) => `${JSON.stringify(skip.key)} (${skip.reason})`).join(', ')}` : ''),
    );
  }

  const anomalyCount = linearizability.anomalies.length + appends.anomalies.length;
  if (anomalyCount > 0) {
    out.push(`anomalies (${anomalyCount}):`);
    const nearIt = (operations: readonly Operation[]): string[] => {
      const near = nemesisNear(history.nemesis, operations);
      return near === null ? [] : [indent(formatNemesisNear(near))];
    };
    for (const anomaly of linearizability.anomalies) {
      out.push(`  [not linearizable] key ${JSON.stringify(anomaly.key)}:`, indent(anomaly.explanation), ...nearIt(anomaly.operations));
    }
    for (const anomaly of appends.anomalies) {
      out.push(`  [${anomaly.kind}] key ${JSON.stringify(anomaly.key)}:`, indent(anomaly.explanation), ...nearIt(anomaly.operations));
    }
  }
  out.push(`verdict: ${report.verdict}`);
  return out.join('\n');
}
