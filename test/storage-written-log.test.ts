// WrittenLog: the WAL's entries after the snapshot, kept as the places of the records written.

import test from 'ava';
import type { Entry } from '../lib/raft/types.js';
import { encodeBatchPayload } from '../lib/storage/record.js';
import { WrittenLog, type RecordPlace } from '../lib/storage/written-log.js';

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) out.push({ index, term, data: index % 5 === 0 ? null : new TextEncoder().encode(`${index}@${term}`) });
  return out;
}

/** A stand-in for the segments: payloads by offset, and the places read back. */
class Disk {
  readonly records = new Map<number, Uint8Array>();
  readonly reads: RecordPlace[] = [];
  private end = 0;

  readonly read = (place: RecordPlace): Uint8Array => {
    this.reads.push(place);
    const payload = this.records.get(place.offset);
    if (payload === undefined || payload.byteLength !== place.bytes) throw new Error(`no ${place.bytes}-byte record at ${place.offset}`);
    return payload;
  };

  /** What FileStorage does on a write: encode the batch, write it, note where. */
  write(log: WrittenLog, batch: Entry[]): void {
    const payload = new Uint8Array(encodeBatchPayload(batch[0]!.index, batch, null));
    const place = { segment: 1, offset: this.end, bytes: payload.byteLength };
    this.records.set(this.end, payload);
    this.end += payload.byteLength;
    log.written(batch[0]!.index, batch.length, place);
  }
}

let disk = new Disk();
function newLog(): WrittenLog {
  disk = new Disk();
  return new WrittenLog(disk.read);
}
function write(log: WrittenLog, batch: Entry[]): void {
  disk.write(log, batch);
}

function described(list: readonly Entry[] | null): string[] | null {
  return list === null ? null : list.map((entry) => `${entry.index}@${entry.term}:${entry.data === null ? '-' : new TextDecoder().decode(entry.data)}`);
}

test('reads across writes, decoding each kept payload; refuses what it does not hold', (t) => {
  const log = newLog();
  t.is(log.read(1, 1), null);
  write(log, entries(1, 7, 1));
  write(log, entries(8, 12, 1));
  t.deepEqual(described(log.read(6, 9)), described(entries(6, 9, 1)));
  t.deepEqual(described(log.read(1, 12)), described(entries(1, 12, 1)));
  t.deepEqual(log.read(5, 4), []);
  t.is(log.read(0, 3), null);
  t.is(log.read(10, 13), null);
  t.is(log.firstIndex(), 1);
  t.is(log.lastIndex(), 12);
});

test('a write replaces every index from its first: whole runs and the tail of one', (t) => {
  const log = newLog();
  write(log, entries(1, 10, 1));
  write(log, entries(11, 20, 1));
  write(log, entries(21, 25, 1));
  write(log, entries(15, 16, 2));
  t.is(log.lastIndex(), 16);
  t.deepEqual(described(log.read(9, 16)), described([...entries(9, 14, 1), ...entries(15, 16, 2)]));
  t.is(log.read(17, 17), null);
  write(log, entries(3, 3, 3));
  t.deepEqual(described(log.read(1, 3)), described([...entries(1, 2, 1), ...entries(3, 3, 3)]));
  log.keepThrough(2);
  t.is(log.lastIndex(), 2);
  t.is(log.read(3, 3), null);
});

test('a snapshot cut hides what it covers, even inside a run that goes on past it', (t) => {
  const log = newLog();
  write(log, entries(1, 10, 1));
  write(log, entries(11, 20, 1));
  log.cutAt(12);
  t.is(log.firstIndex(), 13);
  t.is(log.read(12, 13), null);
  t.deepEqual(described(log.read(13, 20)), described(entries(13, 20, 1)));
  log.cutAt(20);
  t.is(log.firstIndex(), 0);
  t.is(log.read(20, 20), null);
  write(log, entries(21, 22, 2));
  t.deepEqual(described(log.read(21, 22)), described(entries(21, 22, 2)));
});

test('entries recovered at load are read as they are, and later writes continue them', (t) => {
  const log = newLog();
  const recovered = entries(5, 9, 1);
  log.restore(recovered);
  t.is(log.read(6, 6)![0], recovered[1], 'the recovered object itself');
  write(log, entries(8, 10, 2));
  t.deepEqual(described(log.read(5, 10)), described([...entries(5, 7, 1), ...entries(8, 10, 2)]));
  log.restore([]);
  t.is(log.read(5, 5), null);
});

test('a run is read back once while a follower reads it in slices; a failed read throws', (t) => {
  const log = newLog();
  write(log, entries(1, 10, 1));
  write(log, entries(11, 20, 1));
  t.deepEqual(described(log.read(11, 13)), described(entries(11, 13, 1)));
  t.deepEqual(described(log.read(14, 17)), described(entries(14, 17, 1)));
  t.deepEqual(described(log.read(18, 20)), described(entries(18, 20, 1)));
  t.deepEqual(disk.reads.map((place) => place.offset), [disk.reads[0]!.offset], 'one read of the second record for three slices');
  disk.records.clear();
  t.throws(() => log.read(1, 2), { message: /no \d+-byte record at 0/ });
});
