// The dashboard: blessed widgets fed by the pure panes (panes.ts), keys and the `:`
// command line (commands.ts), a steady background load, and guided scenarios. It only
// talks to the cluster through DashboardCluster, so it runs the same against the real
// supervisor and against the fake in tests.

import blessed from 'blessed';
import contrib from 'blessed-contrib';
import { EventKind } from '../lib/cluster/types.js';
import type { ClusterEvent, ClusterStatus } from '../lib/cluster/types.js';
import { createPrng } from '../lib/raft/prng.js';
import type { DashboardCluster, DashboardKv, LinkFaults } from './cluster-port.js';
import { describeClientError } from './cluster-port.js';
import { escapeTags } from './format.js';
import { COMMANDS, CommandHistory, NO_LINK_FAULTS, complete, executeLine } from './commands.js';
import type { CommandContext } from './commands.js';
import { renderDetail, renderEventFeed, renderHelp, renderLogStrip, renderMessageLine, renderNodeTable, renderReplication, renderStatusBar } from './panes.js';
import type { HelpKey } from './panes.js';
import { ScenarioRunner } from './scenarios.js';
import { EventFeed, FeedSource, LoadPacer, MessageLevel, MetricsHistory, Overlay, initialUiState } from './state.js';
import type { UiState } from './state.js';

/** 5-10 redraws a second, as the issue asks; blessed only writes the cells that changed. */
export const DEFAULT_REFRESH_MS = 150;
/** Charts move once a second: they show the last minute, a finer step would only cost CPU. */
export const CHART_SAMPLE_MS = 1000;
/** Deadline of the dashboard's own client calls (`:put`, `:get`, load). */
export const CLIENT_TIMEOUT_MS = 5000;
/** Background-load requests allowed in flight; beyond it, ticks are skipped, not queued. */
export const MAX_LOAD_INFLIGHT = 64;
const LOAD_TICK_MS = 20;
/**
 * The `:` line's length cap. A command is typed by hand; a pasted value larger than this
 * belongs in the library API (`cluster.client().put(key, value)`), and refusing it keeps a
 * paste of megabytes from filling the screen's memory and every redraw.
 */
export const MAX_COMMAND_LINE_CHARS = 4096;
/** Keys the background load and the `p` key write to. */
const RANDOM_KEY_COUNT = 100;

export const KEY_HELP: readonly HelpKey[] = [
  { key: 'j/k up/down', action: 'select a node' },
  { key: 'Enter', action: 'detail view of the selected node' },
  { key: 'c', action: 'crash the selected node' },
  { key: 'r', action: 'restart the selected node' },
  { key: 'i', action: 'isolate the selected node' },
  { key: 'h', action: 'heal every partition and link fault' },
  { key: 'e', action: "force the selected node's election timeout" },
  { key: 't', action: 'transfer leadership to the selected node' },
  { key: 'x', action: 'crash the leader' },
  { key: 'p', action: 'put a random key' },
  { key: 'n / space', action: 'next step of the running scenario' },
  { key: 'PgUp/PgDn End', action: 'scroll the event feed back / forward / to the newest' },
  { key: ':', action: 'command line' },
  { key: '?', action: 'this help' },
  { key: 'Esc', action: 'close an overlay or the command line' },
  { key: 'q', action: 'quit (asks first); Ctrl-C quits at once' },
];

export interface DashboardOptions {
  readonly cluster: DashboardCluster;
  /** Where blessed reads keys and writes the screen; default the process's TTY. */
  readonly input?: NodeJS.ReadableStream;
  readonly output?: NodeJS.WritableStream;
  readonly refreshMs?: number;
  /** Seeds the random keys of `p` and the load. */
  readonly seed?: number;
}

interface DashboardWidgets {
  readonly statusBar: blessed.Widgets.BoxElement;
  readonly nodes: blessed.Widgets.BoxElement;
  readonly replication: blessed.Widgets.BoxElement;
  readonly throughput: contrib.Widgets.LineElement;
  readonly latency: contrib.Widgets.LineElement;
  readonly logStrip: blessed.Widgets.BoxElement;
  readonly feed: blessed.Widgets.BoxElement;
  readonly message: blessed.Widgets.BoxElement;
  readonly commandLine: blessed.Widgets.BoxElement;
  readonly overlay: blessed.Widgets.BoxElement;
}

type KeyEvent = { readonly name?: string; readonly ctrl?: boolean; readonly full?: string };

