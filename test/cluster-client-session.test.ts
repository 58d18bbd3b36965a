// KvClient's session against a scripted node on a MessageChannel: it registers once,
// sends the session id the registration returned with every write, and after
// SESSION_EXPIRED registers again under a fresh client id and carries the new id.

import test from 'ava';
import { MessageChannel } from 'node:worker_threads';
import { ClientHub } from '../lib/cluster/client.js';
import { decodeClientBatch, encodeReplyBatch } from '../lib/cluster/protocol.js';
import type { Reply } from '../lib/cluster/protocol.js';
import { decodeCommand } from '../lib/kv/command.js';
import type { Command } from '../lib/kv/command.js';

test('a KvClient sends its registration\'s session id, and registers anew under a new client id after SESSION_EXPIRED', async (t) => {
  const { port1, port2 } = new MessageChannel();
  const seen: Command[] = [];
  // Registrations get 7, then 8; every write of session 7 is answered SESSION_EXPIRED.
  let nextSession = 7;
  port1.on('message', (bytes: unknown) => {
    const replies: Reply[] = [];
    for (const frame of decodeClientBatch(bytes).frames) {
      if (frame.t !== 'w') continue;
      const command = decodeCommand(frame.command);
      seen.push(command);
      if (command.type === 'register') replies.push({ rid: frame.rid, ok: true, value: nextSession++ });
      else if (command.session === 7) replies.push({ rid: frame.rid, ok: false, code: 'SESSION_EXPIRED', message: 'session 7 is unknown', leaderId: 1 });
      else replies.push({ rid: frame.rid, ok: true, value: null });
    }
    port1.postMessage(encodeReplyBatch(replies));
  });
  port1.unref();
  const hub = new ClientHub([1]);
  hub.connect(1, port2);
  t.teardown(() => hub.close());
  const kv = hub.client({ timeoutMs: 5000 });
  const firstId = kv.id;

  // Two writes in flight together share the one registration, and both hear that it expired.
  const expired = await Promise.allSettled([kv.put('a', 1), kv.put('b', 2)]);
  for (const outcome of expired) {
    t.is(outcome.status, 'rejected');
    if (outcome.status === 'rejected') t.like(outcome.reason, { code: 'SESSION_EXPIRED', indeterminate: false });
  }
  t.not(kv.id, firstId, 'a fresh client id after the session expired');

  await kv.put('c', 3);
  await kv.put('d', 4);
  const registers = seen.filter((command) => command.type === 'register');
  t.deepEqual(registers.map((command) => command.clientId), [firstId, kv.id], 'one registration per identity');
  const requests = seen.flatMap((command) => (command.type === 'request' ? [[command.session, command.seq, command.operation.key]] : []));
  t.deepEqual(requests, [
    [7, 1, 'a'],
    [7, 2, 'b'],
    [8, 1, 'c'],
    [8, 2, 'd'],
  ]);
});
