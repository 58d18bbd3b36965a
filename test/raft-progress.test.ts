import test from 'ava';
import { Inflights, Progress } from '../lib/raft/progress.js';

test('inflights: bounded FIFO freed cumulatively', (t) => {
  const inflights = new Inflights(3);
  inflights.add(5);
  inflights.add(10);
  inflights.add(15);
  t.true(inflights.full());
  t.throws(() => inflights.add(20), { message: /overflow/ });
  inflights.freeUpTo(10);
  t.is(inflights.count, 1);
  inflights.add(20);
  inflights.add(25);
  inflights.freeUpTo(100);
  t.is(inflights.count, 0);
});

test('probe state: one message in flight until an answer', (t) => {
  const progress = new Progress(2, 11, 4);
  t.false(progress.isPaused());
  progress.sentAppend(12, 2);
  t.true(progress.isPaused());
  t.is(progress.nextIndex, 11, 'probe does not advance nextIndex optimistically');
  t.true(progress.maybeUpdate(12));
  t.false(progress.isPaused());
  progress.becomeReplicate();
  t.is(progress.nextIndex, 13);
});

test('replicate state: optimistic nextIndex and a window of maxInflight messages', (t) => {
  const progress = new Progress(2, 1, 2);
  progress.becomeReplicate();
  progress.sentAppend(5, 5);
  t.is(progress.nextIndex, 6);
  progress.sentAppend(9, 4);
  t.true(progress.isPaused());
  progress.maybeUpdate(5);
  progress.inflights.freeUpTo(5);
  t.false(progress.isPaused());
});

test('stale acknowledgements do not move matchIndex back', (t) => {
  const progress = new Progress(2, 1, 2);
  t.true(progress.maybeUpdate(8));
  t.false(progress.maybeUpdate(3));
  t.is(progress.matchIndex, 8);
});

test('rejections: stale ones are ignored, the hint is clamped to (matchIndex, rejected]', (t) => {
  const progress = new Progress(2, 21, 2);
  progress.maybeUpdate(4);
  progress.becomeProbe();
  progress.nextIndex = 21;
  t.false(progress.maybeDecreaseTo(15, 10), 'probe: a rejection for another prevLogIndex is stale');
  t.true(progress.maybeDecreaseTo(20, 1));
  t.is(progress.nextIndex, 5, 'never below matchIndex + 1');
  t.false(progress.maybeDecreaseTo(3, 1), 'a rejection below matchIndex is stale');
  progress.nextIndex = 21;
  t.true(progress.maybeDecreaseTo(20, 50));
  t.is(progress.nextIndex, 20, 'never above the rejected index');
});

test('snapshot reports the public view', (t) => {
  const progress = new Progress(3, 7, 8);
  t.deepEqual(progress.snapshot(), { id: 3, matchIndex: 0, nextIndex: 7, state: 'probe', inflight: 0, recentActive: true, learner: false });
  t.false('snapshotBytes' in progress.snapshot(100), 'no transfer outside the snapshot state');
  progress.becomeSnapshot(40);
  progress.snapshotSentTo = 64;
  progress.snapshotAcked = 32;
  t.deepEqual(progress.snapshot(100).snapshotBytes, { total: 100, sent: 64, acknowledged: 32 }, 'a snapshot streaming: its size, bytes sent and held');
  t.false('snapshotBytes' in progress.snapshot(), 'not when the leader no longer holds that snapshot');
});
