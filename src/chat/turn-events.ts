/**
 * What an app turn yields, in order: a discriminated union named noun-verb like the engine's
 * `ChatEvent`, so a route only serialises it (routes/app-chat.ts writes them as named SSE events).
 */
import type { Usage } from "../core/chat.js";
import type { Message } from "../store/conversations.js";
import type { Source } from "../tools/tool.js";

/**
 * How a turn ended:
 * - `stop`: the model finished its answer (or called a tool qiusuo does not run: recorded on the reply).
 * - `length`: the model ran out of tokens.
 * - `tool-limit`: the model still called tools after the turn's last step; a note says so.
 * - `approval-needed`: the model called an "ask me first" tool; nothing was run.
 * - `deadline`: the turn ran past its time; a note says so and the reply is kept interrupted.
 * - `aborted`: the user stopped it or went away; the reply is kept interrupted.
 * - `error`: a model call failed; the reply is kept interrupted.
 */
export type TurnFinishReason =
  "stop" | "length" | "tool-limit" | "approval-needed" | "deadline" | "aborted" | "error";

export type TurnEvent =
  /** The user message this turn answers, when the request just added it. */
  | { type: "user"; message: Message }
  /** The reply as started (empty, `streaming`), before the model's first token. */
  | { type: "assistant"; message: Message }
  | { type: "reasoning"; text: string }
  | { type: "text"; text: string }
  /** The model called a tool qiusuo runs (or asked to, for an "ask me first" tool). */
  | { type: "tool-call"; id: string; name: string; arguments: string }
  | { type: "tool-result"; id: string; name: string; content: string; isError: boolean }
  /** Passages a tool result gave for citation. */
  | { type: "sources"; toolCallId: string; sources: Source[] }
  /** One model call's token counts (the reply's usage sums them). */
  | { type: "usage"; step: number; usage: Usage }
  /** An "ask me first" tool was called; the turn ends without running it. */
  | { type: "approval-needed"; id: string; name: string; arguments: string }
  /** The connection should be kept alive: nothing else happened for a while. */
  | { type: "keep-alive" }
  | {
      type: "finish";
      reason: TurnFinishReason;
      /** The reply as saved (for `aborted`, as it was when the turn stopped). */
      reply: Message;
      /** Why it ended early, in words: the note added to the reply, or the error's message. */
      message?: string;
      /** The error's stable code, for `error`. */
      code?: string;
    };
