// Real histories nobody here wrote: Jepsen's etcd histories and Porcupine's key-value
// histories, converted to our format, each with the verdict it must get
// (../shared/histories/README.md). The checker must agree on every one.

import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseHistory } from '../lib/check/history.js';
import { Verdict } from '../lib/check/linearizability.js';
import { verifyHistory } from '../lib/check/verify.js';
import { repoRoot } from './check-helpers.js';

const corpusDirectory = path.resolve(repoRoot, '../shared/histories');
const verdictsFile = path.join(corpusDirectory, 'verdicts.json');

function loadVerdicts(): Map<string, string> {
  // Missing data must fail loudly: a checker validated on nothing would pass silently.
  if (!existsSync(verdictsFile)) {
    throw new Error(`the history corpus is missing: expected ${verdictsFile} (CI clones the repo with shared/ beside it)`);
  }
  return new Map(Object.entries(JSON.parse(readFileSync(verdictsFile, 'utf8')) as Record<string, string>));
}

const expectedVerdict = (text: string): Verdict => {
  if (text === 'linearizable') return Verdict.Linearizable;
  if (text === 'not linearizable') return Verdict.NotLinearizable;
  throw new Error(`verdicts.json: unknown verdict ${JSON.stringify(text)}`);
};

test('the corpus is present and every history in it has a verdict', (t) => {
  const verdicts = loadVerdicts();
  const files = readdirSync(corpusDirectory).filter((name) => name.endsWith('.json') && name !== 'verdicts.json');
  t.true(files.length >= 50, `expected the whole corpus, found ${files.length} files in ${corpusDirectory}`);
  t.deepEqual([...verdicts.keys()].sort(), files.sort());
});

test('the checker agrees with every verdict of the corpus', (t) => {
  const verdicts = loadVerdicts();
  const disagreements: string[] = [];
  let linearizable = 0;
  for (const [file, expected] of verdicts) {
    const report = verifyHistory(parseHistory(readFileSync(path.join(corpusDirectory, file), 'utf8')), { timeMs: 60_000 });
    const want = expectedVerdict(expected);
    if (report.verdict !== want) disagreements.push(`${file}: expected ${want}, got ${report.verdict}`);
    if (want === Verdict.Linearizable) linearizable++;
    if (report.verdict === Verdict.NotLinearizable && report.linearizability.anomalies.length === 0 && report.appends.anomalies.length === 0) {
      disagreements.push(`${file}: not linearizable but no anomaly explains why`);
    }
  }
  t.deepEqual(disagreements, []);
  // Both verdicts are represented, so agreement is not a checker that always says one thing.
  t.true(linearizable > 5 && linearizable < verdicts.size - 5);
});
