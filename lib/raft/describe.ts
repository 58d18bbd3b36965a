// One-line describers for messages, used by simulator traces and logs.

import type { Message } from './types.js';

export function describeMessage(message: Message): string {
  return `${message.type} ${message.from}->${message.to} t${message.term}`;
}
