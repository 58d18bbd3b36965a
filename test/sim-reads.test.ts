// The simulator's ReadIndex reads (checked against the committed prefix) and its two
// message faults added by the mutation audit: shortened AppendEntries copies and old
// messages delivered again across elections. Each is drawn in a quarter of the seeds.

import test from 'ava';
import { runSeed } from '../lib/sim/simulator.js';

test('reads are sent and checked in the seeds that draw them, and none in the others', (t) => {
  let withReads = 0;
  let checked = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const result = runSeed(seed);
    t.true(result.ok, `seed ${seed}: ${result.violation?.message ?? ''}`);
    if (result.profile.readMeanIntervalTicks === Infinity) {
      t.is(result.stats.readsChecked, 0, `seed ${seed}`);
    } else {
      withReads++;
      checked += result.stats.readsChecked;
    }
  }
  t.true(withReads > 0, 'some seeds read');
  t.true(checked > 100, `${checked} reads checked`);
});

test('the new faults can be switched off by a profile override, and each is drawn in some seeds', (t) => {
  const off = { readMeanIntervalTicks: Infinity, shortenedAppendProbability: 0, replayOldMessageProbability: 0 };
  let shortened = 0;
  let replayed = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const profile = runSeed(seed, { maxSteps: 1 }).profile;
    if (profile.shortenedAppendProbability > 0) shortened++;
    if (profile.replayOldMessageProbability > 0) replayed++;
  }
  t.true(shortened > 0 && replayed > 0);
  const result = runSeed(7, { profile: off });
  t.true(result.ok);
  t.is(result.stats.readsChecked, 0);
});
