// The scenario runner against the fake cluster: steps run one per advance, narrate,
// report progress, and end (or abort) without throwing.

import test from 'ava';
import type { ScenarioProgress } from '../tui/state.js';
import { FakeCluster } from '../tui/fake-cluster.js';
import { SCENARIOS, ScenarioRunner } from '../tui/scenarios.js';
import type { ScenarioDefinition } from '../tui/scenarios.js';

const SEED = Number(process.env['TUI_TEST_SEED'] ?? 7);

function setup(scenarios?: readonly ScenarioDefinition[], nodes = 5): { runner: ScenarioRunner; cluster: FakeCluster; lines: string[]; progress: (ScenarioProgress | null)[] } {
  const cluster = new FakeCluster({ nodes, seed: SEED, tickMs: 2, autoTick: true, fsync: true });
  const lines: string[] = [];
  const progress: (ScenarioProgress | null)[] = [];
  const runner = new ScenarioRunner({
    cluster,
    kv: cluster.client({ timeoutMs: 2000 }),
    normalTickMs: 2,
    status: () => cluster.status(),
    narrate: (text, error) => lines.push(`${error ? 'ERROR ' : ''}${text}`),
    progress: (current) => progress.push(current),
    ...(scenarios === undefined ? {} : { scenarios }),
  });
  cluster.on('event', (event) => runner.observe(event));
  return { runner, cluster, lines, progress };
}

async function runToEnd(runner: ScenarioRunner, name: string): Promise<void> {
  runner.start(name);
  for (let step = 0; runner.running && step < 10; step++) {
    runner.advance();
    await runner.idle;
  }
}

test('every scenario has a unique name, a summary and steps', (t) => {
  t.is(new Set(SCENARIOS.map((scenario) => scenario.name)).size, SCENARIOS.length);
  for (const scenario of SCENARIOS) {
    t.true(scenario.summary.length > 10, scenario.name);
    t.true(scenario.build().length >= 2, scenario.name);
    t.is(typeof scenario.precondition, 'function', `${scenario.name} says up front what the cluster must be`);
  }
  t.deepEqual(
    SCENARIOS.map((scenario) => scenario.name),
    ['split-vote', 'leader-crash', 'conflicting-follower', 'partitioned-leader', 'minority-read', 'exactly-once', 'figure8', 'membership', 'joint', 'demote'],
  );
});

test('joint replaces the leader and another voter by two learners in one change, on the fake', async (t) => {
  const { runner, cluster, lines } = setup();
  try {
    const before = cluster.status().membership.voters;
    const leader = cluster.status().leaderId;
    await runToEnd(runner, 'joint');
    const text = lines.join('\n');
    t.regex(text, /n\d+ and n\d+ joined as learners and caught up/);
    t.regex(text, /majority of the old voters and a majority of the new ones/);
    t.regex(text, /Scenario joint done\./, `(seed ${SEED}) ${text}`);
    t.false(lines.some((line) => line.startsWith('ERROR')), `(seed ${SEED}) ${text}`);
    const after = cluster.status().membership.voters;
    t.is(after.length, before.length, 'two voters out, two in');
    t.false(after.includes(leader), 'the old leader left');
    t.is(after.filter((id) => !before.includes(id)).length, 2);
  } finally {
    await cluster.stop();
  }
});

test('demote makes the leader and a follower learners in one joint change, writes without them, then promotes them back, on the fake', async (t) => {
  const { runner, cluster, lines } = setup();
  try {
    const before = cluster.status().membership;
    await runToEnd(runner, 'demote');
    const text = lines.join('\n');
    t.regex(text, /outgoing voters and learners at once/, `(seed ${SEED}) ${text}`);
    t.regex(text, /put demote-\d+ -> ok: the 3 voters commit alone/, `(seed ${SEED}) ${text}`);
    t.regex(text, /are voters again/);
    t.regex(text, /Scenario demote done\./, `(seed ${SEED}) ${text}`);
    t.false(lines.some((line) => line.startsWith('ERROR')), `(seed ${SEED}) ${text}`);
    t.deepEqual(cluster.status().membership, before, 'the same voters as before, none lost');
  } finally {
    await cluster.stop();
  }
});

