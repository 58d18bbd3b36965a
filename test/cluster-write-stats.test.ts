import test from 'ava';
import { WriteStats } from '../lib/cluster/write-stats.js';

test('ops/s counts only the writes of the last second', (t) => {
  const stats = new WriteStats();
  for (let i = 0; i < 50; i++) stats.record(10_000 + i * 10, 1); // 50 writes over 0.5 s
  t.is(stats.opsPerSecond(10_500), 50);
  t.is(stats.opsPerSecond(11_200), 30); // writes before 10,200 have left the window
  t.is(stats.opsPerSecond(11_250), 25); // and half of those from 10,200 to 10,300, as bucketed
  t.is(stats.opsPerSecond(20_000), 0);
});

test('a steady rate shows as that rate whenever it is read, not 90-100% of it', (t) => {
  const stats = new WriteStats();
  // 200 writes/s, one every 5 ms, read every 7 ms after the first second.
  let nextWriteMs = 0;
  for (let nowMs = 1000; nowMs < 3000; nowMs += 7) {
    for (; nextWriteMs <= nowMs; nextWriteMs += 5) stats.record(nextWriteMs, 1);
    // The writes in (now - 1000, now] are 200, give or take the one on the edge.
    const rate = stats.opsPerSecond(nowMs);
    t.true(Math.abs(rate - 200) <= 1.5, `read at ${nowMs} ms: ${rate} ops/s`);
  }
});

test('latency quantiles cover the window and only the window', (t) => {
  const stats = new WriteStats();
  t.deepEqual(stats.latencyQuantiles(0, 10_000), { p50: null, p99: null });
  for (let i = 1; i <= 100; i++) stats.record(1000, i);
  stats.record(50_000, 7);
  t.deepEqual(stats.latencyQuantiles(1000, 10_000), { p50: 51, p99: 100 });
  t.deepEqual(stats.latencyQuantiles(50_000, 10_000), { p50: 7, p99: 7 });
});

test('a long run keeps memory bounded and stays correct', (t) => {
  const stats = new WriteStats();
  for (let i = 0; i < 100_000; i++) stats.record(i / 10, i % 10); // 10,000 writes per ms-second
  // 10 writes a ms: the last second holds 10,000 (the oldest bucket's share rounds to a write).
  t.true(Math.abs(stats.opsPerSecond(9_999.9) - 10_000) <= 1.5);
  const { p50, p99 } = stats.latencyQuantiles(9_999.9, 1000);
  t.is(p50, 5);
  t.is(p99, 9);
});
