// Ollama's native API (/api/chat, /api/generate, /api/tags, ...) on the real server, driven by the
// official `ollama` client, unchanged: streamed and collected replies, thinking, JSON modes, tools,
// options, embeddings, model listings, pulls from a local Hugging Face stand-in, keep_alive,
// accounts mode, bad input and a client that leaves mid-stream.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { Ollama } from "ollama";
import type { ModelManager } from "../../src/core/engine.js";
import { LocalModelManager } from "../../src/engines/local/model-manager.js";
import { makeScriptedModel } from "../fixtures/models.js";
import { AppClient, postJson, startTestServer, waitFor, type TestServer } from "./harness.js";
import { HuggingFaceMirror, sha256Of } from "./hf-mirror.js";

/** The scripted model calls get_weather for Paris, in the `<tool_call>` convention. */
const CALL_SCRIPT = [
  "<tool_call>",
  '\n{"name": "get_weather", "arguments": {"city": "Paris"}}',
  "\n</tool_call>",
];
/** A code model: FIM tokens, and its middle is always this line. */
const MIDDLE = "    return a + b";

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

const hi = [{ role: "user", content: "Hi" }];

/** What the client throws for a non-2xx answer: `error` of the body as message, and the status. */
async function refusal(call: () => Promise<unknown>): Promise<{ message: string; status: number }> {
  try {
    await call();
  } catch (error) {
    const thrown = error as { error?: string; status_code?: number; message: string };
    return { message: thrown.error ?? thrown.message, status: thrown.status_code ?? 0 };
  }
  throw new Error("the request was not refused");
}

