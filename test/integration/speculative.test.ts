// Speculative decoding is exact: with greedy sampling, a draft model (one that predicts most of the
// target's tokens and misses some) and prompt lookup give token-for-token the reply the target
// gives alone, for one stream and two in parallel, streamed or not. Speculation must also have
// happened (drafts accepted and, for the draft model, some rejected), and /health reports it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ensureFamilyModel, familyWords, withMistakes } from "../fixtures/speculative-models.js";
import { postJson, postStream, readSse, startTestServer, type TestServer } from "./harness.js";

const WORDS = familyWords(48);
const TARGET = ensureFamilyModel("spec-target.gguf", { words: WORDS, script: WORDS, width: 128, layers: 2 });
/** Drafts the target's words but gets every fifth wrong. */
const DRAFT = ensureFamilyModel("spec-draft.gguf", { words: WORDS, script: withMistakes(WORDS, 5) });
/** A draft of another family: a different vocabulary. */
const STRANGER = ensureFamilyModel("spec-stranger.gguf", {
  words: ["alpha", "beta"],
  script: ["alpha", "beta"],
});
const MODEL = "spec-target";

/** A prompt that quotes the reply's words, so prompt lookup finds them. */
const QUOTING = `Count on from here:${WORDS.slice(0, 30).join("")}`;

type Health = {
  models: Array<{
    id: string;
    speculation?: { draft_model: string | null; accepted_tokens: number; rejected_tokens: number };
  }>;
};

async function startServer(engine: Record<string, unknown>): Promise<TestServer> {
  return startTestServer({
    models: [{ file: TARGET }],
    engine: { parallel: 2, contextSize: 1024, ...engine },
  });
}

async function complete(server: TestServer, content: string, maxTokens: number, extra: object = {}) {
  const answer = await postJson(`${server.url}/v1/chat/completions`, {
    model: MODEL,
    messages: [{ role: "user", content }],
    max_tokens: maxTokens,
    temperature: 0,
    ...extra,
  });
  assert.equal(answer.status, 200, answer.text);
  return answer.json as { choices: Array<{ message: { content: string }; logprobs?: unknown }> };
}

async function streamed(server: TestServer, content: string, maxTokens: number): Promise<string> {
  const response = await postStream(`${server.url}/v1/chat/completions`, {
    model: MODEL,
    messages: [{ role: "user", content }],
    max_tokens: maxTokens,
    temperature: 0,
    stream: true,
  });
  assert.equal(response.status, 200);
  let text = "";
  for (const event of await readSse(response)) {
    if (event !== "[DONE]") text += event.choices?.[0]?.delta?.content ?? "";
  }
  return text;
}

async function speculation(server: TestServer) {
  const health = (await (await fetch(`${server.url}/health`)).json()) as Health;
  const model = health.models.find((entry) => entry.id === MODEL);
  assert.ok(model?.speculation, JSON.stringify(health));
  return model.speculation;
}

/** The replies of every scenario: one stream, two in parallel, streamed, and with logprobs. */
async function scenarios(server: TestServer) {
  const single = (await complete(server, QUOTING, 40)).choices[0]!.message.content;
  const parallel = await Promise.all([
    complete(server, QUOTING, 45).then((answer) => answer.choices[0]!.message.content),
    complete(server, "Just count.", 33).then((answer) => answer.choices[0]!.message.content),
  ]);
  const stream = await Promise.all([streamed(server, QUOTING, 42), streamed(server, "Count.", 47)]);
  const logprobs = (await complete(server, QUOTING, 20, { logprobs: true, top_logprobs: 2 })).choices[0]!
    .logprobs;
  return { single, parallel, stream, logprobs };
}

describe("speculative decoding", { timeout: 240_000 }, () => {
  let plain: TestServer;
  let expected: Awaited<ReturnType<typeof scenarios>>;

  before(async () => {
    plain = await startServer({ promptLookup: "off" });
    expected = await scenarios(plain);
    // The script is the words in order: the reply is the start of it, so a mistake shows.
    assert.equal(expected.single, WORDS.slice(0, 40).join("").trimStart());
  });
  after(async () => plain?.close());

  it("plain decoding drafts nothing", async () => {
    const health = (await (await fetch(`${plain.url}/health`)).json()) as Health;
    assert.equal(health.models[0]?.speculation, undefined);
  });

  it("gives the same tokens with a draft model that is sometimes wrong", async () => {
    const server = await startServer({ draftModelPath: DRAFT, promptLookup: "off" });
    try {
      assert.deepEqual(await scenarios(server), expected);
      const stats = await speculation(server);
      assert.equal(stats.draft_model, "spec-draft");
      assert.ok(stats.accepted_tokens > 30, JSON.stringify(stats));
      assert.ok(stats.rejected_tokens > 0, JSON.stringify(stats));
      // Penalties read the tokens generated so far, which do not include unchecked drafts: such a
      // request decodes without speculation.
      const penalized = await complete(server, QUOTING, 30, { frequency_penalty: 0.5 });
      assert.equal(penalized.choices[0]!.message.content, WORDS.slice(0, 30).join("").trimStart());
      assert.deepEqual(await speculation(server), stats);
    } finally {
      await server.close();
    }
  });

  it("gives the same tokens with prompt lookup", async () => {
    const server = await startServer({ promptLookup: "on" });
    try {
      assert.deepEqual(await scenarios(server), expected);
      const stats = await speculation(server);
      assert.equal(stats.draft_model, null);
      assert.ok(stats.accepted_tokens > 20, JSON.stringify(stats));
    } finally {
      await server.close();
    }
  });

  it("refuses a draft model whose vocabulary differs, saying why", async () => {
    const server = await startTestServer({
      models: [{ file: TARGET }],
      preload: false,
      engine: { draftModelPath: STRANGER, contextSize: 256 },
    });
    try {
      const answer = await postJson(`${server.url}/v1/chat/completions`, {
        model: MODEL,
        messages: [{ role: "user", content: "Hi" }],
      });
      assert.equal(answer.status, 503, answer.text);
      assert.match(
        answer.json.error.message,
        /draft model spec-stranger cannot draft for spec-target\.gguf: .*vocabulary/,
      );
    } finally {
      await server.close();
    }
  });
});
