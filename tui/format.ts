// Text helpers shared by the panes. Panes produce blessed-tagged strings
// ("{red-fg}none{/red-fg}"); everything that came from the outside (keys, values, event
// text) goes through escapeTags so a user's "{" cannot restyle the screen.

import type { Role, Term } from '../lib/raft/types.js';

export function escapeTags(text: string): string {
  return text.replace(/[{}]/g, (brace) => (brace === '{' ? '{open}' : '{close}'));
}

/** The text a tagged string shows on screen: what the headless tests assert against. */
export function stripTags(tagged: string): string {
  return tagged.replace(/\{(\/?[a-z0-9-]*|open|close)\}/g, (tag) => {
    if (tag === '{open}') return '{';
    if (tag === '{close}') return '}';
    return '';
  });
}

export function color(name: string, text: string): string {
  return `{${name}-fg}${text}{/${name}-fg}`;
}

export function bold(text: string): string {
  return `{bold}${text}{/bold}`;
}

/** Pads or cuts plain text to exactly `width` columns. */
export function fit(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length > width) return width === 1 ? text.slice(0, 1) : text.slice(0, width - 1) + '~';
  return text + ' '.repeat(width - text.length);
}

export function fitRight(text: string, width: number): string {
  if (text.length >= width) return fit(text, width);
  return ' '.repeat(width - text.length) + text;
}

export const BAR_FULL = '#';
export const BAR_EMPTY = '.';

/** A bar of `width` cells filled to `fraction` (clamped to [0, 1]). ASCII so it survives any terminal. */
export function bar(fraction: number, width: number): string {
  const clamped = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(clamped * width);
  return BAR_FULL.repeat(filled) + BAR_EMPTY.repeat(width - filled);
}

/** Role as word and symbol. The symbol is ASCII so the table reads the same without color. */
export const RoleDisplay = {
  leader: { word: 'LEADER', symbol: '*', color: 'green' },
  follower: { word: 'FOLLOWER', symbol: '-', color: 'white' },
  candidate: { word: 'CANDIDATE', symbol: '?', color: 'yellow' },
  precandidate: { word: 'PRECANDIDATE', symbol: '~', color: 'yellow' },
} as const satisfies Record<Role, { word: string; symbol: string; color: string }>;

export const DownDisplay = { word: 'DOWN', symbol: 'X', color: 'red' } as const;

/** Terms cycle through these so that neighbouring terms never share a color. */
const TERM_COLORS = ['cyan', 'yellow', 'magenta', 'green', 'blue', 'white'] as const;

export function termColor(term: Term): string {
  const colorName = TERM_COLORS[term % TERM_COLORS.length];
  if (colorName === undefined) throw new Error(`termColor: no color for term ${term}`);
  return colorName;
}

export function formatMs(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  if (ms < 10_000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(0)}s`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)}K`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)}M`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(1)}G`;
}

/** "1,2|3,4,5": the syntax `:partition` accepts, used to show partitions too. */
export function formatGroups(groups: readonly (readonly number[])[]): string {
  return groups.map((group) => group.join(',')).join('|');
}

export function formatClock(timeMs: number): string {
  const totalSeconds = Math.floor(timeMs / 1000);
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  const tenths = Math.floor((timeMs % 1000) / 100);
  return `${String(minutes).padStart(2, '0')}:${String(seconds).padStart(2, '0')}.${tenths}`;
}

