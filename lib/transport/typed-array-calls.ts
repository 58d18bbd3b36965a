// Uint8Array's own methods, called through constants instead of looked up on each receiver.
//
// A property load such as `bytes.subarray` needs type feedback to be compiled well. When
// an optimised function was compiled while that feedback was still missing, or when the
// receivers it saw mixed Buffer and Uint8Array (a Buffer's prototype chain is longer), the
// load stayed a generic inline-cache call in the optimised code for good: Node's
// `--print-opt-code` found `LoadIC` calls for `subarray` in the optimised code of the
// hot paths (msgpack writers, the readers of batches and entries, the store), and `perf`
// put `Builtins_LoadIC` at up to 12% of a leader thread in some runs and none in others.
// A call through a constant needs no feedback.

const typedArraySubarray = Uint8Array.prototype.subarray;
const typedArraySet = Uint8Array.prototype.set;

/** bytes.subarray(start, end): a view of the same memory (a Buffer's is a Buffer). */
export function subarrayOf<T extends Uint8Array>(bytes: T, start: number, end: number): T {
  return typedArraySubarray.call(bytes, start, end) as T;
}

/** to.set(source, at): copies every byte of source into to from index `at`. */
export function copyInto(to: Uint8Array, source: Uint8Array, at: number): void {
  typedArraySet.call(to, source, at);
}
