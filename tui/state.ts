// The dashboard's own state: what is selected, which overlay is open, the recent
// events, and the last minute of metrics. Plain data and small classes with bounded
// memory, so the panes can be pure functions of (ClusterStatus, this state).

import type { ClusterEvent, EventKind } from '../lib/cluster/types.js';
import type { NodeId } from '../lib/raft/types.js';

/** Events kept for the feed; older ones are dropped. */
export const FEED_CAPACITY = 1000;
/** One chart sample per second, for the last minute. */
export const CHART_WINDOW_SAMPLES = 60;

export const FeedSource = {
  Cluster: 'cluster',
  Dashboard: 'dashboard',
  Scenario: 'scenario',
} as const;
export type FeedSource = (typeof FeedSource)[keyof typeof FeedSource];

export interface FeedEntry {
  readonly timeMs: number;
  readonly source: FeedSource;
  readonly kind: EventKind;
  readonly node: NodeId;
  readonly text: string;
  /** Errors the dashboard reports about its own commands are shown in red too. */
  readonly error: boolean;
}

export class EventFeed {
  readonly #entries: FeedEntry[] = [];
  #dropped = 0;

  constructor(readonly capacity: number = FEED_CAPACITY) {
    if (capacity < 1) throw new Error(`EventFeed: capacity must be >= 1, got ${capacity}`);
  }

  push(entry: FeedEntry): void {
    this.#entries.push(entry);
    if (this.#entries.length > this.capacity) {
      this.#entries.shift();
      this.#dropped += 1;
    }
  }

  pushClusterEvent(event: ClusterEvent): void {
    this.push({ timeMs: event.time, source: FeedSource.Cluster, kind: event.kind, node: event.node, text: event.text, error: false });
  }

  /**
   * The newest `count` entries, oldest first; with `end`, the newest `count` of those
   * pushed before the end-th (a `total` read earlier: where a feed scrolled back stays).
   */
  recent(count: number, end: number = this.total): readonly FeedEntry[] {
    const stop = Math.max(0, Math.min(this.#entries.length, end - this.#dropped));
    return count <= 0 ? [] : this.#entries.slice(Math.max(0, stop - count), stop);
  }

  /** Entries ever pushed, the dropped ones included: a position in the feed that later pushes do not move. */
  get total(): number {
    return this.#entries.length + this.#dropped;
  }

  get size(): number {
    return this.#entries.length;
  }

  get dropped(): number {
    return this.#dropped;
  }
}

export interface MetricsSample {
  readonly opsPerSecond: number;
  readonly latencyMsP50: number | null;
  readonly latencyMsP99: number | null;
}

/** The last minute of throughput and latency, one sample a second, for the charts. */
export class MetricsHistory {
  readonly #samples: MetricsSample[] = [];

  constructor(readonly capacity: number = CHART_WINDOW_SAMPLES) {
    if (capacity < 2) throw new Error(`MetricsHistory: capacity must be >= 2, got ${capacity}`);
  }

  push(sample: MetricsSample): void {
    this.#samples.push(sample);
    if (this.#samples.length > this.capacity) this.#samples.shift();
  }

  /** Always `capacity` points, oldest first, padded with zeros before the first sample. */
  series(): { readonly x: readonly string[]; readonly ops: readonly number[]; readonly p50: readonly number[]; readonly p99: readonly number[] } {
    const padding = this.capacity - this.#samples.length;
    const x: string[] = [];
    const ops: number[] = [];
    const p50: number[] = [];
    const p99: number[] = [];
    for (let slot = 0; slot < this.capacity; slot++) {
      // Labels count seconds back from now: "-59" ... "0".
      x.push(String(slot - this.capacity + 1));
      const sample = slot < padding ? undefined : this.#samples[slot - padding];
      ops.push(sample?.opsPerSecond ?? 0);
      p50.push(sample?.latencyMsP50 ?? 0);
      p99.push(sample?.latencyMsP99 ?? 0);
    }
    return { x, ops, p50, p99 };
  }

  get size(): number {
    return this.#samples.length;
  }
}

/** A stall longer than this (a paused process, a long collection) is not made up for by the load afterwards. */
export const LOAD_CATCH_UP_MS = 250;

/**
 * How many background-load requests are due, by the time elapsed: a rate of R/s asks R
 * requests a second whenever its timer fires. Counted per timer tick instead, a timer
 * firing late (every 23 ms instead of 20 on a loaded machine) sent 12% fewer than the
 * `LOAD 200/s` badge said.
 */
export class LoadPacer {
  #carry = 0;
  #lastMs: number;

  constructor(
    readonly ratePerSecond: number,
    startMs: number,
  ) {
    if (!(ratePerSecond > 0)) throw new Error(`LoadPacer: rate must be > 0, got ${ratePerSecond}`);
    this.#lastMs = startMs;
  }

  /** The requests due at `nowMs` since the last call (whole ones; the fraction is carried). */
  due(nowMs: number): number {
    const elapsedMs = Math.min(LOAD_CATCH_UP_MS, Math.max(0, nowMs - this.#lastMs));
    this.#lastMs = Math.max(this.#lastMs, nowMs);
    this.#carry += (this.ratePerSecond * elapsedMs) / 1000;
    const whole = Math.floor(this.#carry);
    this.#carry -= whole;
    return whole;
  }
}

export const Overlay = {
  None: 'none',
  Help: 'help',
  Detail: 'detail',
  ConfirmQuit: 'confirm-quit',
} as const;
export type Overlay = (typeof Overlay)[keyof typeof Overlay];

export const MessageLevel = {
  Info: 'info',
  Ok: 'ok',
  Error: 'error',
} as const;
export type MessageLevel = (typeof MessageLevel)[keyof typeof MessageLevel];

export interface StatusMessage {
  readonly text: string;
  readonly level: MessageLevel;
  /** The same line is in the event feed, whole: a status line too narrow for it says so. */
  readonly inFeed?: boolean;
}

export interface ScenarioProgress {
  readonly name: string;
  /** Steps already run. */
  readonly stepsDone: number;
  readonly stepsTotal: number;
  /** True while a step's cluster operations are still running. */
  readonly busy: boolean;
}

/** Everything the panes need to know about the dashboard itself (not the cluster). */
export interface UiState {
  readonly selectedNode: NodeId;
  readonly overlay: Overlay;
  readonly commandLineOpen: boolean;
  readonly message: StatusMessage | null;
  /** Background client load in requests/s; 0 when off. */
  readonly loadRatePerSecond: number;
  readonly scenario: ScenarioProgress | null;
  /** The tick the cluster started with; a slower tick is shown as slow motion. */
  readonly normalTickMs: number;
  /** How far the event feed is scrolled back, in lines (0: following the newest). */
  readonly feedScrollLines: number;
}

export const initialUiState: UiState = {
  selectedNode: 1,
  overlay: Overlay.None,
  commandLineOpen: false,
  message: null,
  loadRatePerSecond: 0,
  scenario: null,
  normalTickMs: 0,
  feedScrollLines: 0,
};