describe("Ollama API", () => {
  let server: TestServer;
  let dir: string;
  let client: Ollama;
  let mirror: HuggingFaceMirror;
  /** The tiny fixture's bytes, served by the mirror as the catalog's `qwen2.5:0.5b`. */
  let mirrored: Buffer;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-ollama-"));
    const caller = path.join(dir, "caller.gguf");
    makeScriptedModel(caller, { script: CALL_SCRIPT });
    const coder = path.join(dir, "coder.gguf");
    makeScriptedModel(coder, { script: [MIDDLE], fim: true });
    mirror = await HuggingFaceMirror.start();
    const made: { manager?: LocalModelManager } = {};
    const models: ModelManager = {
      pull: (reference, onProgress) => made.manager!.pull(reference, onProgress),
      load: (model) => made.manager!.load(model),
      unload: (model) => made.manager!.unload(model),
      remove: (model) => made.manager!.remove(model),
    };
    server = await startTestServer({
      models: ["scripted", { file: caller }, { file: coder }, "tiny"],
      engine: { contextSize: 2048 },
      app: { models },
    });
    mirrored = readFileSync(server.fixtures.tiny);
    mirror.serve("Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf", {
      body: mirrored,
      // About a second: several progress lines.
      bytesPerSecond: Math.ceil(mirrored.length / 1.2),
    });
    made.manager = new LocalModelManager(server.engine, {
      dataDir: path.join(dir, "data"),
      huggingFaceEndpoint: mirror.endpoint,
      catalogOverrides: [
        {
          alias: "qwen2.5:0.5b",
          repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
          file: "qwen2.5-0.5b-instruct-q4_k_m.gguf",
          size: mirrored.length,
          sha256: sha256Of(mirrored),
        },
      ],
    });
    client = new Ollama({ host: server.url });
  });
  after(async () => {
    await server.close();
    await mirror.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  describe("chat", () => {
    it("answers a chat in one object with Ollama's final fields, durations in nanoseconds", async () => {
      const reply = await client.chat({ model: "scripted", messages: hi });
      assert.equal(reply.model, "scripted");
      assert.deepEqual(reply.message, {
        role: "assistant",
        content: "The answer is 42",
        thinking: "let me think",
      });
      assert.equal(reply.done, true);
      assert.equal(reply.done_reason, "stop");
      assert.equal(reply.eval_count, 4);
      assert.ok(reply.prompt_eval_count > 3, `prompt tokens: ${reply.prompt_eval_count}`);
      for (const field of [
        "total_duration",
        "load_duration",
        "prompt_eval_duration",
        "eval_duration",
      ] as const) {
        assert.ok(Number.isInteger(reply[field]) && reply[field] >= 0, `${field}: ${reply[field]}`);
      }
      // Nanoseconds: a reply takes well over a microsecond and well under a minute.
      assert.ok(reply.total_duration > 1_000 && reply.total_duration < 60e9, String(reply.total_duration));
      assert.ok(reply.total_duration >= reply.eval_duration + reply.prompt_eval_duration);
      assert.ok(!Number.isNaN(Date.parse(String(reply.created_at))));
    });

    it("streams NDJSON by default: thinking, then content, then one done chunk", async () => {
      const response = await fetch(`${server.url}/api/chat`, {
        method: "POST",
        body: JSON.stringify({ model: "scripted", messages: hi }),
      });
      assert.equal(response.headers.get("content-type"), "application/x-ndjson");
      const lines = (await response.text()).trim().split("\n");
      const chunks = lines.map((line) => JSON.parse(line));
      assert.ok(chunks.length >= 3);
      assert.deepEqual(
        chunks.map((chunk) => chunk.done),
        [...Array(chunks.length - 1).fill(false), true],
      );
      const thinking = chunks.map((chunk) => chunk.message.thinking ?? "").join("");
      const content = chunks.map((chunk) => chunk.message.content).join("");
      assert.equal(thinking, "let me think");
      assert.equal(content, "The answer is 42");
      const last = chunks.at(-1);
      assert.equal(last.done_reason, "stop");
      assert.equal(last.eval_count, 4);

      const stream = await client.chat({ model: "scripted", messages: hi, stream: true });
      let text = "";
      for await (const part of stream) text += part.message.content;
      assert.equal(text, "The answer is 42");
    });

    it("think: true shows the reasoning apart, false leaves it out, a level turns it on", async () => {
      const on = await client.chat({ model: "scripted", messages: hi, think: true });
      assert.equal(on.message.thinking, "let me think");
      assert.equal(on.message.content, "The answer is 42");
      const off = await client.chat({ model: "scripted", messages: hi, think: false });
      assert.equal(off.message.thinking, undefined);
      assert.equal(off.message.content, "The answer is 42");
      const offStream = await client.chat({ model: "scripted", messages: hi, think: false, stream: true });
      for await (const part of offStream) assert.equal(part.message.thinking, undefined);
      const high = await client.chat({ model: "scripted", messages: hi, think: "high" });
      assert.equal(high.message.thinking, "let me think");
    });

    it("format json and a JSON schema give output that parses and validates", async () => {
      for (const seed of [1, 2, 3]) {
        const reply = await client.chat({
          model: "tiny",
          messages: [{ role: "user", content: "Reply in JSON" }],
          format: "json",
          options: { seed, temperature: 1 },
        });
        const value: unknown = JSON.parse(reply.message.content);
        assert.ok(
          typeof value === "object" && value !== null && !Array.isArray(value),
          reply.message.content,
        );
      }
      const schema = {
        type: "object",
        properties: {
          name: { type: "string", maxLength: 12 },
          age: { type: "integer", minimum: 0, maximum: 130 },
          tags: { type: "array", items: { enum: ["a", "b"] }, maxItems: 3 },
        },
        required: ["name", "age", "tags"],
        additionalProperties: false,
      };
      const validate = new Ajv2020().compile(schema);
      for (const seed of [1, 2, 3]) {
        const reply = await client.chat({
          model: "tiny",
          messages: [{ role: "user", content: "A person" }],
          format: schema,
          options: { seed, temperature: 1 },
        });
        const value: unknown = JSON.parse(reply.message.content);
        assert.ok(validate(value), `${reply.message.content}: ${JSON.stringify(validate.errors)}`);
      }
    });

    it("returns the model's tool call with arguments as an object, and takes the result back", async () => {
      const reply = await client.chat({
        model: "caller",
        messages: [{ role: "user", content: "Weather in Paris?" }],
        tools: [weatherTool],
      });
      assert.equal(reply.message.content, "");
      assert.equal(reply.done_reason, "stop");
      const calls = reply.message.tool_calls ?? [];
      assert.equal(calls.length, 1);
      assert.equal(calls[0]!.function.name, "get_weather");
      assert.deepEqual(calls[0]!.function.arguments, { city: "Paris" });

      const stream = await client.chat({
        model: "caller",
        messages: [{ role: "user", content: "Weather in Paris?" }],
        tools: [weatherTool],
        stream: true,
      });
      const streamed = [];
      for await (const part of stream) streamed.push(...(part.message.tool_calls ?? []));
      assert.deepEqual(
        streamed.map((call) => call.function),
        [{ index: 0, name: "get_weather", arguments: { city: "Paris" } }],
      );

      // The next turn sends the call back (arguments as an object) with the tool's answer.
      const next = await client.chat({
        model: "caller",
        messages: [
          { role: "user", content: "Weather in Paris?" },
          { role: "assistant", content: "", tool_calls: calls },
          { role: "tool", content: '{"temperature": 21}', tool_name: "get_weather" },
        ],
        tools: [weatherTool],
      });
      assert.equal(next.done, true);
    });

    it("options: the same seed gives the same text, num_predict caps it, stop ends it", async () => {
      const ask = (seed: number) =>
        client.chat({
          model: "tiny",
          messages: [{ role: "user", content: "Say something" }],
          options: { seed, temperature: 1, num_predict: 12 },
        });
      const [first, again, other] = [await ask(7), await ask(7), await ask(8)];
      assert.equal(first.message.content, again.message.content);
      assert.notEqual(first.message.content, other.message.content);
      assert.equal(first.eval_count, 12);
      assert.equal(first.done_reason, "length");

      const stopped = await client.chat({ model: "scripted", messages: hi, options: { stop: ["42"] } });
      assert.equal(stopped.message.content, "The answer is ");
      assert.equal(stopped.done_reason, "stop");
      // -1 is unlimited, as in Ollama; other options are accepted.
      const unlimited = await client.chat({
        model: "scripted",
        messages: hi,
        options: { num_predict: -1, top_k: 20, min_p: 0.05, repeat_penalty: 1.1, num_ctx: 8192 },
      });
      assert.equal(unlimited.message.content, "The answer is 42");
    });
  });

  describe("generate", () => {
    it("answers a prompt under the chat template, streamed and not", async () => {
      const reply = await client.generate({ model: "scripted", prompt: "Hi", system: "Be brief." });
      assert.equal(reply.response, "The answer is 42");
      assert.equal(reply.thinking, "let me think");
      assert.equal(reply.done, true);
      assert.equal(reply.done_reason, "stop");
      assert.equal(reply.eval_count, 4);
      const stream = await client.generate({ model: "scripted", prompt: "Hi", stream: true, think: false });
      const parts = [];
      for await (const part of stream) parts.push(part);
      assert.equal(parts.map((part) => part.response).join(""), "The answer is 42");
      assert.ok(parts.every((part) => part.thinking === undefined));
      assert.equal(parts.at(-1)!.done, true);
    });

    it("fills in the middle with suffix, and continues raw text", async () => {
      const filled = await client.generate({
        model: "coder",
        prompt: "def add(a, b):\n",
        suffix: "\nprint(add(1, 2))\n",
      });
      assert.equal(filled.response, MIDDLE);
      const refused = await refusal(() => client.generate({ model: "tiny", prompt: "a", suffix: "b" }));
      assert.equal(refused.status, 400);
      assert.match(refused.message, /fill-in-the-middle/);
      const raw = await client.generate({
        model: "tiny",
        prompt: "Once upon",
        raw: true,
        options: { num_predict: 5 },
      });
      assert.equal(raw.eval_count, 5);
      assert.equal(raw.done_reason, "length");
    });

    it("refuses what it cannot honour with a clear 400", async () => {
      const template = await refusal(() =>
        client.generate({ model: "scripted", prompt: "Hi", template: "{{ .Prompt }}" }),
      );
      assert.equal(template.status, 400);
      assert.match(template.message, /template/);
      const rawJson = await refusal(() =>
        client.generate({ model: "tiny", prompt: "Hi", raw: true, format: "json" }),
      );
      assert.equal(rawJson.status, 400);
      assert.match(rawJson.message, /`format` cannot be used with `raw: true`/);
    });
  });

  describe("embeddings", () => {
    it("embeds one or many inputs as unit vectors, cut to `dimensions`", async () => {
      const reply = await client.embed({ model: "tiny", input: ["hello", "world"] });
      assert.equal(reply.model, "tiny");
      assert.equal(reply.embeddings.length, 2);
      for (const vector of reply.embeddings) {
        assert.equal(vector.length, 64);
        assert.ok(Math.abs(Math.hypot(...vector) - 1) < 1e-6);
      }
      assert.ok(reply.prompt_eval_count >= 2);
      const cut = await client.embed({ model: "tiny", input: "hello", dimensions: 8 });
      assert.equal(cut.embeddings[0]!.length, 8);
      assert.ok(Math.abs(Math.hypot(...cut.embeddings[0]!) - 1) < 1e-6);
      const legacy = await client.embeddings({ model: "tiny", prompt: "hello" });
      assert.equal(legacy.embedding.length, 64);
      // The legacy route is not normalized (as in Ollama); its direction is the same.
      const scale = Math.hypot(...legacy.embedding);
      assert.ok(Math.abs(legacy.embedding[0]! / scale - reply.embeddings[0]![0]!) < 1e-5);
    });
  });

  describe("models", () => {
    it("version, HEAD / and GET /api/version answer as Ollama's health checks expect", async () => {
      const version = await client.version();
      assert.match(version.version, /^\d+\.\d+\.\d+$/);
      const head = await fetch(`${server.url}/`, { method: "HEAD" });
      assert.equal(head.status, 200);
    });

    it("tags lists every model with size, file digest, time and details", async () => {
      await client.chat({ model: "tiny", messages: hi, options: { num_predict: 1 } });
      const digest = createHash("sha256").update(readFileSync(server.fixtures.tiny)).digest("hex");
      // The digest is hashed in the background once the model has loaded.
      let tiny: Awaited<ReturnType<Ollama["list"]>>["models"][number] | undefined;
      await waitFor(async () => {
        tiny = (await client.list()).models.find((model) => model.name === "tiny");
        return tiny?.digest === digest;
      }, "tiny's digest in /api/tags");
      assert.equal(tiny!.model, "tiny");
      assert.equal(tiny!.size, readFileSync(server.fixtures.tiny).length);
      assert.ok(!Number.isNaN(Date.parse(String(tiny!.modified_at))));
      assert.equal(tiny!.details.format, "gguf");
      assert.equal(tiny!.details.family, "llama");
      assert.equal(tiny!.details.quantization_level, "F32");
      assert.match(tiny!.details.parameter_size, /^\d+(\.\d+)?[KMB]$/);
      const names = (await client.list()).models.map((model) => model.name);
      for (const name of ["scripted", "caller", "coder", "tiny"])
        assert.ok(names.includes(name), names.join());
    });

    it("show describes a model; an unknown one is a 404", async () => {
      const shown = await client.show({ model: "scripted" });
      assert.equal(shown.details.family, "llama");
      assert.deepEqual(shown.capabilities, ["completion", "tools"]);
      assert.equal((shown.model_info as unknown as Record<string, unknown>)["llama.context_length"], 4096);
      assert.equal((await client.show({ model: "scripted:latest" })).details.family, "llama");
      const missing = await refusal(() => client.show({ model: "nope" }));
      assert.equal(missing.status, 404);
      assert.match(missing.message, /'nope' does not exist/);
    });

    it("ps lists loaded models; keep_alive 0 unloads after the request; an empty prompt loads", async () => {
      await client.chat({ model: "coder", messages: hi, keep_alive: 0 });
      await waitFor(
        () => server.engine.listModels().find((model) => model.id === "coder")?.state !== "ready",
        "coder unloaded",
      );
      assert.ok(!(await client.ps()).models.some((model) => model.name === "coder"));

      const loaded = await client.generate({ model: "coder", prompt: "" });
      assert.equal(loaded.done_reason, "load");
      const running = (await client.ps()).models.find((model) => model.name === "coder");
      assert.ok(running, "coder is listed as running");
      assert.equal((running as unknown as { context_length: number }).context_length, 2048);
      // --idle-unload's default, 30 minutes, from the last use.
      const expires = Date.parse(String(running.expires_at)) - Date.now();
      assert.ok(expires > 1790e3 && expires <= 1800e3, `expires in ${expires} ms`);
      const unloaded = await client.chat({ model: "coder", messages: [], keep_alive: "0s" });
      assert.equal(unloaded.done_reason, "unload");
      assert.ok(!(await client.ps()).models.some((model) => model.name === "coder"));
    });
  });

  describe("pull", () => {
    it("pulls a catalog name from the mirror with Ollama's progress lines, serves it, deletes it", async () => {
      const stream = await client.pull({ model: "qwen2.5:0.5b", stream: true });
      const statuses = [];
      for await (const part of stream) statuses.push(part);
      const digest = sha256Of(mirrored);
      assert.deepEqual(statuses[0], { status: "pulling manifest" });
      const layers = statuses.filter((part) => part.status.startsWith("pulling ") && part.digest);
      assert.ok(layers.length >= 2, JSON.stringify(statuses));
      for (const layer of layers) {
        assert.equal(layer.status, `pulling ${digest.slice(0, 12)}`);
        assert.equal(layer.digest, `sha256:${digest}`);
        assert.equal(layer.total, mirrored.length);
      }
      const completed = layers.map((layer) => layer.completed);
      assert.deepEqual(
        completed,
        [...completed].sort((a, b) => a - b),
      );
      assert.equal(completed.at(-1), mirrored.length);
      assert.deepEqual(
        statuses.slice(-3).map((part) => part.status),
        ["verifying sha256 digest", "writing manifest", "success"],
      );

      const names = (await client.list()).models.map((model) => model.name);
      assert.ok(names.includes("qwen2.5:0.5b"), names.join());
      const reply = await client.chat({ model: "qwen2.5:0.5b", messages: hi, options: { num_predict: 2 } });
      assert.equal(reply.eval_count, 2);
      // Pulling what is already here succeeds at once, without streaming too.
      assert.deepEqual(await client.pull({ model: "qwen2.5:0.5b" }), { status: "success" });
      const unknown = await refusal(() => client.pull({ model: "no-such-model:7b" }));
      assert.equal(unknown.status, 400);
      assert.match(unknown.message, /Unknown model "no-such-model:7b"/);

      // Deleting it (loaded, as it just answered) unloads it and removes the file.
      assert.deepEqual(await client.delete({ model: "qwen2.5:0.5b" }), { status: "success" });
      const left = (await client.list()).models.map((model) => model.name);
      assert.ok(!left.includes("qwen2.5:0.5b"), left.join());
      assert.deepEqual(await fs.readdir(path.join(dir, "data", "models")), []);
      const gone = await refusal(() => client.delete({ model: "qwen2.5:0.5b" }));
      assert.equal(gone.status, 404);
    });
  });

  describe("bad input and clients that leave", () => {
    it("answers unknown models, malformed JSON and wrong types with Ollama's error shape, never 500", async () => {
      const unknown = await refusal(() => client.chat({ model: "nope", messages: hi }));
      assert.equal(unknown.status, 404);
      assert.match(unknown.message, /'nope' does not exist/);
      const cases: Array<[string, unknown, RegExp]> = [
        ["/api/chat", "{not json", /not valid JSON/],
        ["/api/chat", { model: "scripted", messages: "hi" }, /`messages`/],
        [
          "/api/chat",
          { model: "scripted", messages: [{ role: "robot", content: "x" }] },
          /messages\.0\.role/,
        ],
        [
          "/api/chat",
          { model: "scripted", messages: hi, options: { temperature: "hot" } },
          /options\.temperature/,
        ],
        ["/api/chat", { model: "scripted", messages: hi, keep_alive: "soon" }, /keep_alive/],
        ["/api/chat", { model: "scripted", messages: hi, think: "very" }, /`think`/],
        ["/api/chat", { model: 5, messages: hi }, /`model`/],
        ["/api/generate", { model: "scripted", prompt: 5 }, /`prompt`/],
        ["/api/generate", { model: "scripted", prompt: "x", images: ["bm90IGFuIGltYWdl"] }, /images\.0/],
        ["/api/embed", { model: "tiny" }, /`input`/],
        ["/api/show", {}, /`model`/],
        ["/api/pull", { model: 3 }, /`model`/],
      ];
      for (const [route, body, message] of cases) {
        const { status, json } = await postJson(`${server.url}${route}`, body);
        assert.equal(status, 400, `${route} ${JSON.stringify(body)}: ${status} ${JSON.stringify(json)}`);
        assert.equal(typeof json.error, "string");
        assert.match(json.error, message);
        assert.equal(typeof json.code, "string");
      }
    });

    it("frees the sequence when a client aborts mid-stream", async () => {
      const stream = await client.chat({
        model: "tiny",
        messages: [{ role: "user", content: "write forever" }],
        options: { num_predict: -1 },
        stream: true,
      });
      for await (const part of stream) {
        assert.equal(part.done, false);
        break;
      }
      assert.equal(server.engine.stats().busySequences, 1);
      const aborted = server.engine.stats().abortedRequests;
      stream.abort();
      await waitFor(() => server.engine.stats().busySequences === 0, "the sequence is free", 5000);
      assert.equal(server.engine.stats().abortedRequests, aborted + 1);
      const next = await client.chat({ model: "tiny", messages: hi, options: { num_predict: 3 } });
      assert.equal(next.eval_count, 3);
    });

    it("leaves the app API as it was: its 404s and session checks", async () => {
      const missing = await new AppClient(server.url).request("GET", "/api/no-such-route");
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error.code, "not_found");
      const conversations = await new AppClient(server.url).request("GET", "/api/conversations");
      assert.equal(conversations.status, 200);
    });
  });
});

