// One-line describers for messages and Readys, used by simulator traces, logs and tests.

import { assertNever } from './assert.js';
import { MessageType } from './types.js';
import type { Entry, Message, Ready } from './types.js';

function describeEntries(entries: readonly Entry[]): string {
  if (entries.length === 0) return '[]';
  const first = entries[0]!;
  const last = entries[entries.length - 1]!;
  if (entries.length === 1) return `[${first.index}@t${first.term}]`;
  return `[${first.index}@t${first.term}..${last.index}@t${last.term} (${entries.length})]`;
}

/** e.g. "1->2 AppendEntries t3 prev=4@t2 entries=[5@t3..9@t3 (5)] commit=4". */
export function describeMessage(message: Message): string {
  const head = `${message.from}->${message.to} ${message.type} t${message.term}`;
  switch (message.type) {
    case MessageType.RequestVote:
      return `${head}${message.preVote ? ' pre-vote' : ''}${message.transfer ? ' transfer' : ''} last=${message.lastLogIndex}@t${message.lastLogTerm}`;
    case MessageType.RequestVoteResponse:
      return `${head}${message.preVote ? ' pre-vote' : ''} ${message.voteGranted ? 'granted' : 'rejected'}`;
    case MessageType.AppendEntries:
      return `${head} prev=${message.prevLogIndex}@t${message.prevLogTerm} entries=${describeEntries(message.entries)} commit=${message.leaderCommit}`;
    case MessageType.AppendEntriesResponse:
      return message.success
        ? `${head} ok index=${message.index}`
        : `${head} reject index=${message.index} hint=${message.conflictIndex}@t${message.conflictTerm}`;
    case MessageType.Heartbeat:
      return `${head} commit=${message.leaderCommit}${message.context === 0 ? '' : ` read=${message.context}`}`;
    case MessageType.HeartbeatResponse:
      return `${head}${message.context === 0 ? '' : ` read=${message.context}`}`;
    case MessageType.TimeoutNow:
      return head;
    case MessageType.InstallSnapshot:
      return `${head} snapshot=${message.lastIncludedIndex}@t${message.lastIncludedTerm} bytes=${message.offset}..${message.offset + message.data.byteLength}/${message.totalBytes}${message.done ? ' done' : ''}`;
    case MessageType.InstallSnapshotResponse:
      // Installed (index), a chunk acknowledged (how many bytes are held), or a refusal.
      if (message.index > 0) return `${head} installed index=${message.index}`;
      return message.snapshotIndex > 0 ? `${head} snapshot=${message.snapshotIndex} holds=${message.received}` : `${head} index=0`;
    default:
      return assertNever(message, 'message');
  }
}

/** A compact summary of a Ready, for traces. */
export function describeReady(ready: Ready): string {
  const parts: string[] = [];
  if (ready.softState !== null) parts.push(`soft=${ready.softState.role}/leader ${ready.softState.leaderId}`);
  if (ready.hardState !== null) {
    const hard = ready.hardState;
    parts.push(`hard=term ${hard.currentTerm} vote ${hard.votedFor} commit ${hard.commitIndex}`);
  }
  if (ready.snapshot !== null) parts.push(`snapshot=${ready.snapshot.index}@t${ready.snapshot.term}`);
  if (ready.entries.length > 0) parts.push(`entries=${describeEntries(ready.entries)}`);
  if (ready.committedEntries.length > 0) parts.push(`apply=${describeEntries(ready.committedEntries)}`);
  if (ready.messages.length > 0) parts.push(`send=${ready.messages.length}`);
  if (ready.messagesAfterPersist.length > 0) parts.push(`sendAfterPersist=${ready.messagesAfterPersist.length}`);
  if (ready.readStates.length > 0) parts.push(`reads=${ready.readStates.map((read) => `${read.context}@${read.index}`).join(',')}`);
  return parts.length === 0 ? 'empty' : parts.join(' ');
}