export class Dashboard {
  readonly #cluster: DashboardCluster;
  readonly #kv: DashboardKv;
  readonly #screen: blessed.Widgets.Screen;
  readonly #commandContext: CommandContext;
  readonly #widgets: DashboardWidgets;
  readonly #feed = new EventFeed();
  readonly #metrics = new MetricsHistory();
  readonly #history = new CommandHistory();
  readonly #scenarios: ScenarioRunner;
  readonly #random: () => number;
  readonly #startedMs = performance.now();
  readonly #refreshMs: number;
  #ui: UiState;
  #commandText = '';
  #linkFaults: LinkFaults = NO_LINK_FAULTS;
  #status: ClusterStatus;
  #timers: NodeJS.Timeout[] = [];
  #loadTimer: NodeJS.Timeout | null = null;
  #loadInflight = 0;
  #loadErrors = 0;
  #closed = false;
  #resolveDone: () => void = () => undefined;
  /** Resolves when the user confirmed quitting. The caller stops the cluster. */
  readonly done: Promise<void>;
  /** Cluster time minus our clock, so dashboard lines sort in with cluster events. */
  #clockOffsetMs = 0;
  readonly #onEvent = (event: ClusterEvent): void => {
    this.#clockOffsetMs = Math.max(this.#clockOffsetMs, event.time - (performance.now() - this.#startedMs));
    this.#feed.pushClusterEvent(event);
    this.#scenarios.observe(event);
  };

  constructor(options: DashboardOptions) {
    this.#cluster = options.cluster;
    this.#kv = options.cluster.client({ timeoutMs: CLIENT_TIMEOUT_MS });
    this.#refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
    this.#random = createPrng(options.seed ?? Date.now() & 0x7fffffff);
    this.#status = this.#cluster.status();
    this.#ui = { ...initialUiState, selectedNode: this.#status.nodes[0]?.id ?? 1, normalTickMs: this.#status.tickMs };
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    this.#scenarios = new ScenarioRunner({
      cluster: this.#cluster,
      kv: this.#kv,
      status: () => this.#cluster.status(),
      narrate: (text, error) => this.#pushFeed(FeedSource.Scenario, text, error),
      progress: (scenario) => {
        this.#ui = { ...this.#ui, scenario };
      },
      normalTickMs: this.#ui.normalTickMs,
    });
    // @types/blessed has input and output swapped (Writable input): the cast is for that.
    this.#screen = blessed.screen(<blessed.Widgets.IScreenOptions>(<unknown>{
      ...(options.input === undefined ? {} : { input: options.input }),
      ...(options.output === undefined ? {} : { output: options.output }),
      smartCSR: true,
      title: 'raftlab',
      // NCURSES_NO_UTF8_ACS=1 says "this terminal draws lines from UTF-8, not ACS" (tmux,
      // screen): blessed honours it; force unicode so its box characters are not
      // replaced by ASCII approximations when LANG happens to be unset.
      ...(prefersUnicode() ? { forceUnicode: true } : {}),
      fullUnicode: false,
      dockBorders: true,
      autoPadding: true,
      warnings: false,
    }));
    this.#widgets = this.#buildWidgets();
    this.#commandContext = this.#makeCommandContext();
    this.#screen.on('keypress', (character: string | undefined, key: KeyEvent | undefined) => {
      this.handleKey(character, key ?? {});
    });
    this.#screen.on('resize', () => {
      // A layout bug must not end the dashboard (and its cluster, uncleanly) on a resize:
      // said once in the feed, as a drawing error is.
      try {
        this.#layout();
      } catch (error: unknown) {
        this.#pushFeed(FeedSource.Dashboard, `dashboard error (layout): ${error instanceof Error ? error.message : String(error)}`, true);
      }
      this.refresh();
    });
    for (const event of options.cluster.startEvents ?? []) this.#feed.pushClusterEvent(event);
    this.#cluster.on('event', this.#onEvent);
    this.#layout();
  }

  /** Starts the redraw and chart timers. */
  start(): void {
    this.#sampleMetrics();
    this.refresh();
    this.#timers.push(setInterval(() => this.refresh(), this.#refreshMs));
    this.#timers.push(setInterval(() => this.#sampleMetrics(), CHART_SAMPLE_MS));
  }

  /** Stops timers, load and scenario, detaches from the cluster and gives the terminal back. */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    this.#setLoad(0);
    this.#scenarios.abandon();
    this.#cluster.off('event', this.#onEvent);
    try {
      this.#screen.destroy();
    } catch (error) {
      // Restoring a terminal that is gone (its pseudo-terminal closed: EIO) has nothing to restore.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EIO' && code !== 'EPIPE') throw error;
    }
  }

  get ui(): UiState {
    return this.#ui;
  }

  /** Redraws every pane from the cluster's current status. */
  refresh(): void {
    if (this.#closed) return;
    try {
      this.#draw();
    } catch (error: unknown) {
      // A drawing bug must not take the cluster down with it in the middle of a demo:
      // say so once in the feed and keep going.
      const text = `dashboard error: ${error instanceof Error ? error.message : String(error)}`;
      if (text !== this.#lastDrawError) this.#pushFeed(FeedSource.Dashboard, text, true);
      this.#lastDrawError = text;
    }
  }

  #lastDrawError = '';
  /** While the feed is scrolled back: its `total` when the scrolling began, the entry the view counts back from. */
  #feedAnchor: number | null = null;
  #latencyLabel = LATENCY_LABEL;
  #laidOutNodeCount = 0;
  #feedLabel = ' events ';

  #draw(): void {
    this.#status = this.#cluster.status();
    const status = this.#status;
    // Nodes come and go with :add and :remove: the panes follow the node count, and a
    // selection on a node that left moves to the first one.
    if (status.nodes.length !== this.#laidOutNodeCount) this.#layout();
    if (!status.nodes.some((node) => node.id === this.#ui.selectedNode) && status.nodes[0] !== undefined) {
      this.#ui = { ...this.#ui, selectedNode: status.nodes[0].id, overlay: this.#ui.overlay === Overlay.Detail ? Overlay.None : this.#ui.overlay };
    }
    const { statusBar, nodes, replication, logStrip, feed, message, commandLine, overlay } = this.#widgets;
    statusBar.setContent(renderStatusBar(status, this.#ui, Number(statusBar.width)));
    nodes.setContent(renderNodeTable(status, this.#ui, innerWidth(nodes)).join('\n'));
    replication.setContent(renderReplication(status, innerWidth(replication)).join('\n'));
    logStrip.setContent(renderLogStrip(status, innerWidth(logStrip), innerHeight(logStrip)).join('\n'));
    const scroll = Math.min(this.#ui.feedScrollLines, this.#feed.size);
    // Scrolled back, the feed stays where it was scrolled to: counted back from the newest
    // entry at that moment, not from the newest now (a busy feed moved what was being read
    // up by a line per event, and off the pane).
    const end = scroll === 0 ? this.#feed.total : (this.#feedAnchor ?? this.#feed.total);
    const newer = this.#feed.total - end;
    const feedLabel = scroll === 0 ? ' events ' : ` events (${scroll} lines back${newer > 0 ? `, ${newer} newer` : ''}; End follows the newest) `;
    if (feedLabel !== this.#feedLabel) feed.setLabel(feedLabel);
    this.#feedLabel = feedLabel;
    feed.setContent(renderEventFeed(this.#feed.recent(innerHeight(feed) + scroll, end), innerHeight(feed), innerWidth(feed), scroll).join('\n'));
    if (this.#ui.message !== null && this.#ui.message.level !== MessageLevel.Error && performance.now() - this.#messageSetMs > MESSAGE_TTL_MS) this.#ui = { ...this.#ui, message: null };
    message.setContent(renderMessageLine(this.#ui, Number(message.width)));
    commandLine.setContent(this.#ui.commandLineOpen ? renderCommandLine(this.#commandText, Number(commandLine.width)) : '');
    switch (this.#ui.overlay) {
      case Overlay.Help:
        this.#showOverlay(' help (j/k scroll) ', renderHelp(KEY_HELP, COMMANDS, innerWidth(this.#widgets.overlay)).join('\n'));
        break;
      case Overlay.Detail:
        this.#showOverlay(` node n${this.#ui.selectedNode} `, renderDetail(status, this.#ui.selectedNode).join('\n'));
        break;
      case Overlay.None:
      case Overlay.ConfirmQuit:
        overlay.hide();
        break;
    }
    this.#screen.render();
  }

  /** Sets the overlay only when its text changed: keeps the help's scroll position. */
  #showOverlay(label: string, content: string): void {
    const overlay = this.#widgets.overlay;
    if (label !== this.#overlayLabel) {
      overlay.setLabel(label);
      overlay.setScroll(0);
      this.#overlayLabel = label;
    }
    if (content !== overlay.getContent()) overlay.setContent(content);
    overlay.show();
  }

  #overlayLabel = '';

  /** The text on screen, one string per row: what the headless tests read. */
  screenText(): string {
    const lines = (this.#screen as unknown as { lines: { [column: number]: [number, string] }[] }).lines;
    return lines.map((row) => Array.from({ length: Number(this.#screen.width) }, (_, column) => row[column]?.[1] ?? ' ').join('').trimEnd()).join('\n');
  }

  // ------------------------------------------------------------ input

  handleKey(character: string | undefined, key: KeyEvent): void {
    if (this.#closed) return;
    if (key.ctrl === true && key.name === 'c') {
      this.#quitNow();
      return;
    }
    if (this.#ui.overlay === Overlay.ConfirmQuit) {
      if (character === 'y' || character === 'Y') this.#quitNow();
      else this.#setUi({ overlay: Overlay.None, message: { text: 'quit cancelled', level: MessageLevel.Info } });
      this.#refreshSoon();
      return;
    }
    if (this.#ui.commandLineOpen) this.#editCommandLine(character, key);
    else this.#normalKey(character, key);
    this.#refreshSoon();
  }

  /**
   * One redraw after a burst of keys, not one per key: blessed hands over every key of a
   * read at once, and a paste is a read of thousands of keys. A redraw (every pane, about
   * a millisecond) per key made a 200,000-character paste take minutes, with Ctrl-C
   * queued behind it.
   */
  #refreshSoon(): void {
    if (this.#refreshQueued) return;
    this.#refreshQueued = true;
    setImmediate(() => {
      this.#refreshQueued = false;
      this.refresh();
    });
  }

  #refreshQueued = false;

  /** Runs one command line as if typed after ':' (and remembers it). Never throws. */
  runCommand(line: string): Promise<void> {
    this.#history.push(line);
    return this.#execute(line);
  }

  /** Single keys go through the same commands, without filling the history. */
  #execute(line: string): Promise<void> {
    return executeLine(line, this.#commandContext).then(() => this.refresh());
  }

  #normalKey(character: string | undefined, key: KeyEvent): void {
    const selected = this.#ui.selectedNode;
    if (this.#ui.overlay === Overlay.Help) {
      // The help can be longer than the screen: j/k and the arrows scroll it.
      const step = character === 'j' || key.name === 'down' ? 1 : character === 'k' || key.name === 'up' ? -1 : key.name === 'pagedown' || key.name === 'space' ? HELP_PAGE_LINES : key.name === 'pageup' ? -HELP_PAGE_LINES : 0;
      if (step !== 0) {
        this.#widgets.overlay.scroll(step);
        return;
      }
    }
    if (this.#ui.overlay === Overlay.Detail && (key.name === 'pagedown' || key.name === 'pageup')) {
      // So can a node's details (its WAL files come last; at 80x24 half the view was out
      // of reach): PgUp/PgDn scroll them, where they scrolled the event feed behind.
      this.#widgets.overlay.scroll(key.name === 'pagedown' ? HELP_PAGE_LINES : -HELP_PAGE_LINES);
      return;
    }
    const named: Record<string, string> = { escape: 'escape', enter: 'enter', up: 'k', down: 'j', space: 'n', pageup: 'pageup', pagedown: 'pagedown', end: 'end' };
    switch ((key.name === undefined ? undefined : named[key.name]) ?? character) {
      case 'escape':
        this.#setUi({ overlay: Overlay.None, message: null });
        return;
      case 'pageup':
        if (this.#ui.feedScrollLines === 0) this.#feedAnchor = this.#feed.total;
        this.#setUi({ feedScrollLines: Math.min(this.#feed.size, this.#ui.feedScrollLines + FEED_SCROLL_LINES) });
        return;
      case 'pagedown':
        this.#setUi({ feedScrollLines: Math.max(0, this.#ui.feedScrollLines - FEED_SCROLL_LINES) });
        if (this.#ui.feedScrollLines === 0) this.#feedAnchor = null;
        return;
      case 'end':
        this.#setUi({ feedScrollLines: 0 });
        this.#feedAnchor = null;
        return;
      case 'enter':
        this.#setUi({ overlay: this.#ui.overlay === Overlay.Detail ? Overlay.None : Overlay.Detail });
        return;
      case 'k':
        this.#moveSelection(-1);
        return;
      case 'j':
        this.#moveSelection(1);
        return;
      case ':':
        this.#commandText = '';
        this.#setUi({ commandLineOpen: true });
        return;
      case '?':
        this.#setUi({ overlay: this.#ui.overlay === Overlay.Help ? Overlay.None : Overlay.Help });
        return;
      case 'q':
        this.#setUi({ overlay: Overlay.ConfirmQuit });
        return;
      case 'c':
        void this.#execute(`crash ${selected}`);
        return;
      case 'r':
        void this.#execute(`restart ${selected}`);
        return;
      case 'i':
        void this.#execute(`isolate ${selected}`);
        return;
      case 'h':
        void this.#execute('heal');
        return;
      case 'e':
        void this.#execute(`campaign ${selected}`);
        return;
      case 't':
        void this.#execute(`transfer ${selected}`);
        return;
      case 'x':
        void this.#execute('crash leader');
        return;
      case 'p':
        void this.#execute(`put ${this.#randomKey()} ${Math.floor(this.#random() * 1000)}`);
        return;
      case 'n':
        this.#scenarios.advance();
        return;
      default:
        return;
    }
  }

  #editCommandLine(character: string | undefined, key: KeyEvent): void {
    switch (key.name) {
      case 'escape':
        this.#commandText = '';
        this.#setUi({ commandLineOpen: false });
        return;
      case 'enter': {
        const line = this.#commandText;
        this.#commandText = '';
        this.#setUi({ commandLineOpen: false });
        if (line.trim() !== '') void this.runCommand(line);
        return;
      }
      case 'return':
      case 'linefeed':
        // blessed reports Enter as both 'return' and 'enter': act on 'enter' only.
        return;
      case 'backspace':
        if (this.#commandText === '') this.#setUi({ commandLineOpen: false });
        this.#commandText = this.#commandText.slice(0, -1);
        return;
      case 'up':
        this.#commandText = this.#history.previous(this.#commandText);
        return;
      case 'down':
        this.#commandText = this.#history.next();
        return;
      case 'tab': {
        const completion = complete(this.#commandText, this.#status, this.#scenarios.list().map((scenario) => scenario.name));
        this.#commandText = completion.line;
        if (completion.candidates.length > 1) this.#setUi({ message: { text: completion.candidates.join('  '), level: MessageLevel.Info } });
        return;
      }
      default:
        break;
    }
    if (key.ctrl === true && key.name === 'u') {
      this.#commandText = '';
      return;
    }
    if (key.ctrl === true && key.name === 'w') {
      this.#commandText = this.#commandText.replace(/\S+\s*$/, '');
      return;
    }
    if (character !== undefined && character.length === 1 && character >= ' ' && key.ctrl !== true) this.#typeCharacter(character);
  }

  /** Appends a typed character, or refuses it past MAX_COMMAND_LINE_CHARS and says why. */
  #typeCharacter(character: string): void {
    if (this.#commandText.length < MAX_COMMAND_LINE_CHARS) {
      this.#commandText += character;
      this.#refusedCharacters = 0;
      return;
    }
    this.#refusedCharacters += 1;
    const text = `command line full: ${MAX_COMMAND_LINE_CHARS} characters at most, ${this.#refusedCharacters} refused; larger values go through the library API (client().put)`;
    this.#setUi({ message: { text, level: MessageLevel.Error } });
  }

  /** Characters refused since the command line last took one. */
  #refusedCharacters = 0;

  #moveSelection(step: number): void {
    const ids = this.#status.nodes.map((node) => node.id);
    const position = ids.indexOf(this.#ui.selectedNode);
    const next = ids[(position + step + ids.length) % ids.length];
    if (next !== undefined) this.#setUi({ selectedNode: next });
  }

  #quitNow(): void {
    this.#setUi({ overlay: Overlay.None, message: { text: 'stopping the cluster...', level: MessageLevel.Info } });
    this.#resolveDone();
  }

  // ------------------------------------------------------------ commands

  #makeCommandContext(): CommandContext {
    return {
    cluster: this.#cluster,
    kv: this.#kv,
    scenarios: {
      list: () => this.#scenarios.list(),
      start: (name) => this.#scenarios.start(name),
      advance: () => this.#scenarios.advance(),
      stop: () => this.#scenarios.stop(),
    },
    status: () => this.#cluster.status(),
    report: (text, level) => {
      this.#setUi({ message: { text, level, inFeed: level === MessageLevel.Error } });
      if (level === MessageLevel.Error) this.#pushFeed(FeedSource.Dashboard, text, true);
    },
    clientResult: (text, ok) => {
      this.#setUi({ message: { text, level: ok ? MessageLevel.Ok : MessageLevel.Error, inFeed: true } });
      this.#feed.push({ timeMs: this.#nowMs(), source: FeedSource.Dashboard, kind: EventKind.ClientResult, node: 0, text, error: !ok });
    },
    linkFaults: () => this.#linkFaults,
    setLinkFaults: (faults) => {
      this.#linkFaults = faults;
      const none = faults.dropRate === 0 && faults.delayMs === 0 && faults.duplicateRate === 0;
      this.#cluster.setLinkFaults(none ? null : faults);
    },
    setLoad: (rate) => this.#setLoad(rate),
    setTickMs: (tickMs) => {
      const target = tickMs ?? this.#ui.normalTickMs;
      this.#cluster.setTickMs(target);
      this.#commandContext.report(tickMs === null ? `normal speed (tick ${target} ms)` : `slow motion: tick ${target} ms`, MessageLevel.Ok);
    },
    select: (id) => this.#setUi({ selectedNode: id }),
    openHelp: () => this.#setUi({ overlay: Overlay.Help }),
    requestQuit: () => this.#setUi({ overlay: Overlay.ConfirmQuit }),
    };
  }

  // ------------------------------------------------------------ load and metrics

  #setLoad(ratePerSecond: number): void {
    if (this.#loadTimer !== null) clearInterval(this.#loadTimer);
    this.#loadTimer = null;
    this.#ui = { ...this.#ui, loadRatePerSecond: ratePerSecond };
    if (ratePerSecond <= 0 || this.#closed) return;
    const pacer = new LoadPacer(ratePerSecond, performance.now());
    this.#loadTimer = setInterval(() => {
      for (let due = pacer.due(performance.now()); due > 0; due--) {
        if (this.#loadInflight >= MAX_LOAD_INFLIGHT) continue;
        this.#loadInflight += 1;
        this.#kv.put(this.#randomKey(), Math.floor(this.#random() * 1_000_000)).then(
          () => {
            this.#loadInflight -= 1;
          },
          (error: unknown) => {
            this.#loadInflight -= 1;
            this.#loadErrors += 1;
            if (this.#loadErrors % LOAD_ERROR_REPORT_EVERY === 1) {
              const failure = describeClientError(error);
              this.#pushFeed(FeedSource.Dashboard, `load: ${this.#loadErrors} failed puts so far (latest ${failure.code})`, true);
            }
          },
        );
      }
    }, LOAD_TICK_MS);
  }

  #sampleMetrics(): void {
    if (this.#closed) return;
    const status = this.#status;
    this.#metrics.push({ opsPerSecond: status.opsPerSecond, latencyMsP50: status.latencyMsP50, latencyMsP99: status.latencyMsP99 });
    try {
      this.#drawCharts();
    } catch (error: unknown) {
      this.#pushFeed(FeedSource.Dashboard, `chart error: ${error instanceof Error ? error.message : String(error)}`, true);
    }
  }

  #drawCharts(): void {
    const series = this.#metrics.series();
    const x = [...series.x];
    this.#widgets.throughput.setData([{ title: 'ops/s', x, y: [...series.ops], style: { line: 'green' } }]);
    this.#widgets.latency.setData([
      { title: 'p50', x, y: [...series.p50], style: { line: 'cyan' } },
      { title: 'p99', x, y: [...series.p99], style: { line: 'yellow' } },
    ]);
  }

  // ------------------------------------------------------------ widgets

  #buildWidgets(): DashboardWidgets {
    const screen = this.#screen;
    const box = (label: string | null, extra: blessed.Widgets.BoxOptions = {}): blessed.Widgets.BoxElement =>
      blessed.box({ parent: screen, tags: true, wrap: false, ...(label === null ? {} : { label: ` ${label} `, border: { type: 'line' } }), style: { border: { fg: 'gray' } }, ...extra });
    const statusBar = box(null, { top: 0, left: 0, height: 1, width: '100%', style: { bg: 'blue', fg: 'white' } });
    const nodes = box('nodes', { left: 0, width: '100%' });
    const replication = box('replication (leader view)', { left: 0, width: '50%' });
    const chartOptions = (label: string): contrib.Widgets.LineOptions => ({ label: ` ${label} `, showLegend: false, wholeNumbersOnly: false, numYLabels: CHART_Y_LABELS, style: { line: 'green', text: 'white', baseline: 'white' }, border: { type: 'line' } }) as contrib.Widgets.LineOptions;
    // Charts draw on a canvas made when they are attached: append them, do not pass parent.
    const throughput = contrib.line({ ...chartOptions('ops/s, last minute'), left: '50%', width: '25%' } as contrib.Widgets.LineOptions);
    const latency = contrib.line({ ...chartOptions(LATENCY_LABEL.trim()), left: '75%', width: '25%' } as contrib.Widgets.LineOptions);
    // blessed-contrib sizes a chart's canvas as (width*2-12) x (height*4-8) dots on attach,
    // negative in a box under 6 columns or 2 rows, and its canvas then throws (a start in, or
    // a resize to, a narrow terminal: a chart is a quarter of it). #layout hides the charts
    // there; this keeps the canvas at zero size meanwhile instead of throwing.
    for (const chart of [throughput, latency]) clampCanvasSize(chart);
    screen.append(throughput);
    screen.append(latency);
    const logStrip = box('log ([t] committed, (t) not yet)', { left: 0, width: '100%' });
    const feed = box('events', { left: 0, width: '100%' });
    const message = box(null, { left: 0, height: 1, width: '100%' });
    const commandLine = box(null, { left: 0, height: 1, width: '100%' });
    // Wrapped: the help is wrapped to its width already; a node's details are long lines
    // (fsync counts, the configuration) that a narrow screen cut off.
    const overlay = box('help', { top: 'center', left: 'center', width: '90%', height: '90%', hidden: true, style: { bg: 'black', border: { fg: 'white' } }, scrollable: true, alwaysScroll: true, wrap: true });
    return { statusBar, nodes, replication, throughput, latency, logStrip, feed, message, commandLine, overlay };
  }

  /** Heights follow the node count; the event feed takes what is left. */
  #layout(): void {
    const rows = Number(this.#screen.height);
    const nodeCount = this.#status.nodes.length;
    this.#laidOutNodeCount = nodeCount;
    let tableHeight = nodeCount + 3;
    // Charts need height to be read; a tall terminal gives them more. They need width too:
    // narrower than MIN_MIDDLE_COLUMNS (a chart is a quarter of it) the replication pane and
    // charts give way, as on a short terminal; below 24 columns blessed-contrib's chart
    // canvas got a negative size and threw, which took the dashboard down (a resize to a
    // narrow, tall pane, or a start in one).
    const narrow = Number(this.#screen.width) < MIN_MIDDLE_COLUMNS;
    let middleHeight = narrow ? 0 : Math.max(rows >= TALL_SCREEN_ROWS ? TALL_MIDDLE_HEIGHT : MIN_MIDDLE_HEIGHT, nodeCount + 3);
    let logHeight = nodeCount + 3;
    // On a short terminal (9 nodes at 36 rows) the charts and then the log strip give
    // up rows so that the event feed keeps a few lines.
    const spare = rows - 3 - tableHeight - middleHeight - logHeight - MIN_FEED_HEIGHT;
    if (spare < 0) {
      const fromMiddle = Math.max(0, Math.min(-spare, middleHeight - MIN_SHRUNK_HEIGHT));
      middleHeight -= fromMiddle;
      logHeight = Math.max(MIN_SHRUNK_HEIGHT, logHeight - (-spare - fromMiddle));
    }
    // Smaller still (80x24, 60x20): the replication pane and charts go, then the log
    // strip, then the node table gives up rows, before the feed drops below its minimum.
    const short = (): boolean => rows - 3 - tableHeight - middleHeight - logHeight < MIN_FEED_HEIGHT;
    if (short()) {
      // The rows the charts gave up go back to the log strip, up to every node's row (at
      // 80x24 with 5 nodes it kept its shrunk 3 rows, with room for all 5).
      middleHeight = 0;
      logHeight = Math.max(logHeight, Math.min(nodeCount + 3, rows - 3 - tableHeight - MIN_FEED_HEIGHT));
    }
    if (short()) logHeight = 0;
    if (short()) tableHeight = Math.max(MIN_TABLE_HEIGHT, rows - 3 - MIN_FEED_HEIGHT);
    let top = 1;
    const place = (element: blessed.Widgets.BlessedElement, height: number): void => {
      if (height === 0) {
        element.hide();
        return;
      }
      element.show();
      element.top = top;
      element.height = height;
    };
    const { nodes, replication, throughput, latency, logStrip, feed, message, commandLine } = this.#widgets;
    place(nodes, tableHeight);
    top += tableHeight;
    place(replication, middleHeight);
    place(throughput, middleHeight);
    place(latency, middleHeight);
    top += middleHeight;
    place(logStrip, logHeight);
    top += logHeight;
    place(feed, Math.max(MIN_FEED_HEIGHT, rows - top - 2));
    message.top = rows - 2;
    commandLine.top = rows - 1;
    // blessed-contrib sizes a chart's canvas once, when it is attached: rebuild the
    // canvases for the size just set, then draw the data again.
    if (middleHeight === 0) return;
    // The chart's label fits its border or takes its short form: at 120 columns the long one
    // ran past the corner and its last word was drawn inside the chart.
    const latencyLabel = Number(latency.width) - 4 >= LATENCY_LABEL.length ? LATENCY_LABEL : LATENCY_LABEL_SHORT;
    if (latencyLabel !== this.#latencyLabel) latency.setLabel(latencyLabel);
    this.#latencyLabel = latencyLabel;
    throughput.emit('attach');
    latency.emit('attach');
    this.#drawCharts();
  }

  // ------------------------------------------------------------ helpers

  #setUi(change: Partial<UiState>): void {
    if (change.message !== undefined) this.#messageSetMs = performance.now();
    this.#ui = { ...this.#ui, ...change };
  }

  #messageSetMs = 0;

  #pushFeed(source: FeedSource, text: string, error: boolean): void {
    this.#feed.push({ timeMs: this.#nowMs(), source, kind: EventKind.Info, node: 0, text, error });
  }

  /** Our clock, moved onto the cluster's (events carry ms since the cluster started). */
  #nowMs(): number {
    return performance.now() - this.#startedMs + this.#clockOffsetMs;
  }

  #randomKey(): string {
    return `k${Math.floor(this.#random() * RANDOM_KEY_COUNT)}`;
  }
}

const LATENCY_LABEL = ' commit ms: p50 cyan, p99 yellow ';
const LATENCY_LABEL_SHORT = ' ms p50 cyan p99 yellow ';
const MIN_MIDDLE_HEIGHT = 10;
/** Narrower than this the replication pane and charts give way (a chart, a quarter of it, is then under 16 columns). */
const MIN_MIDDLE_COLUMNS = 64;
const CHART_Y_LABELS = 3;
const TALL_MIDDLE_HEIGHT = 14;
const TALL_SCREEN_ROWS = 44;
/** The event feed keeps at least 3 lines (and its border). */
const MIN_FEED_HEIGHT = 5;
/** The node table's border, header and one row. */
const MIN_TABLE_HEIGHT = 4;
const MIN_SHRUNK_HEIGHT = 6;
const HELP_PAGE_LINES = 10;
const FEED_SCROLL_LINES = 10;
/** Info and ok messages leave the status line after this; errors stay until replaced. */
const MESSAGE_TTL_MS = 10_000;
/** Report every this-many failed background puts, so a partition does not flood the feed. */
const LOAD_ERROR_REPORT_EVERY = 100;

/**
 * The `:` line in `width` columns with its cursor: a line longer than that shows its end,
 * where the typing is, after a `<`. It showed its start, the cursor and whatever was typed
 * past the screen's edge out of sight (a long value typed blind).
 */
export function renderCommandLine(text: string, width: number): string {
  const room = Math.max(1, width - 2); // the ':' and the cursor
  const shown = text.length <= room ? `:${text}` : `:<${text.slice(text.length - (room - 1))}`;
  return `${escapeTags(shown)}{inverse} {/inverse}`;
}

function clampCanvasSize(chart: contrib.Widgets.LineElement): void {
  const sized = chart as unknown as { calcSize(): void; canvasSize: { width: number; height: number } };
  const calcSize = sized.calcSize.bind(sized);
  sized.calcSize = () => {
    calcSize();
    sized.canvasSize = { width: Math.max(0, sized.canvasSize.width), height: Math.max(0, sized.canvasSize.height) };
  };
}

function innerWidth(element: blessed.Widgets.BoxElement): number {
  return Math.max(1, Number(element.width) - 2);
}

function innerHeight(element: blessed.Widgets.BoxElement): number {
  return Math.max(1, Number(element.height) - 2);
}

export function prefersUnicode(environment: NodeJS.ProcessEnv = process.env): boolean {
  if (environment['NCURSES_NO_UTF8_ACS'] === '1') return true;
  const locale = `${environment['LC_ALL'] ?? ''}:${environment['LC_CTYPE'] ?? ''}:${environment['LANG'] ?? ''}`;
  return /utf-?8/i.test(locale);
}
