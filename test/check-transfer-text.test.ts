// The line `raftlab check` prints as a leadership-transfer fault starts names the leader
// and the transfer asked for; only the fault's end may say that leadership never moved.
// Its start line said so at once, before any transfer could have happened (the
// thirty-first session's soak: "asked for 5; leadership never moved from 4" at 1.1 s,
// then "leaders 4→5→3→2→4→1" at its end).

import test from 'ava';
import { runCli } from './helpers/cli.js';

test('a transfer fault\'s start line does not conclude that leadership never moved', async (t) => {
  const { code, stdout, stderr } = await runCli(['check', '--nemesis', 'transfer', '--nodes', '3', '--duration', '3', '--seed', '7']);
  t.is(code, 0, stderr);
  const output = stdout + stderr;
  const started = output.split('\n').filter((line) => /nemesis: leadership transfers every/.test(line));
  t.true(started.length >= 1, output);
  for (const line of started) {
    t.notRegex(line, /never moved/, line);
    t.regex(line, /asked for \d+; leader \d+\)/, line);
  }
  const ended = output.split('\n').filter((line) => /nemesis: ended leadership transfers/.test(line));
  t.true(ended.length >= 1, output);
  for (const line of ended) t.regex(line, /leaders \d+(→\d+)+|leadership never moved from \d+/, line);
});
