import type {
  BatchItem,
  CustomBatchingPrioritizationStrategy,
  LlamaContext,
  PrioritizedBatchItem,
  Token,
} from "node-llama-cpp";

/**
 * How node-llama-cpp fills a batch (its default "maximumParallelism": each queued item gets an
 * equal share, what is left goes to the items that want more, highest priority first), with the
 * items in the order of their sequences.
 *
 * llama.cpp keeps one KV stream per sequence here (node-llama-cpp leaves `kv_unified` off) and
 * computes a batch whose sequences come out of stream order about twice as slowly: on the small
 * fixture, a step of 4 sequences' tokens took 7.5 ms decoded in the order 0,1,2,3 and 11-15 ms in
 * any other. node-llama-cpp queues them in the order they asked, which differs from one request to
 * the next, so 4 streams ran at 500 tok/s in one round and 230 in the next (llama-server, which
 * batches its slots in order, stayed at 500). Steps that read a prompt keep node-llama-cpp's order
 * (see below).
 */
export function sequenceOrderedStrategy(
  sequenceOf: (tokens: readonly Token[]) => number | undefined,
): CustomBatchingPrioritizationStrategy {
  return ({ items, size }) => {
    // Only steps of one token per sequence are reordered. With a prompt in the batch, reordering
    // gave some sequences another sequence's logits for their first token (the soak caught 4
    // replies in 70 s that began with the token that follows another stream's last one); those
    // keep node-llama-cpp's order, as before.
    if (items.some((item) => item.tokens.length !== 1)) return shareBatch(items, size);
    // Each item's sequence is looked up once, not at every comparison.
    const ordered = items
      .map((item) => ({ item, sequence: sequenceOf(item.tokens) ?? Number.MAX_SAFE_INTEGER }))
      .sort((a, b) => a.sequence - b.sequence)
      .map(({ item }) => item);
    return shareBatch(ordered, size);
  };
}

/** Fills a batch of `size` tokens from `items`, in their order (see sequenceOrderedStrategy). */
export function shareBatch(items: readonly BatchItem[], size: number): PrioritizedBatchItem[] {
  let left = size;
  const share = Math.max(1, Math.floor(size / Math.max(1, items.length)));
  const chosen: PrioritizedBatchItem[] = [];
  for (const item of items) {
    if (left === 0) break;
    const processAmount = Math.min(item.tokens.length, left, share);
    chosen.push({ item, processAmount });
    left -= processAmount;
  }
  const wanting = chosen
    .filter((entry) => entry.processAmount < entry.item.tokens.length)
    .sort((a, b) => b.item.evaluationPriority - a.item.evaluationPriority);
  for (const entry of wanting) {
    if (left === 0) break;
    const more = Math.min(entry.item.tokens.length - entry.processAmount, left);
    entry.processAmount += more;
    left -= more;
  }
  return chosen;
}

/**
 * The sequence a queued batch item belongs to: node-llama-cpp builds each item around its queued
 * decode's own token array, which its (internal, version-pinned) queue lists with the sequence.
 * Undefined when that queue is not there, and the batch then keeps node-llama-cpp's order.
 */
export function queuedSequenceOf(
  context: () => LlamaContext | undefined,
): (tokens: readonly Token[]) => number | undefined {
  return (tokens) => {
    const queue = (context() as unknown as { _queuedDecodes?: unknown } | undefined)?._queuedDecodes;
    if (!Array.isArray(queue)) return undefined;
    const entry = (queue as Array<{ tokens?: unknown; sequenceId?: unknown }>).find(
      (queued) => queued.tokens === tokens,
    );
    return typeof entry?.sequenceId === "number" ? entry.sequenceId : undefined;
  };
}