describe("Ollama API in accounts mode", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ accounts: true });
  });
  after(() => server.close());

  it("refuses a request without a key with 401, serves one with a Bearer key", async () => {
    const anonymous = new Ollama({ host: server.url });
    const refused = await refusal(() => anonymous.chat({ model: "scripted", messages: hi }));
    assert.equal(refused.status, 401);
    assert.match(refused.message, /API key/i);
    assert.equal((await refusal(() => anonymous.list())).status, 401);
    // Health checks need no key.
    assert.match((await anonymous.version()).version, /^\d+\.\d+\.\d+$/);

    const user = await server.store.users.create({ name: "bob", role: "user", password: "correct horse" });
    const { plaintext } = await server.store.apiKeys.create({ userId: user.id, name: "ollama" });
    const keyed = new Ollama({ host: server.url, headers: { authorization: `Bearer ${plaintext}` } });
    const reply = await keyed.chat({ model: "scripted", messages: hi });
    assert.equal(reply.message.content, "The answer is 42");
    assert.ok((await keyed.list()).models.some((model) => model.name === "scripted"));
    // Pulling and deleting change the server's disk: admins only.
    const pull = await refusal(() => keyed.pull({ model: "qwen2.5:0.5b" }));
    assert.equal(pull.status, 403);
    assert.equal((await refusal(() => keyed.delete({ model: "scripted" }))).status, 403);
    // The app's routes keep their own session check.
    const app = await new AppClient(server.url).request("GET", "/api/conversations");
    assert.equal(app.status, 401);
    assert.equal(app.json.error.code, "not_logged_in");
  });
});
