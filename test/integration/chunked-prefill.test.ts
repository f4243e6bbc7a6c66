// A long prompt arriving while another stream decodes is read in chunks between that stream's
// decode steps: the running stream keeps producing tokens during the other's prefill, instead of
// stopping until the whole prompt is read. Asserted as an order of events, not as times.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ensureSmallAsciiModel } from "../fixtures/models.js";
import { postStream, startTestServer, type TestServer } from "./harness.js";

/** About 2,000 tokens of prompt text. */
const LONG_PROMPT = Array.from({ length: 290 }, (_, index) => `item${index % 89}`).join(" ");

/** Calls `onDelta` for each content delta of an SSE chat stream, in order, until it ends. */
async function eachDelta(response: Response, onDelta: () => void): Promise<void> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    const blocks = buffer.split("\n\n");
    buffer = blocks.pop()!;
    for (const block of blocks) {
      if (!block.startsWith("data: ") || block === "data: [DONE]") continue;
      const event = JSON.parse(block.slice("data: ".length)) as {
        choices?: Array<{ delta?: { content?: string } }>;
      };
      if (event.choices?.[0]?.delta?.content) onDelta();
    }
  }
}

describe("chunked prefill", { timeout: 180_000 }, () => {
  let server: TestServer;
  let model: string;

  before(async () => {
    const file = ensureSmallAsciiModel();
    server = await startTestServer({
      models: [{ file }],
      engine: { parallel: 2, contextSize: 4096, threads: 1 },
    });
    model = server.engine.listModels()[0]!.id;
  });
  after(async () => server?.close());

  const stream = (content: string, maxTokens: number) =>
    postStream(`${server.url}/v1/chat/completions`, {
      model,
      messages: [{ role: "user", content }],
      max_tokens: maxTokens,
      temperature: 0,
      stream: true,
    });

  it("keeps a running stream producing tokens while a 2,000-token prompt is read", async () => {
    const events: string[] = [];
    let arrived: Promise<void> | undefined;
    let runningDeltas = 0;
    const running = stream("Tell a long story.", 600).then((response) =>
      eachDelta(response, () => {
        events.push("running");
        // The long prompt arrives once the first stream is decoding steadily.
        if (++runningDeltas === 5) {
          events.push("long prompt sent");
          arrived = stream(LONG_PROMPT, 4).then((response) =>
            eachDelta(response, () => events.push("long prompt answered")),
          );
        }
      }),
    );
    await running;
    await arrived;
    const sent = events.indexOf("long prompt sent");
    const answered = events.indexOf("long prompt answered");
    assert.ok(
      sent >= 0 && answered > sent,
      `the long prompt was answered while the stream ran: ${events.join(",").replace(/(running,)+/g, "running…,")}`,
    );
    const during = events.slice(sent, answered).filter((event) => event === "running").length;
    // Read whole, the prompt would hold the running stream for its whole prefill (a token or two).
    assert.ok(during >= 8, `the running stream produced ${during} tokens during the prefill`);
  });
});