test('membership adds a learner, promotes it and has the leader remove itself, on the fake', async (t) => {
  const { runner, cluster, lines } = setup();
  try {
    const before = cluster.status().membership.voters;
    await runToEnd(runner, 'membership');
    const text = lines.join('\n');
    t.regex(text, /n(\d) started with an empty log and joined as a learner/);
    t.regex(text, /is a voter: voters .*A commit now needs \d of \d/);
    t.regex(text, /Scenario membership done\./, `(seed ${SEED}) ${text}`);
    t.false(lines.some((line) => line.startsWith('ERROR')), `(seed ${SEED}) ${text}`);
    const after = cluster.status().membership.voters;
    t.is(after.length, before.length, 'one voter added, one removed');
    t.notDeepEqual(after, before);
  } finally {
    await cluster.stop();
  }
});

test('leader-crash runs step by step on the fake and restores the crashed node', async (t) => {
  const { runner, cluster, lines, progress } = setup();
  try {
    await runToEnd(runner, 'leader-crash');
    const text = lines.join('\n');
    t.regex(text, /Scenario leader-crash: .* 3 steps; press n/);
    t.regex(text, /n\d leads term \d+/);
    t.regex(text, /n\d won term \d+\. Votes: .*§5\.4\.1/);
    t.regex(text, /Scenario leader-crash done\./);
    t.false(lines.some((line) => line.startsWith('ERROR')), `(seed ${SEED}) ${text}`);
    t.true(cluster.status().nodes.every((node) => node.alive));
    t.deepEqual(progress.at(-1), null);
    t.deepEqual(progress.filter((current) => current !== null && !current.busy).map((current) => current?.stepsDone), [0, 1, 2]);
  } finally {
    await cluster.stop();
  }
});

test('partitioned-leader heals and reports the stranded writes', async (t) => {
  const { runner, cluster, lines } = setup();
  try {
    await runToEnd(runner, 'partitioned-leader');
    const text = lines.join('\n');
    t.regex(text, /Isolated the leader n\d and sent it 3 writes/);
    t.regex(text, /The writes sent to n\d: /);
    t.regex(text, /Scenario partitioned-leader done\./, `(seed ${SEED}) ${text}`);
    t.is(cluster.status().partition, null);
  } finally {
    await cluster.stop();
  }
});

test('runner: unknown name, advance with nothing running, busy step, stop, failing step', async (t) => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const scripted: ScenarioDefinition = {
    name: 'scripted',
    summary: 'a test script of two steps',
    build: () => [
      async (context) => {
        context.narrate('first');
        await gate;
      },
      async () => {
        throw new Error('boom');
      },
    ],
  };
  const { runner, cluster, lines } = setup([scripted]);
  try {
    runner.start('nope');
    runner.advance();
    runner.start('scripted');
    runner.advance();
    runner.advance();
    release();
    await runner.idle;
    runner.advance();
    await runner.idle;
    t.false(runner.running);
    t.deepEqual(lines, [
      "ERROR no scenario 'nope'",
      'ERROR no scenario is running; :scenario lists them',
      'Scenario scripted: a test script of two steps. 2 steps; press n (or :next) for each.',
      'first',
      'still running the current step...',
      '(step 1/2 done: press n for the next)',
      'ERROR Scenario scripted stopped: step failed: boom.',
      'It left no fault behind.',
    ]);
    runner.start('scripted');
    t.true(runner.stop());
    t.false(runner.running);
    await runner.idle;
    t.false(runner.stop(), 'nothing left to stop');
  } finally {
    await cluster.stop();
  }
});

test('minority-read cuts the leader off in a true minority: alone of 3 voters, with one follower of 5', async (t) => {
  for (const [nodes, expected] of [
    [3, /cut the leader n\d off in a minority \(1 of 3 voters\) from the rest: n\d, n\d\./],
    [5, /cut the leader n\d \(with n\d\) off in a minority \(2 of 5 voters\) from the rest: n\d, n\d, n\d\./],
  ] as const) {
    const { runner, cluster, lines } = setup(undefined, nodes);
    try {
      await runToEnd(runner, 'minority-read');
      const text = lines.join('\n');
      t.regex(text, expected, `(seed ${SEED}) ${text}`);
      t.regex(text, /The majority has a new leader/, `(seed ${SEED}) ${text}`);
      t.regex(text, /Scenario minority-read done\./, `(seed ${SEED}) ${text}`);
      t.false(lines.some((line) => line.startsWith('ERROR')), `(seed ${SEED}) ${text}`);
      t.is(cluster.status().partition, null);
    } finally {
      await cluster.stop();
    }
  }
});

