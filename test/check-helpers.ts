// Helpers for the checker tests: hand-written histories and seeded histories of a
// simulated correct store (linearizable by construction).

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonValue } from '../lib/cluster/types.js';
import { pairOperations, type EventType, type History, type HistoryEvent, type OpFunction } from '../lib/check/history.js';
import { createPrng } from '../lib/raft/prng.js';

/** The repository root, from dist/test/ where the compiled tests run. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export type Row = readonly [process: number, type: EventType, f: OpFunction, key: string, value: JsonValue];

/** Events from rows, time = position. */
export function events(rows: readonly Row[]): HistoryEvent[] {
  return rows.map(([process, type, f, key, value], time) => ({ process, type, f, key, value, time }));
}

export function history(rows: readonly Row[]): History {
  return pairOperations(events(rows));
}

export interface SimulationOptions {
  readonly seed: number;
  readonly operations: number;
  readonly clients: number;
  readonly registerKeys: number;
  readonly appendKeys: number;
  /** Probability that a completion is reported as info (the op may or may not have applied). */
  readonly infoRate: number;
  /** Probability that an invoke definitely fails (never applied). */
  readonly failRate: number;
}

interface Pending {
  readonly process: number;
  readonly f: OpFunction;
  readonly key: string;
  readonly input: JsonValue;
  applied: boolean;
  output: JsonValue;
}

/**
 * A history of a correct store: each operation takes effect atomically at a random moment
 * between its invoke and its completion, so the result is linearizable by construction.
 * Register keys see get/put/delete/cas, append keys see append/get.
 */
export function simulateHistory(options: SimulationOptions): HistoryEvent[] {
  const random = createPrng(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const registerKeys = Array.from({ length: options.registerKeys }, (_, i) => `r${i}`);
  const appendKeys = Array.from({ length: options.appendKeys }, (_, i) => `a${i}`);
  const store = new Map<string, JsonValue>();
  const written = new Map<string, JsonValue[]>();
  const out: HistoryEvent[] = [];
  const slots: (Pending | null)[] = Array.from({ length: options.clients }, () => null);
  const processOfSlot = Array.from({ length: options.clients }, (_, i) => i);
  let nextProcess = options.clients;
  let invoked = 0;
  let nextValue = 1;
  const record = (process: number, type: EventType, f: OpFunction, key: string, value: JsonValue): void => {
    out.push({ process, type, f, key, value, time: out.length });
  };
  const newOperation = (process: number): Pending => {
    const useAppend = appendKeys.length > 0 && (registerKeys.length === 0 || random() < 0.5);
    if (useAppend) {
      const key = pick(appendKeys);
      return random() < 0.5
        ? { process, f: 'append', key, input: `e${nextValue++}`, applied: false, output: null }
        : { process, f: 'get', key, input: null, applied: false, output: null };
    }
    const key = pick(registerKeys);
    const roll = random();
    if (roll < 0.4) return { process, f: 'get', key, input: null, applied: false, output: null };
    if (roll < 0.7) return { process, f: 'put', key, input: nextValue++, applied: false, output: null };
    if (roll < 0.75) return { process, f: 'delete', key, input: null, applied: false, output: null };
    const seen = written.get(key) ?? [null];
    const expected = random() < 0.5 ? (store.get(key) ?? null) : pick(seen);
    return { process, f: 'cas', key, input: [expected, nextValue++], applied: false, output: null };
  };
  const apply = (op: Pending): void => {
    const current = store.get(op.key) ?? null;
    switch (op.f) {
      case 'get':
        op.output = current;
        break;
      case 'put':
        store.set(op.key, op.input);
        written.set(op.key, [...(written.get(op.key) ?? []), op.input]);
        break;
      case 'delete':
        store.delete(op.key);
        break;
      case 'append':
        store.set(op.key, [...((current as JsonValue[] | null) ?? []), op.input]);
        break;
      case 'cas': {
        const [expected, next] = op.input as [JsonValue, JsonValue];
        op.output = JSON.stringify(current) === JSON.stringify(expected);
        if (op.output) {
          store.set(op.key, next);
          written.set(op.key, [...(written.get(op.key) ?? []), next]);
        }
        break;
      }
    }
    op.applied = true;
  };
  while (invoked < options.operations || slots.some((slot) => slot !== null)) {
    const slot = Math.floor(random() * slots.length);
    const op = slots[slot];
    if (op === null || op === undefined) {
      if (invoked >= options.operations) continue;
      const fresh = newOperation(processOfSlot[slot]!);
      record(fresh.process, 'invoke', fresh.f, fresh.key, fresh.input);
      slots[slot] = fresh;
      invoked++;
    } else if (!op.applied) {
      // Half the info operations never take effect, half do.
      const roll = random();
      if (roll < options.failRate) {
        record(op.process, 'fail', op.f, op.key, null);
        slots[slot] = null;
      } else if (roll < options.failRate + options.infoRate / 2) {
        record(op.process, 'info', op.f, op.key, null);
        slots[slot] = null;
        processOfSlot[slot] = nextProcess++;
      } else {
        apply(op);
      }
    } else if (random() < options.infoRate / 2) {
      record(op.process, 'info', op.f, op.key, null);
      slots[slot] = null;
      processOfSlot[slot] = nextProcess++;
    } else {
      record(op.process, 'ok', op.f, op.key, op.f === 'get' || op.f === 'cas' ? op.output : null);
      slots[slot] = null;
    }
  }
  return out;
}

/** A fresh seed for a randomized test; printed in every failure message. */
export function freshSeed(): number {
  const fromEnvironment = process.env['CHECK_SEED'];
  return fromEnvironment !== undefined ? Number(fromEnvironment) : Math.floor(Math.random() * 0x7fffffff);
}
