/**
 * Puts redacted values back into a streamed reply. A placeholder may arrive split over deltas
 * (`[EM` + `AIL_1]`), so each text channel (content, reasoning, each tool call's arguments)
 * holds back a tail that could still become a placeholder the session issued, and lets it go
 * once it cannot, or when the channel ends. The concatenated output equals restoring the whole
 * reply at once, for every way of cutting it into deltas.
 */
import type { ChatEvent, TokenLogprob } from "../core/chat.js";
import type { RedactionSession } from "./redaction.js";

/** One text channel's restorer: push deltas in, take restored text out. */
export class PlaceholderRestorer {
  private held = "";

  constructor(private readonly session: RedactionSession) {}

  /** The restored text that can be let go after `text`; a possible placeholder start is held. */
  push(text: string): string {
    const buffer = this.held + text;
    const open = buffer.lastIndexOf("[");
    if (open !== -1 && this.session.couldBecomePlaceholder(buffer.slice(open))) {
      this.held = buffer.slice(open);
      return this.session.restore(buffer.slice(0, open));
    }
    this.held = "";
    return this.session.restore(buffer);
  }

  /** Whatever is held, restored as far as it goes (the channel has ended). */
  flush(): string {
    const rest = this.held;
    this.held = "";
    return this.session.restore(rest);
  }
}

type Channel = "reasoning" | "content" | number;

/**
 * `events` with every issued placeholder restored in text, reasoning and tool-call arguments, and
 * the redaction counts on the finish event. Log-probabilities stay those of the tokens the model
 * produced (placeholders); a delta whose text is all held back passes them to the next one.
 */
export async function* restoreEvents(
  events: AsyncIterable<ChatEvent>,
  session: RedactionSession,
): AsyncGenerator<ChatEvent> {
  const channels = new Map<
    Channel,
    { restorer: PlaceholderRestorer; logprobs: TokenLogprob[] | undefined }
  >();
  const channel = (key: Channel) => {
    let state = channels.get(key);
    if (!state)
      channels.set(key, (state = { restorer: new PlaceholderRestorer(session), logprobs: undefined }));
    return state;
  };
  const delta = (key: Channel, text: string, logprobs?: TokenLogprob[]): ChatEvent => {
    const withLogprobs = logprobs === undefined ? {} : { logprobs };
    if (key === "reasoning") return { type: "reasoning-delta", text, ...withLogprobs };
    if (key === "content") return { type: "text-delta", text, ...withLogprobs };
    return { type: "tool-call-delta", index: key, argumentsDelta: text };
  };
  /** Ends the held text of every channel but `keep`: a placeholder never spans two channels. */
  function* flushOthers(keep?: Channel): Generator<ChatEvent> {
    for (const [key, state] of channels) {
      if (key === keep) continue;
      const text = state.restorer.flush();
      const logprobs = state.logprobs;
      state.logprobs = undefined;
      if (text !== "" || logprobs !== undefined) yield delta(key, text, logprobs);
    }
  }
  function* pass(key: Channel, text: string, logprobs?: TokenLogprob[]): Generator<ChatEvent> {
    yield* flushOthers(key);
    const state = channel(key);
    if (logprobs !== undefined) state.logprobs = [...(state.logprobs ?? []), ...logprobs];
    const out = state.restorer.push(text);
    if (out === "") return;
    const pending = state.logprobs;
    state.logprobs = undefined;
    yield delta(key, out, pending);
  }

  try {
    for await (const event of events) {
      switch (event.type) {
        case "reasoning-delta":
          yield* pass("reasoning", event.text, event.logprobs);
          break;
        case "text-delta":
          yield* pass("content", event.text, event.logprobs);
          break;
        case "tool-call-delta":
          yield* pass(event.index, event.argumentsDelta);
          break;
        case "tool-call-start":
          yield* flushOthers();
          yield event;
          break;
        case "finish": {
          yield* flushOthers();
          const counts = session.counts();
          yield {
            ...event,
            ...(event.stopSequence === undefined
              ? {}
              : { stopSequence: session.restore(event.stopSequence) }),
            ...(Object.keys(counts).length === 0 ? {} : { redactions: counts }),
          };
          break;
        }
        default:
          yield event;
      }
    }
  } catch (error) {
    // What the client was already owed is still given before the error.
    yield* flushOthers();
    throw error;
  }
  yield* flushOthers();
}
