import test from 'ava';
import { ReadIndexQueue } from '../lib/raft/read-only.js';

/** A quorum check over `voters`: a majority of them among the acknowledgements. */
const majorityOf = (voters: readonly number[]) => (acknowledgedBy: ReadonlySet<number>) =>
  voters.filter((id) => acknowledgedBy.has(id)).length > voters.length / 2;

test('a round is released once a quorum (leader included) acknowledges it', (t) => {
  const queue = new ReadIndexQueue(1, majorityOf([1, 2, 3, 4, 5]));
  t.is(queue.start(7, 10), null);
  t.is(queue.newestContext(), 7);
  t.deepEqual(queue.acknowledge(2, 7), []);
  t.deepEqual(queue.acknowledge(2, 7), [], 'a duplicate acknowledgement does not count twice');
  t.deepEqual(queue.acknowledge(3, 7), [{ index: 10, context: 7 }]);
  t.is(queue.size, 0);
  t.is(queue.newestContext(), 0);
});

test('acknowledging a later round also acknowledges earlier ones, released in order', (t) => {
  const queue = new ReadIndexQueue(1, majorityOf([1, 2, 3]));
  queue.start(1, 5);
  queue.start(2, 6);
  t.deepEqual(queue.acknowledge(3, 2), [
    { index: 5, context: 1 },
    { index: 6, context: 2 },
  ]);
  t.deepEqual(queue.acknowledge(3, 1), [], 'an acknowledgement for a released round is ignored');
});

test('an acknowledgement of an earlier round does not confirm a later one', (t) => {
  // The answer to round 1's heartbeat may have been sent before round 2 began, even before
  // a newer leader was elected and committed: it proves nothing about the time of round 2.
  const queue = new ReadIndexQueue(1, majorityOf([1, 2, 3, 4, 5]));
  queue.start(1, 5);
  queue.start(2, 6);
  t.deepEqual(queue.acknowledge(2, 1), []);
  t.deepEqual(queue.acknowledge(3, 1), [{ index: 5, context: 1 }]);
  t.deepEqual(queue.acknowledge(4, 2), [], 'round 2 is acknowledged by 1 and 4 only: 2 and 3 answered round 1');
  t.deepEqual(queue.acknowledge(5, 2), [{ index: 6, context: 2 }]);
});

test('a single-voter leader answers at once; deferred requests are handed back once', (t) => {
  const single = new ReadIndexQueue(1, majorityOf([1]));
  t.deepEqual(single.start(4, 9), { index: 9, context: 4 });
  const queue = new ReadIndexQueue(1, majorityOf([1, 2, 3]));
  queue.deferUntilCommit(1);
  queue.deferUntilCommit(2);
  t.is(queue.size, 2);
  t.deepEqual(queue.takeDeferred(), [1, 2]);
  t.deepEqual(queue.takeDeferred(), []);
});

test('acknowledgements from learners do not count toward the quorum', (t) => {
  const queue = new ReadIndexQueue(1, majorityOf([1, 2, 3]));
  queue.start(5, 20);
  t.deepEqual(queue.acknowledge(4, 5), [], 'node 4 is a learner: its acknowledgement is not a vote');
  t.deepEqual(queue.acknowledge(2, 5), [{ index: 20, context: 5 }]);
});
