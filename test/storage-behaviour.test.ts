// The LogStorage contract, written once and run against both implementations:
// FileStorage (real files in a temp dir) and MemoryStorage (the simulator's twin).

import test from 'ava';
import { createPrng } from './helpers/seed.js';
import type { ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry, HardState } from '../lib/raft/types.js';
import { MemoryStorage } from '../lib/storage/memory-storage.js';
import { openFileStorage } from '../lib/storage/file-storage.js';
import { StorageErrorCode } from '../lib/storage/errors.js';
import type { LogStorage } from '../lib/storage/types.js';

/** A small segment size so that a few thousand entries span many segments. */
const TEST_SEGMENT_BYTES = 8 * 1024;

interface Harness {
  /** A fresh, empty storage, not yet loaded. */
  readonly storage: LogStorage;
  /** A "restart": stop this storage (dropping anything unsynced) and return one on the same disk, not yet loaded. */
  restart(previous: LogStorage): LogStorage;
  readonly cleanup: () => void;
}

interface Implementation {
  readonly name: string;
  create(): Harness;
}

const implementations: readonly Implementation[] = [
  {
    name: 'FileStorage',
    create(): Harness {
      const dir = mkdtempSync(join(tmpdir(), 'raftlab-storage-'));
      const open = (): LogStorage => openFileStorage(join(dir, 'node-1'), { fsync: true, segmentBytes: TEST_SEGMENT_BYTES, verifyWrites: true });
      return {
        storage: open(),
        restart(previous) {
          previous.close();
          return open();
        },
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'MemoryStorage',
    create(): Harness {
      return {
        storage: new MemoryStorage(),
        restart(previous) {
          (previous as MemoryStorage).crash();
          return previous;
        },
        cleanup: () => undefined,
      };
    },
  },
];

function entry(index: number, term: number, text: string | null): Entry {
  return { index, term, data: text === null ? null : new TextEncoder().encode(text) };
}

function entries(from: number, to: number, term: number, tag = ''): Entry[] {
  const result: Entry[] = [];
  for (let index = from; index <= to; index++) result.push(entry(index, term, `${tag}${index}@${term}`));
  return result;
}

/** Entries as comparable plain values (data as number arrays: Buffer vs Uint8Array must not matter). */
function plain(log: readonly Entry[]): { index: number; term: number; data: number[] | null }[] {
  return log.map((e) => ({ index: e.index, term: e.term, data: e.data === null ? null : Array.from(e.data) }));
}

function plainEqual(a: readonly Entry[], b: readonly Entry[]): boolean {
  return JSON.stringify(plain(a)) === JSON.stringify(plain(b));
}

function hard(currentTerm: number, votedFor: number, commitIndex: number): HardState {
  return { currentTerm, votedFor, commitIndex };
}

function expectCode(t: ExecutionContext, run: () => unknown, code: string): void {
  const error = t.throws(run);
  t.is((error as { code?: unknown } | undefined)?.code, code, String(error));
}

for (const implementation of implementations) {
  const name = (title: string): string => `${implementation.name}: ${title}`;

  test(name('a new storage loads an empty log and a zero hard state'), (t) => {
    const harness = implementation.create();
    try {
      const { state, recovery } = harness.storage.load();
      t.deepEqual(state.hardState, hard(0, 0, 0));
      t.deepEqual(state.entries, []);
      t.is(recovery.entries, 0);
      t.is(recovery.truncatedBytes, 0);
      t.is(harness.storage.sync(), 0, 'nothing buffered: nothing to sync');
      t.is(harness.storage.stats().fsyncCount, 0);
    } finally {
      harness.cleanup();
    }
  });

  test(name('synced entries and hard state survive a restart'), (t) => {
    const harness = implementation.create();
    try {
      let storage = harness.storage;
      storage.load();
      storage.append(entries(1, 3, 1));
      storage.setHardState(hard(1, 2, 0));
      storage.sync();
      storage.append([entry(4, 1, null)]);
      storage.setHardState(hard(1, 2, 3));
      storage.sync();
      t.is(storage.stats().fsyncCount, 2);
      storage = harness.restart(storage);
      const { state, recovery } = storage.load();
      t.deepEqual(plain(state.entries), plain([...entries(1, 3, 1), entry(4, 1, null)]));
      t.deepEqual(state.hardState, hard(1, 2, 3));
      t.is(recovery.entries, 4);
    } finally {
      harness.cleanup();
    }
  });

  test(name('a restart after 5,000 entries replays them all, truncations and the last hard state included'), (t) => {
    const seed = Date.now() >>> 0;
    const random = createPrng(seed);
    const harness = implementation.create();
    try {
      let storage = harness.storage;
      storage.load();
      const model: Entry[] = [];
      let term = 1;
      // A vote that only changes with the term, as §5.2 requires.
      const voteIn = (inTerm: number): number => 1 + (inTerm % 3);
      let hardState = hard(1, voteIn(1), 0);
      const appendAndSync = (batch: Entry[]): void => {
        storage.append(batch);
        model.length = batch[0]!.index - 1;
        model.push(...batch);
        storage.setHardState(hardState);
        storage.sync();
      };
      // The scenario from the brief: 1..100, then overwrite from 50 with a new term.
      appendAndSync(entries(1, 100, term));
      term = 2;
      hardState = hard(term, voteIn(term), 40);
      appendAndSync(entries(50, 120, term, 'overwrite-'));
      while (model.length < 5000) {
        const last = model.length;
        // One batch in ten is a conflict truncation of up to 20 uncommitted entries.
        const truncate = random() < 0.1 && last - hardState.commitIndex > 1;
        const from = truncate ? last - Math.floor(random() * Math.min(20, last - hardState.commitIndex - 1)) : last + 1;
        if (truncate) term++;
        const count = 1 + Math.floor(random() * 60);
        const batch: Entry[] = [];
        for (let i = 0; i < count; i++) {
          const size = Math.floor(random() * 200);
          batch.push(size === 0 ? entry(from + i, term, null) : { index: from + i, term, data: new Uint8Array(size).fill((from + i) & 0xff) });
        }
        hardState = hard(term, voteIn(term), Math.max(hardState.commitIndex, from - 1 - Math.floor(random() * 5)));
        appendAndSync(batch);
        // entries() reads what the writes left, truncations included, anywhere in the log.
        const probe = 1 + Math.floor(random() * model.length);
        const probeEnd = Math.min(model.length, probe + Math.floor(random() * 300));
        if (!plainEqual(storage.entries(probe, probeEnd), model.slice(probe - 1, probeEnd))) {
          t.fail(`entries(${probe}, ${probeEnd}) differs from what was written (seed ${seed})`);
          return;
        }
      }
      t.deepEqual(plain(storage.entries(1, model.length)), plain(model), `entries() of the whole log (seed ${seed})`);
      storage = harness.restart(storage);
      const { state, recovery } = storage.load();
      t.deepEqual(plain(storage.entries(40, 60)), plain(model.slice(39, 60)), `entries() after the reload (seed ${seed})`);
      t.is(state.entries.length, model.length, `seed ${seed}`);
      t.deepEqual(plain(state.entries), plain(model), `seed ${seed}`);
      t.deepEqual(state.hardState, hardState, `seed ${seed}`);
      t.is(recovery.entries, model.length, `seed ${seed}`);
      // Later truncations reach back at most 20 entries, so the overwrite from 50 stands.
      t.deepEqual(plain(state.entries.slice(48, 51)), plain([entry(49, 1, '49@1'), entry(50, 2, 'overwrite-50@2'), entry(51, 2, 'overwrite-51@2')]), `seed ${seed}`);
      if (implementation.name === 'FileStorage') t.true(recovery.segments > 3, `expected several segments, got ${recovery.segments} (seed ${seed})`);
      // The reloaded storage keeps working.
      storage.append([entry(model.length + 1, term, 'after-restart')]);
      storage.sync();
      storage = harness.restart(storage);
      t.is(storage.load().state.entries.length, model.length + 1, `seed ${seed}`);
    } finally {
      harness.cleanup();
    }
  });

  test(name('appends between syncs fold into one batch, truncations inside or before it included'), (t) => {
    const harness = implementation.create();
    try {
      let storage = harness.storage;
      storage.load();
      storage.append(entries(1, 10, 1));
      storage.sync();
      storage.append(entries(11, 20, 1));
      storage.append(entries(15, 18, 2)); // truncates inside the pending batch
      storage.append(entries(17, 22, 3)); // and again
      storage.sync();
      storage.append(entries(23, 30, 3));
      storage.append(entries(8, 9, 4)); // truncates before the pending batch, into synced entries
      storage.setHardState(hard(4, 0, 5));
      storage.setHardState(hard(4, 3, 6)); // the last hard state wins
      storage.sync();
      t.is(storage.stats().fsyncCount, 3, 'one fdatasync per sync() regardless of appends');
      storage = harness.restart(storage);
      const { state } = storage.load();
      t.deepEqual(plain(state.entries), plain([...entries(1, 7, 1), ...entries(8, 9, 4)]));
      t.deepEqual(state.hardState, hard(4, 3, 6));
    } finally {
      harness.cleanup();
    }
  });

  test(name('entries() reads back what was written: across writes, after a conflict truncation, a compaction, a restart'), (t) => {
    const harness = implementation.create();
    try {
      let storage = harness.storage;
      storage.load();
      expectCode(t, () => storage.entries(1, 1), StorageErrorCode.Invariant);
      storage.append(entries(1, 10, 1));
      storage.sync();
      storage.append(entries(11, 20, 1));
      storage.sync();
      t.deepEqual(plain(storage.entries(8, 13)), plain(entries(8, 13, 1)), 'across two writes');
      storage.append(entries(15, 16, 2));
      storage.sync();
      t.deepEqual(plain(storage.entries(13, 16)), plain([...entries(13, 14, 1), ...entries(15, 16, 2)]), 'the truncated tail is gone');
      expectCode(t, () => storage.entries(16, 17), StorageErrorCode.Invariant);
      storage.saveSnapshot({ index: 12, term: 1, data: new TextEncoder().encode('state@12') });
      expectCode(t, () => storage.entries(12, 13), StorageErrorCode.Invariant);
      t.deepEqual(plain(storage.entries(13, 16)), plain([...entries(13, 14, 1), ...entries(15, 16, 2)]), 'a compaction keeps what follows it');
      storage.append(entries(17, 18, 2));
      storage.sync();
      storage = harness.restart(storage);
      storage.load();
      t.deepEqual(plain(storage.entries(13, 18)), plain([...entries(13, 14, 1), ...entries(15, 18, 2)]), 'after a restart');
      storage.append(entries(19, 19, 3));
      storage.sync();
      t.deepEqual(plain(storage.entries(18, 19)), plain([entry(18, 2, '18@2'), entry(19, 3, '19@3')]), 'recovered and new entries together');
      storage.saveSnapshot({ index: 30, term: 4, data: new TextEncoder().encode('state@30') });
      expectCode(t, () => storage.entries(19, 19), StorageErrorCode.Invariant);
      storage.append(entries(31, 32, 4));
      storage.sync();
      t.deepEqual(plain(storage.entries(31, 32)), plain(entries(31, 32, 4)), "after a leader's snapshot replaced the log");
    } finally {
      harness.cleanup();
    }
  });

  test(name('a crash loses exactly what was not synced'), (t) => {
    const harness = implementation.create();
    try {
      let storage = harness.storage;
      storage.load();
      storage.append(entries(1, 5, 1));
      storage.setHardState(hard(1, 1, 2));
      storage.sync();
      const position = storage.syncedPosition();
      storage.append(entries(6, 9, 1));
      storage.append(entries(3, 4, 2));
      storage.setHardState(hard(2, 2, 2));
      storage = harness.restart(storage);
      const { state } = storage.load();
      t.deepEqual(plain(state.entries), plain(entries(1, 5, 1)));
      t.deepEqual(state.hardState, hard(1, 1, 2));
      t.deepEqual(storage.syncedPosition(), position);
    } finally {
      harness.cleanup();
    }
  });

  test(name('syncedPosition moves forward with every sync that had work'), (t) => {
    const harness = implementation.create();
    try {
      const storage = harness.storage;
      storage.load();
      let previous = storage.syncedPosition();
      for (let i = 1; i <= 50; i++) {
        storage.append(entries(i, i, 1, 'x'.repeat(300)));
        storage.sync();
        const now = storage.syncedPosition();
        t.true(now.segment > previous.segment || (now.segment === previous.segment && now.offset > previous.offset), `${JSON.stringify(previous)} -> ${JSON.stringify(now)}`);
        previous = now;
        t.deepEqual(storage.syncedPosition(), previous);
        storage.sync(); // nothing to do: the position stays
        t.deepEqual(storage.syncedPosition(), previous);
      }
    } finally {
      harness.cleanup();
    }
  });

  test(name('a caller breaking the log or hard state rules is refused before anything is written'), (t) => {
    const harness = implementation.create();
    try {
      let storage = harness.storage;
      expectCode(t, () => storage.append(entries(1, 1, 1)), StorageErrorCode.State);
      storage.load();
      storage.append(entries(1, 5, 2));
      storage.setHardState(hard(2, 1, 3));
      storage.sync();
      expectCode(t, () => storage.append(entries(7, 8, 2)), StorageErrorCode.Invariant); // a gap
      expectCode(t, () => storage.append([entry(6, 2, 'a'), entry(8, 2, 'b')]), StorageErrorCode.Invariant); // not contiguous
      t.throws(() => storage.append([entry(6, 2, 'a'), entry(8, 2, 'b')]), { message: /entry 1 has index 8, expected 7/ });
      t.throws(() => storage.append([{ index: 6, term: 2, data: 'text' as unknown as Uint8Array }]), { message: /entry 6 data is neither bytes nor null/ });
      expectCode(t, () => storage.append(entries(6, 6, 1)), StorageErrorCode.Invariant); // term below the previous entry's
      expectCode(t, () => storage.append([entry(6, 3, 'a'), entry(7, 2, 'b')]), StorageErrorCode.Invariant); // term decreasing
      expectCode(t, () => storage.append(entries(0, 1, 2)), StorageErrorCode.Invariant); // index 0
      expectCode(t, () => storage.setHardState(hard(1, 1, 3)), StorageErrorCode.Invariant); // term going back
      expectCode(t, () => storage.setHardState(hard(2, 3, 3)), StorageErrorCode.Invariant); // a second vote in term 2 (§5.2)
      expectCode(t, () => storage.setHardState(hard(2, 1, 2)), StorageErrorCode.Invariant); // commit going back
      t.is(storage.sync(), 0, 'nothing refused was buffered');
      storage = harness.restart(storage);
      const { state } = storage.load();
      t.deepEqual(plain(state.entries), plain(entries(1, 5, 2)));
      t.deepEqual(state.hardState, hard(2, 1, 3));
    } finally {
      harness.cleanup();
    }
  });
}

test('MemoryStorage: crash() drops unsynced appends and hard state, then load() works again', (t) => {
  const storage = new MemoryStorage();
  storage.load();
  storage.append(entries(1, 3, 1));
  storage.sync();
  storage.append(entries(4, 6, 1));
  storage.setHardState(hard(1, 1, 3));
  storage.crash();
  expectCode(t, () => storage.append(entries(4, 4, 1)), StorageErrorCode.State);
  const { state } = storage.load();
  t.deepEqual(plain(state.entries), plain(entries(1, 3, 1)));
  t.deepEqual(state.hardState, hard(0, 0, 0));
  expectCode(t, () => storage.load(), StorageErrorCode.State);
  // After the crash the log continues from what survived.
  storage.append(entries(4, 4, 2));
  storage.sync();
  storage.crash();
  t.deepEqual(plain(storage.load().state.entries), plain([...entries(1, 3, 1), ...entries(4, 4, 2)]));
});