test('every scenario, on 3 nodes and on 7, runs to its end or refuses before it changes anything, and leaves no fault behind', async (t) => {
  const refusedOn = new Map<number, string[]>([
    [3, []],
    [7, []],
  ]);
  for (const nodes of [3, 7]) {
    for (const scenario of SCENARIOS) {
      const { runner, cluster, lines } = setup(undefined, nodes);
      const what = `${scenario.name} on ${nodes} nodes (seed ${SEED})`;
      try {
        runner.start(scenario.name);
        if (!runner.running) {
          // Refused when started: that one line and nothing else, nothing changed.
          t.deepEqual(lines, [`ERROR Scenario ${scenario.name} refused: ${scenario.name} takes 5 voters or more, the cluster has ${nodes} (start with --nodes 5, or :add nodes).`], what);
          t.deepEqual(cluster.operations, [], `${what}: refused before it changed anything`);
          refusedOn.get(nodes)?.push(scenario.name);
        }
        for (let step = 0; runner.running && step < 10; step++) {
          runner.advance();
          await runner.idle;
        }
        const text = lines.join('\n');
        if (lines.length > 1) t.regex(text, new RegExp(`Scenario ${scenario.name} done\\.`), `${what}: ${text}`);
        t.false(lines.some((line) => line.startsWith('ERROR') && !/ refused: \S+ takes 5 voters or more/.test(line)), `${what}: ${text}`);
        const status = cluster.status();
        t.is(status.partition, null, what);
        t.deepEqual(status.cutLinks, [], what);
        t.is(status.tickMs, 2, what);
        t.true(status.nodes.every((node) => node.alive), what);
      } finally {
        await cluster.stop();
      }
    }
  }
  t.deepEqual(Object.fromEntries(refusedOn), { 3: ['conflicting-follower', 'figure8'], 7: [] });
});

test('a scenario the cluster cannot show is refused when started: nothing announced, nothing changed, a running one left running', async (t) => {
  const { runner, cluster, lines, progress } = setup(undefined, 3);
  try {
    runner.start('figure8');
    t.false(runner.running);
    t.deepEqual(lines, ['ERROR Scenario figure8 refused: figure8 takes 5 voters or more, the cluster has 3 (start with --nodes 5, or :add nodes).']);
    t.deepEqual(progress, []);
    runner.advance();
    t.is(lines.at(-1), 'ERROR no scenario is running; :scenario lists them', 'no step to take');
    // While another runs: that one goes on, untouched.
    const leader = await splitVoteMidway(runner, cluster);
    const before = { operations: [...cluster.operations], lines: lines.length, progress: progress.length };
    runner.start('conflicting-follower');
    await runner.idle;
    t.true(runner.running, 'split-vote still runs');
    t.deepEqual(lines.slice(before.lines), ['ERROR Scenario conflicting-follower refused: conflicting-follower takes 5 voters or more, the cluster has 3 (start with --nodes 5, or :add nodes).']);
    t.deepEqual(cluster.operations, before.operations);
    t.is(progress.length, before.progress);
    t.deepEqual(downIds(cluster), [leader]);
  } finally {
    await cluster.stop();
  }
});

test('too few running voters is refused when started, judged as the cluster will be once a running scenario is put back', async (t) => {
  const { runner, cluster, lines } = setup(undefined, 5);
  try {
    await cluster.crash(4);
    await cluster.crash(5);
    const operations = [...cluster.operations];
    runner.start('leader-crash');
    t.false(runner.running);
    t.deepEqual(lines, ['ERROR Scenario leader-crash refused: leader-crash takes 4 running voters of the 5, 3 run: :restart all first.']);
    runner.start('minority-read');
    t.is(lines.at(-1), 'ERROR Scenario minority-read refused: minority-read takes 5 running voters of the 5, 3 run: :restart all first.');
    t.deepEqual(cluster.operations, operations, 'nothing changed');
    await cluster.restart(4);
    // split-vote crashes the leader: 3 of 5 run while it is midway, 4 once it is put back.
    await splitVoteMidway(runner, cluster);
    runner.start('exactly-once');
    await runner.idle;
    t.is(lines.at(-1), 'Scenario exactly-once: the leader dies after commit, before replying; the retry is answered from the session. 3 steps; press n (or :next) for each.', `(seed ${SEED}) ${lines.join('\n')}`);
    t.true(runner.running);
    runner.stop();
    await runner.idle;
  } finally {
    await cluster.stop();
  }
});

