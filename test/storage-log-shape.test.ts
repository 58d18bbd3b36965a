// LogShape: the terms storage checks appends against, kept as runs of equal terms
// (a run cut by a truncation or a compaction must never read past its end).

import test from 'ava';
import { LogShape } from '../lib/storage/record.js';
import { createPrng, testSeed } from './helpers/seed.js';

test('appends, truncations, compactions and resets agree with a plain model (seeded)', (t) => {
  const seed = testSeed('LOG_SHAPE_SEED');
  const random = createPrng(seed);
  const shape = new LogShape();
  let model: number[] = [];
  let base = 1;
  let baseTerm = 0;
  let term = 1;
  const last = (): number => base + model.length - 1;
  for (let step = 0; step < 3000; step++) {
    const roll = random();
    if (roll < 0.55) {
      // An append, from anywhere in the log to just past its end (a conflict truncates).
      const firstIndex = base + Math.floor(random() * (model.length + 1));
      if (random() < 0.3) term++;
      // Now and then a batch steps to a newer term part way (runs start inside batches too).
      const terms = Array.from({ length: 1 + Math.floor(random() * 30) }, () => (random() < 0.05 ? ++term : term));
      const violation = shape.checkAppend(firstIndex, terms);
      if (violation !== null) {
        t.fail(`seed ${seed} (LOG_SHAPE_SEED), step ${step}: ${violation}`);
        return;
      }
      shape.applyAppend(firstIndex, terms);
      model = [...model.slice(0, firstIndex - base), ...terms];
    } else if (roll < 0.9 && model.length > 0) {
      const index = base + Math.floor(random() * model.length);
      const at = model[index - base]!;
      shape.compactTo(index, at);
      model = model.slice(index + 1 - base);
      base = index + 1;
      baseTerm = at;
    } else if (roll < 0.95) {
      // A leader's snapshot past the log: everything goes.
      term++;
      const index = last() + 1 + Math.floor(random() * 5);
      shape.compactTo(index, term);
      model = [];
      base = index + 1;
      baseTerm = term;
    }
    const where = `seed ${seed} (LOG_SHAPE_SEED), step ${step}`;
    if (shape.firstIndex !== base || shape.lastIndex !== last()) {
      t.fail(`${where}: [${shape.firstIndex}, ${shape.lastIndex}] against [${base}, ${last()}]`);
      return;
    }
    for (let index = base - 2; index <= last() + 3; index++) {
      const expected = index === base - 1 ? baseTerm : (model[index - base] ?? 0);
      if (shape.termAt(index) !== expected) {
        t.fail(`${where}: term at ${index} is ${shape.termAt(index)}, model ${expected}`);
        return;
      }
    }
    // termRuns (a node's status): all runs spell out the model; the newest few are its tail.
    const spelled = spell(shape.termRuns(Number.MAX_SAFE_INTEGER), last());
    if (spelled.first !== (model.length === 0 ? null : base) || spelled.terms.join() !== model.join()) {
      t.fail(`${where}: termRuns spell ${spelled.first}: ${spelled.terms.join()} against ${base}: ${model.join()}`);
      return;
    }
    const newest = spell(shape.termRuns(2), last());
    if (newest.first !== null && newest.terms.join() !== model.slice(newest.first - base).join()) {
      t.fail(`${where}: the newest two runs from ${newest.first} spell ${newest.terms.join()}`);
      return;
    }
  }
  t.is(shape.lastIndex, last(), `seed ${seed} (LOG_SHAPE_SEED)`);
});

/** The terms runs give each index from the first run's start to `last`. */
function spell(runs: readonly { first: number; term: number }[], last: number): { first: number | null; terms: number[] } {
  const terms: number[] = [];
  runs.forEach((run, r) => {
    for (let index = run.first; index < (runs[r + 1]?.first ?? last + 1); index++) terms.push(run.term);
  });
  return { first: runs[0]?.first ?? null, terms };
}
