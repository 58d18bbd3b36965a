// syncAsync: the same durability as sync(), with the fdatasync off the caller's thread.

import test from 'ava';
import { rmSync } from 'node:fs';
import { openFileStorage } from '../lib/storage/file-storage.js';
import { MemoryStorage } from '../lib/storage/memory-storage.js';
import type { LogStorage } from '../lib/storage/types.js';
import type { Entry } from '../lib/raft/types.js';
import { tempDir } from './helpers/cluster.js';
import { openFdsUnder } from './helpers/fds.js';

function entries(first: number, count: number, term: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({ index: first + i, term, data: new Uint8Array([i & 0xff, 7]) }));
}

function syncAsync(storage: LogStorage): Promise<number> {
  return new Promise((resolve, reject) => storage.syncAsync((error, latencyMs) => (error === null ? resolve(latencyMs) : reject(error))));
}

test('file storage: syncAsync makes the batch durable, moves the synced position and counts one fdatasync', async (t) => {
  const dir = tempDir('raftlab-storage-async-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const storage = openFileStorage(dir, { fsync: true });
  storage.load();
  const before = storage.syncedPosition();
  storage.append(entries(1, 500, 1));
  storage.setHardState({ currentTerm: 1, votedFor: 2, commitIndex: 10 });
  const latencyMs = await syncAsync(storage);
  t.true(latencyMs >= 0);
  t.is(storage.stats().fsyncCount, 1);
  t.true(storage.syncedPosition().offset > before.offset);
  storage.append(entries(501, 1, 1));
  const second = syncAsync(storage);
  storage.append(entries(502, 1, 1));
  const third = syncAsync(storage);
  t.throws(() => storage.syncAsync(() => undefined), { message: /in flight/ }, 'at most two asynchronous syncs at a time');
  await Promise.all([second, third]);
  t.is(storage.stats().fsyncCount, 3);
  storage.close();
  const reopened = openFileStorage(dir, { fsync: true });
  const { state } = reopened.load();
  t.is(state.entries.length, 502);
  t.deepEqual(state.hardState, { currentTerm: 1, votedFor: 2, commitIndex: 10 });
  reopened.close();
});

test('memory storage: syncAsync has sync semantics, reported asynchronously', async (t) => {
  const storage = new MemoryStorage();
  storage.load();
  storage.append(entries(1, 3, 1));
  let done = false;
  const finished = syncAsync(storage).then(() => {
    done = true;
  });
  t.false(done, 'done runs later, never inside the call');
  await finished;
  storage.crash();
  t.is(storage.load().state.entries.length, 3);
});

test('file storage: sync() and segment rolls while a syncAsync is in flight leave everything durable and every segment readable', async (t) => {
  const dir = tempDir('raftlab-storage-async-roll-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const storage = openFileStorage(dir, { fsync: true, segmentBytes: 256 });
  storage.load();
  storage.append(entries(1, 20, 1));
  const inFlight = syncAsync(storage);
  // Each batch is bigger than a segment: every sync rolls over to a new one, closing the
  // segment the fdatasync in flight is using (that close must wait for it).
  for (let batch = 0; batch < 5; batch++) {
    storage.append(entries(21 + batch * 20, 20, 1));
    storage.sync();
  }
  t.true(storage.stats().files.length >= 3, `rolled over ${storage.stats().files.length} segments`);
  await inFlight;
  storage.append(entries(121, 1, 1));
  await syncAsync(storage);
  storage.close();
  const reopened = openFileStorage(dir, { fsync: true, segmentBytes: 256 });
  const { state } = reopened.load();
  t.deepEqual(state.entries.map((entry) => entry.index), Array.from({ length: 121 }, (_, i) => i + 1));
  reopened.close();
});

test('file storage: two syncAsync calls in flight report in call order, each durable up to its own writes and no further', async (t) => {
  const dir = tempDir('raftlab-storage-async-two-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const storage = openFileStorage(dir, { fsync: true });
  storage.load();
  const order: string[] = [];
  let syncedAtFirst = -1;
  for (let round = 0; round < 50; round++) {
    const first = 1 + round * 30;
    storage.append(entries(first, 10, 1));
    const a = new Promise<void>((resolve, reject) =>
      storage.syncAsync((error) => {
        if (error !== null) return reject(error);
        order.push(`a${round}`);
        syncedAtFirst = storage.syncedPosition().offset;
        resolve();
      }),
    );
    storage.append(entries(first + 10, 20, 1));
    const b = new Promise<void>((resolve, reject) =>
      storage.syncAsync((error) => {
        if (error !== null) return reject(error);
        order.push(`b${round}`);
        // What the first call wrote is durable; what the second wrote was not claimed for it.
        t.true(syncedAtFirst < storage.syncedPosition().offset, `round ${round}: the first call's synced position ${syncedAtFirst} is below the second's`);
        resolve();
      }),
    );
    await Promise.all([a, b]);
  }
  t.deepEqual(order, Array.from({ length: 50 }, (_, round) => [`a${round}`, `b${round}`]).flat());
  t.is(storage.stats().fsyncCount, 100);
  // A call that wrote nothing, behind one that did, is reported after it.
  storage.append(entries(1501, 1, 1));
  const reported: string[] = [];
  const written = syncAsync(storage).then(() => reported.push('written'));
  const empty = syncAsync(storage).then(() => reported.push('empty'));
  await Promise.all([written, empty]);
  t.deepEqual(reported, ['written', 'empty']);
  storage.close();
  const reopened = openFileStorage(dir, { fsync: true });
  t.is(reopened.load().state.entries.length, 1501);
  reopened.close();
});

test('file storage: segment rolls under two syncAsync calls in flight close every rolled segment and lose nothing', async (t) => {
  const dir = tempDir('raftlab-storage-async-two-roll-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const openFds = (): number => openFdsUnder(dir);
  // No spare segments: one still being filled when the storage closes shuts its fd a step later.
  const storage = openFileStorage(dir, { fsync: true, segmentBytes: 256, preallocate: false });
  storage.load();
  let next = 1;
  for (let round = 0; round < 20; round++) {
    // Each batch is bigger than a segment: every write rolls to a new segment, under fdatasyncs still running on the old.
    storage.append(entries(next, 20, 1));
    next += 20;
    const a = syncAsync(storage);
    storage.append(entries(next, 20, 1));
    next += 20;
    const b = syncAsync(storage);
    storage.append(entries(next, 20, 1));
    next += 20;
    storage.sync();
    await Promise.all([a, b]);
  }
  t.true(storage.stats().files.length >= 20, `rolled over ${storage.stats().files.length} segments`);
  storage.close();
  t.is(openFds(), 0, 'every rolled segment was closed');
  const reopened = openFileStorage(dir, { fsync: true, segmentBytes: 256 });
  const { state } = reopened.load();
  t.deepEqual(state.entries.map((entry) => entry.index), Array.from({ length: next - 1 }, (_, i) => i + 1));
  reopened.close();
});