test('demote with too few of the voters it keeps running is refused when started, not midway with MEMBERSHIP_CHANGE_UNSAFE', async (t) => {
  for (const nodes of [3, 5]) {
    const { runner, cluster, lines } = setup(undefined, nodes);
    try {
      const leader = cluster.status().leaderId;
      // Of 5, two followers down: the 3 voters it would keep (one of them down... or two) cannot commit alone.
      const down = [1, 2, 3, 4, 5].filter((id) => id <= nodes && id !== leader).slice(0, nodes === 3 ? 1 : 2);
      for (const id of down) await cluster.crash(id);
      const operations = [...cluster.operations];
      runner.start('demote');
      await runner.idle;
      const running = nodes - down.length;
      t.false(runner.running, `(seed ${SEED}) ${lines.join('\n')}`);
      t.deepEqual(lines, [`ERROR Scenario demote refused: demote takes ${Math.floor(nodes / 2) + 2} running voters of the ${nodes}, ${running} run: :restart all first.`]);
      t.deepEqual(cluster.operations, operations, 'nothing changed');
    } finally {
      await cluster.stop();
    }
  }
  // One voter down of 5: the 3 it keeps still hold a running majority, and the follower it demotes is a running one.
  const { runner, cluster, lines } = setup(undefined, 5);
  try {
    const leader = cluster.status().leaderId;
    const down = [1, 2, 3, 4, 5].find((id) => id !== leader)!;
    await cluster.crash(down);
    await runToEnd(runner, 'demote');
    const text = lines.join('\n');
    t.regex(text, /Scenario demote done\./, `(seed ${SEED}) ${text}`);
    t.false(lines.some((line) => line.startsWith('ERROR')), `(seed ${SEED}) ${text}`);
    t.false(cluster.operations.some((operation) => operation.startsWith('voters') && operation.includes(` learners`) && new RegExp(`\\b${down}\\b`).test(operation.split(' learners ')[1] ?? '')), 'the down voter is not the one demoted');
  } finally {
    await cluster.stop();
  }
});

test("a scenario's precondition is checked again at its first step: the cluster may have changed since it was started", async (t) => {
  const { runner, cluster, lines } = setup(undefined, 5);
  try {
    runner.start('conflicting-follower');
    t.true(runner.running);
    await cluster.crash(1);
    await cluster.crash(2);
    const operations = [...cluster.operations];
    runner.advance();
    await runner.idle;
    t.false(runner.running);
    t.deepEqual(lines.slice(1), ['ERROR Scenario conflicting-follower stopped before its first step: conflicting-follower takes 5 running voters of the 5, 3 run: :restart all first.']);
    t.deepEqual(cluster.operations, operations, 'the step changed nothing');
  } finally {
    await cluster.stop();
  }
});

test('a scenario that stops early puts back what it changed and says so: network, slow motion, crashed nodes', async (t) => {
  const breaking: ScenarioDefinition = {
    name: 'breaking',
    summary: 'partitions, slows down, crashes a node, then fails',
    build: () => [
      async (context) => {
        context.cluster.partition([[1, 2], [3, 4, 5]]);
        context.cluster.cutLink(4, 5);
        context.cluster.setTickMs(100);
        await context.cluster.crash(3);
        throw new Error('the cluster did something unexpected');
      },
    ],
  };
  const { runner, cluster, lines } = setup([breaking]);
  try {
    await cluster.crash(5);
    runner.start('breaking');
    runner.advance();
    await runner.idle;
    t.false(runner.running);
    t.deepEqual(lines.slice(-2), ['ERROR Scenario breaking stopped: step failed: the cluster did something unexpected.', 'Put back what it changed: healed the network, set the tick back to 2 ms, restarted n3.']);
    const status = cluster.status();
    t.is(status.partition, null);
    t.deepEqual(status.cutLinks, []);
    t.is(status.tickMs, 2);
    t.deepEqual(status.nodes.filter((node) => !node.alive).map((node) => node.id), [5], 'n5 was down before the scenario: it stays down');
  } finally {
    await cluster.stop();
  }
});

