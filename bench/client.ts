/**
 * Streaming chat-completions client with client-side timing: request start, first content or
 * reasoning delta, last delta, end of stream, and the usage block (stream_options.include_usage).
 */
import type { ChatMessage } from "./common.js";

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  prompt_cache_hit_tokens?: number;
  prompt_cache_miss_tokens?: number;
}

export interface StreamTiming {
  startAt: number;
  /** First chunk with non-empty `content` or `reasoning_content`; undefined when none came. */
  firstDeltaAt: number | undefined;
  lastDeltaAt: number | undefined;
  /** End of the response body. */
  endAt: number;
  /** To the first delta, or to the end of the stream if there was none (max_tokens 1 may give none). */
  ttftMs: number;
  deltas: number;
  /** When each delta arrived (performance.now()). */
  deltaTimes: number[];
  content: string;
  reasoning: string;
  finishReason: string | undefined;
  usage: Usage;
}

export interface ChatOptions {
  model: string;
  messages: readonly ChatMessage[];
  maxTokens: number;
  timeoutMs?: number;
  /** Called when the first content or reasoning delta arrives (performance.now()). */
  onFirstDelta?: (at: number) => void;
}

interface Chunk {
  choices?: Array<{
    delta?: { content?: string | null; reasoning_content?: string | null };
    finish_reason?: string | null;
  }>;
  usage?: Usage | null;
}

/** A greedy (temperature 0) streaming request, timed client-side. */
export async function streamChat(baseUrl: string, options: ChatOptions): Promise<StreamTiming> {
  const startAt = performance.now();
  const response = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: options.model,
      messages: options.messages,
      max_tokens: options.maxTokens,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 600_000),
  });
  if (!response.ok || !response.body) {
    throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 500)}`);
  }
  const timing: Omit<StreamTiming, "endAt" | "ttftMs" | "usage"> & { usage?: Usage } = {
    startAt,
    firstDeltaAt: undefined,
    lastDeltaAt: undefined,
    deltas: 0,
    deltaTimes: [],
    content: "",
    reasoning: "",
    finishReason: undefined,
  };
  const decoder = new TextDecoder();
  let buffer = "";
  const handle = (event: string, at: number) => {
    for (const line of event.split("\n")) {
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]" || data === "") continue;
      const chunk = JSON.parse(data) as Chunk & { error?: { message?: string } };
      if (chunk.error) throw new Error(`stream error: ${chunk.error.message ?? data}`);
      if (chunk.usage) timing.usage = chunk.usage;
      for (const choice of chunk.choices ?? []) {
        const content = choice.delta?.content ?? "";
        const reasoning = choice.delta?.reasoning_content ?? "";
        if (content || reasoning) {
          if (timing.firstDeltaAt === undefined) options.onFirstDelta?.(at);
          timing.firstDeltaAt ??= at;
          timing.lastDeltaAt = at;
          timing.deltas++;
          timing.deltaTimes.push(at);
          timing.content += content;
          timing.reasoning += reasoning;
        }
        if (choice.finish_reason) timing.finishReason = choice.finish_reason;
      }
    }
  };
  for await (const bytes of response.body) {
    const at = performance.now();
    buffer += decoder.decode(bytes as Uint8Array, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      handle(buffer.slice(0, end), at);
      buffer = buffer.slice(end + 2);
    }
  }
  const endAt = performance.now();
  if (buffer.trim()) handle(buffer, endAt);
  if (!timing.usage) throw new Error("the stream carried no usage block");
  return {
    ...timing,
    usage: timing.usage,
    endAt,
    ttftMs: (timing.firstDeltaAt ?? endAt) - startAt,
  };
}

/** The id clients use for a model file: its name without `.gguf`. */
export function modelId(modelPath: string): string {
  return (modelPath.split("/").pop() ?? modelPath).replace(/\.gguf$/i, "");
}
