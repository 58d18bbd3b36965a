import test from 'ava';
import { majorityMatchIndex, majoritySize, tallyVotes, VoteResult } from '../lib/raft/quorum.js';

test('majoritySize is floor(n/2)+1', (t) => {
  t.deepEqual([1, 2, 3, 4, 5, 6, 7].map(majoritySize), [1, 2, 2, 3, 3, 4, 4]);
});

test('majorityMatchIndex is the highest index stored by a majority', (t) => {
  t.is(majorityMatchIndex([]), 0);
  t.is(majorityMatchIndex([5]), 5);
  t.is(majorityMatchIndex([5, 3, 9]), 5);
  t.is(majorityMatchIndex([1, 2, 3, 4]), 2, 'even cluster needs 3 of 4');
  t.is(majorityMatchIndex([10, 10, 1, 1, 1]), 1);
  t.is(majorityMatchIndex([10, 10, 10, 1, 1]), 10);
});

test('majorityMatchIndex does not reorder its input', (t) => {
  const input = [3, 1, 2];
  majorityMatchIndex(input);
  t.deepEqual(input, [3, 1, 2]);
});

test('tallyVotes: won, lost, pending', (t) => {
  const voters = [1, 2, 3, 4, 5];
  t.is(tallyVotes(voters, new Map([[1, true]])), VoteResult.Pending);
  t.is(tallyVotes(voters, new Map([[1, true], [2, true], [3, true]])), VoteResult.Won);
  t.is(tallyVotes(voters, new Map([[1, true], [2, false], [3, false]])), VoteResult.Pending);
  t.is(tallyVotes(voters, new Map([[1, true], [2, false], [3, false], [4, false]])), VoteResult.Lost);
  t.is(tallyVotes([1], new Map([[1, true]])), VoteResult.Won);
  t.is(tallyVotes([1, 2], new Map([[1, true], [2, false]])), VoteResult.Lost);
});

test('tallyVotes ignores answers from non-voters', (t) => {
  t.is(tallyVotes([1, 2, 3], new Map([[1, true], [7, true], [8, true]])), VoteResult.Pending);
});