const downIds = (cluster: FakeCluster): number[] => cluster.status().nodes.filter((node) => !node.alive).map((node) => node.id);

/** Starts split-vote and runs its first two steps (the leader crashed, the tick slowed to 100 ms); returns the node it crashed. */
async function splitVoteMidway(runner: ScenarioRunner, cluster: FakeCluster): Promise<number> {
  const downBefore = downIds(cluster);
  runner.start('split-vote');
  for (let step = 0; step < 2; step++) {
    runner.advance();
    await runner.idle;
  }
  const crashed = downIds(cluster).filter((id) => !downBefore.includes(id));
  if (crashed.length !== 1 || crashed[0] === undefined) throw new Error(`(seed ${SEED}) split-vote crashed ${crashed.join(', ') || 'nothing'}`);
  return crashed[0];
}

test(':scenario stop midway puts back what the scenario changed and says so; a node down before it stays down', async (t) => {
  const { runner, cluster, lines } = setup();
  try {
    await cluster.crash(5);
    const leader = await splitVoteMidway(runner, cluster);
    t.true(runner.running, `(seed ${SEED}) ${lines.join('\n')}`);
    t.is(cluster.status().tickMs, 100);
    t.true(runner.stop());
    t.false(runner.running);
    await runner.idle;
    t.deepEqual(lines.slice(-2), ['Scenario split-vote stopped after 2 of 3 steps (:scenario stop).', `Put back what it changed: set the tick back to 2 ms, restarted n${leader}.`]);
    const status = cluster.status();
    t.is(status.tickMs, 2);
    t.deepEqual(status.nodes.filter((node) => !node.alive).map((node) => node.id), [5], 'n5 was down before the scenario: it stays down');
  } finally {
    await cluster.stop();
  }
});

test('starting another scenario midway puts back what the first changed before the second looks at the cluster', async (t) => {
  const { runner, cluster, lines, progress } = setup();
  try {
    const leader = await splitVoteMidway(runner, cluster);
    runner.start('leader-crash');
    await runner.idle;
    t.deepEqual(lines.slice(-3), [
      'Scenario split-vote stopped after 2 of 3 steps: replaced by leader-crash.',
      `Put back what it changed: set the tick back to 2 ms, restarted n${leader}.`,
      'Scenario leader-crash: the leader dies; who votes for whom in the next election, and why. 3 steps; press n (or :next) for each.',
    ]);
    t.deepEqual(progress.at(-1), { name: 'leader-crash', stepsDone: 0, stepsTotal: 3, busy: false });
    t.is(cluster.status().tickMs, 2);
    t.true(cluster.status().nodes.every((node) => node.alive));
    // What leader-crash puts back is measured from here: stopping it at once changes nothing.
    runner.stop();
    await runner.idle;
    t.is(lines.at(-1), 'It left no fault behind.');
  } finally {
    await cluster.stop();
  }
});

test('a step still running when the scenario is stopped changes nothing after the stop, and is put back', async (t) => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let stepError: unknown = null;
  const slow: ScenarioDefinition = {
    name: 'slow',
    summary: 'partitions, waits, then would slow the tick and crash a node',
    build: () => [
      async (context) => {
        context.cluster.partition([[1, 2], [3, 4, 5]]);
        await gate;
        try {
          context.cluster.setTickMs(100);
          await context.cluster.crash(3);
        } catch (error: unknown) {
          stepError = error;
          throw error;
        }
        context.narrate('never said');
      },
    ],
  };
  const { runner, cluster, lines } = setup([slow]);
  try {
    runner.start('slow');
    runner.advance();
    t.true(runner.stop());
    const putBack = runner.idle;
    runner.start('slow');
    t.is(lines.at(-1), 'still putting back what scenario slow changed; try again in a moment');
    release();
    await putBack;
    t.regex(String(stepError), /the scenario was stopped/);
    t.deepEqual(lines.slice(-3), [
      'Scenario slow stopped during step 1 of 1 (:scenario stop).',
      'still putting back what scenario slow changed; try again in a moment',
      'Put back what it changed: healed the network.',
    ]);
    const status = cluster.status();
    t.is(status.partition, null);
    t.is(status.tickMs, 2);
    t.true(status.nodes.every((node) => node.alive));
  } finally {
    await cluster.stop();
  }
});
