import type { Engine } from "../core/engine.js";
import { ContextLengthError, QiusuoError } from "../core/errors.js";

/** Halvings of one text before it is given up on (1/64 of it is then embedded). */
const MAX_HALVINGS = 6;

/**
 * Embeds text through the engine (a local GGUF, or an upstream's `/v1/embeddings` behind the
 * router). A text longer than the model's context is embedded by its start, halved until it
 * fits: a chunk's opening says most of what it is about, and failing the whole file for one long
 * chunk would be worse.
 */
export class Embedder {
  constructor(private readonly engine: Engine) {}

  async embed(model: string, texts: readonly string[], signal: AbortSignal): Promise<Float32Array[]> {
    if (!this.engine.embed) {
      throw new QiusuoError(
        "unavailable",
        "embeddings_not_supported",
        "This server's engine cannot embed text.",
      );
    }
    try {
      return await this.call(model, [...texts], signal);
    } catch (error) {
      if (!(error instanceof ContextLengthError)) throw error;
    }
    const vectors: Float32Array[] = [];
    for (const text of texts) vectors.push(await this.embedFitting(model, text, signal));
    return vectors;
  }

  private async embedFitting(model: string, text: string, signal: AbortSignal): Promise<Float32Array> {
    let input = text;
    for (let halvings = 0; ; halvings++) {
      try {
        return (await this.call(model, [input], signal))[0]!;
      } catch (error) {
        if (!(error instanceof ContextLengthError) || halvings === MAX_HALVINGS) throw error;
        input = Array.from(input)
          .slice(0, Math.max(1, Math.floor(Array.from(input).length / 2)))
          .join("");
      }
    }
  }

  /**
   * One engine call, on a signal of its own that aborts with `signal`: what the engine hangs on
   * the signal goes with the call, instead of piling up on a long-lived one (the indexer's).
   */
  private async call(model: string, inputs: string[], signal: AbortSignal): Promise<Float32Array[]> {
    const controller = new AbortController();
    const abort = () => controller.abort(signal.reason);
    if (signal.aborted) abort();
    else signal.addEventListener("abort", abort, { once: true });
    try {
      const { vectors } = await this.engine.embed!(model, inputs, controller.signal);
      return vectors.map((vector) => Float32Array.from(vector));
    } finally {
      signal.removeEventListener("abort", abort);
    }
  }
}
