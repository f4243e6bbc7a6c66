// The app's chat turn (src/chat/turn.ts) on the real engine and store: scripted fixture models
// call a test tool ("caller") and answer from its result ("answer"); the turn runs the tool, feeds
// the result back, and ends cleanly at its step limit, its deadline, an abort, a failing tool or
// an "ask me first" tool. Through the app API, a plain turn streams exactly the events it did
// before the turn layer, back to back.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runTurn, type TurnOptions } from "../../src/chat/turn.js";
import type { TurnEvent } from "../../src/chat/turn-events.js";
import type { ChatRequest } from "../../src/core/chat.js";
import type { Engine } from "../../src/core/engine.js";
import type { SessionUser } from "../../src/store/sessions.js";
import { openStore, type Store } from "../../src/store/store.js";
import type { Tool, ToolContext } from "../../src/tools/tool.js";
import { makeScriptedModel } from "../fixtures/models.js";
import { AppClient, startTestServer, type TestServer } from "./harness.js";
import { testEngines } from "./store-engines.js";

/** The "caller" model asks for `lookup` of "qiusuo", in the `<tool_call>` convention. */
const CALL_SCRIPT = [
  "<tool_call>",
  '\n{"name": "lookup", "arguments": {"term": "qiusuo"}}',
  "\n</tool_call>",
];
/** The "answer" model answers, citing the tool's passage. */
const ANSWER_SCRIPT = ["Qiusuo means", " to seek [citation:1]."];
const ANSWER = ANSWER_SCRIPT.join("");
/** The "talker" model says what it is doing before it calls `lookup`. */
const TALK_SCRIPT = ["Let me look that up.", ...CALL_SCRIPT];
/** The "long" model writes 1,500 tokens, so a deadline lands mid-reply. */
const LONG_SCRIPT = Array.from({ length: 1500 }, (_, index) => ` w${index}`);

/** A `lookup` tool whose run is given; calls are counted with their context. */
function lookupTool(run: Tool["run"], options: { askFirst?: boolean } = {}) {
  const calls: Array<{ args: unknown; context: ToolContext }> = [];
  const tool: Tool = {
    definition: {
      name: "lookup",
      description: "Looks a word up",
      parameters: { type: "object", properties: { term: { type: "string" } }, required: ["term"] },
      strict: false,
    },
    ...options,
    run: (args, context) => {
      calls.push({ args, context });
      return run(args, context);
    },
  };
  return { tool, calls };
}

const PASSAGE = "求索 (qiusuo): to seek, to search for.";
const dictionary: Tool["run"] = async () => ({
  content: PASSAGE,
  isError: false,
  sources: [{ index: 1, title: "Dictionary", url: "http://dictionary.test/qiusuo", passage: PASSAGE }],
});

const databases = testEngines("chat turn");
const dir = mkdtempSync(join(tmpdir(), "qiusuo-turn-"));
before(() => {
  makeScriptedModel(join(dir, "caller.gguf"), { script: CALL_SCRIPT });
  makeScriptedModel(join(dir, "answer.gguf"), { script: ANSWER_SCRIPT });
  makeScriptedModel(join(dir, "talker.gguf"), { script: TALK_SCRIPT });
  makeScriptedModel(join(dir, "long.gguf"), { script: LONG_SCRIPT });
});
after(async () => {
  for (const database of databases) await database.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

for (const database of databases)
  describe(`chat turn (${database.name})`, () => {
    let store: Store;
    let server: TestServer;
    let user: SessionUser;
    before(async () => {
      store = await openStore(await database.fresh());
      server = await startTestServer({
        store,
        models: [
          ...["caller", "answer", "talker", "long"].map((name) => ({ file: join(dir, `${name}.gguf`) })),
          "scripted",
        ],
        engine: { contextSize: 2048 },
      });
      const local = (await server.store.users.findByName("local"))!;
      user = { id: local.id, name: local.name, role: local.role };
    });
    after(async () => {
      await server.close();
      await store.close();
    });

    /**
     * The router the turn is given: the request of each model call is kept, and one that ends with
     * a tool's result goes to the "answer" model (a scripted model answers the same whatever it is
     * asked, so the two steps of a turn need two of them).
     */
    function followUpRouter() {
      const requests: ChatRequest[] = [];
      const engine: Engine = {
        listModels: () => server.router.listModels(),
        chat: (request, signal) => {
          requests.push(request);
          const followUp = request.messages.at(-1)?.role === "tool";
          return server.router.chat(followUp ? { ...request, model: "answer" } : request, signal);
        },
        provenance: (model, options) => server.router.provenance!(model, options),
        dispose: async () => {},
      };
      return { engine, requests };
    }

    /** Runs one turn answering a new question in a new conversation, to its end. */
    async function turn(options: Partial<TurnOptions> = {}) {
      const conversation = await store.conversations.create(user.id, {});
      const question = (await store.conversations.addMessage(user.id, conversation.id, {
        parentId: null,
        role: "user",
        content: "What does qiusuo mean?",
      }))!;
      const events: TurnEvent[] = [];
      const stream = await runTurn({
        engine: server.router,
        store,
        user,
        conversation,
        branch: [question],
        generation: { model: "caller" },
        signal: new AbortController().signal,
        ...options,
      });
      for await (const event of stream) events.push(event);
      const finish = events.at(-1);
      assert.equal(finish?.type, "finish");
      const messages = (await store.conversations.messages(user.id, conversation.id))!;
      const reply = messages.find((message) => message.role === "assistant")!;
      return { conversation, events, finish, reply };
    }

    /** The events' types, a run of text deltas as one `text`. */
    const kinds = (events: TurnEvent[]) =>
      events
        .map((event) => event.type)
        .filter((type, index, all) => type !== "text" || all[index - 1] !== "text");

    it("runs the tool the model calls and answers with its result, usage summed over both calls", async () => {
      const { engine, requests } = followUpRouter();
      const { tool, calls } = lookupTool(dictionary);
      const { conversation, events, finish, reply } = await turn({ engine, tools: [tool] });

      assert.deepEqual(kinds(events), [
        "assistant",
        "usage",
        "tool-call",
        "tool-result",
        "sources",
        "text",
        "usage",
        "finish",
      ]);
      const call = events.find((event) => event.type === "tool-call")!;
      assert.equal(call.name, "lookup");
      assert.deepEqual(JSON.parse(call.arguments), { term: "qiusuo" });
      assert.deepEqual(
        calls.map((made) => made.args),
        [{ term: "qiusuo" }],
      );
      const context = calls[0]!.context;
      assert.equal(context.userId, user.id);
      assert.equal(context.conversationId, conversation.id);
      assert.ok(context.deadline > Date.now() && context.deadline <= Date.now() + 10 * 60_000);
      assert.equal(context.signal.aborted, false);

      // The second model call was given the call and the tool's result, after the question.
      assert.equal(requests.length, 2);
      assert.deepEqual(
        requests[0]!.tools.map((offered) => offered.name),
        ["lookup"],
      );
      assert.deepEqual(requests[1]!.messages, [
        { role: "user", content: "What does qiusuo mean?" },
        {
          role: "assistant",
          content: "",
          toolCalls: [{ id: call.id, name: "lookup", arguments: call.arguments }],
        },
        { role: "tool", content: PASSAGE, toolCallId: call.id },
      ]);

      assert.equal(finish?.type === "finish" && finish.reason, "stop");
      assert.equal(reply.status, "complete");
      assert.equal(reply.content, ANSWER);
      assert.equal(reply.toolCalls, null, "a call qiusuo ran is not left for the client");
      const steps = (reply.provenance!.turn as any).steps;
      assert.deepEqual(steps, [
        {
          step: 1,
          id: call.id,
          name: "lookup",
          arguments: call.arguments,
          result: (await dictionary({}, context)) as any,
        },
      ]);
      const usages = events.flatMap((event) => (event.type === "usage" ? [event.usage] : []));
      assert.equal(reply.usage!.prompt_tokens, usages[0]!.promptTokens + usages[1]!.promptTokens);
      assert.equal(reply.usage!.completion_tokens, usages[0]!.completionTokens + usages[1]!.completionTokens);
      assert.ok(usages[1]!.promptTokens > usages[0]!.promptTokens, "the follow-up prompt holds the result");
    });

    it("meters each model call of a turn once", async () => {
      const before = await server.store.usage.summary("model", { userId: user.id });
      const count = (rows: typeof before, model: string) =>
        rows.find((row) => row.group === model)?.requests ?? 0;
      const { engine } = followUpRouter();
      await turn({ engine, tools: [lookupTool(dictionary).tool] });
      const after = await server.store.usage.summary("model", { userId: user.id });
      // The turn asks for "caller" both times; the test's router sends the follow-up to "answer".
      assert.equal(count(after, "caller") - count(before, "caller"), 2);
    });

    it("ends at the step limit with a clear note, the reply complete", async () => {
      const { tool, calls } = lookupTool(dictionary);
      const { finish, reply } = await turn({ tools: [tool], limits: { maxSteps: 2 } });
      assert.equal(calls.length, 1, "the last step's call is not run");
      assert.ok(finish?.type === "finish");
      assert.equal(finish.reason, "tool-limit");
      assert.match(finish.message!, /still calling tools after 2 steps/);
      assert.equal(reply.status, "complete");
      assert.ok(reply.content.endsWith(finish.message!), reply.content);
      assert.equal((reply.provenance!.turn as any).finish, "tool-limit");
    });

    it("ends a tool that never answers at the deadline, with a note and the reply saved", async () => {
      const { engine } = followUpRouter();
      const { tool, calls } = lookupTool(() => new Promise(() => {}));
      const startedAt = performance.now();
      const { events, finish, reply } = await turn({ engine, tools: [tool], limits: { deadlineMs: 1500 } });
      assert.ok(performance.now() - startedAt < 10_000);
      assert.equal(calls[0]!.context.signal.aborted, true, "the tool was told to stop");
      assert.ok(finish?.type === "finish");
      assert.equal(finish.reason, "deadline");
      assert.match(finish.message!, /ran past its time limit of 1\.5 s/);
      assert.ok(!events.some((event) => event.type === "tool-result"));
      assert.equal(reply.status, "interrupted");
      assert.equal(reply.content, finish.message);
      const [step] = (reply.provenance!.turn as any).steps;
      assert.equal(step.name, "lookup");
      assert.equal(step.result, undefined);
    });

    it("keeps each step's text, a paragraph apart, and gives the model its own words back", async () => {
      const { engine, requests } = followUpRouter();
      const { events, reply } = await turn({
        engine,
        tools: [lookupTool(dictionary).tool],
        generation: { model: "talker" },
      });
      const streamed = events.flatMap((event) => (event.type === "text" ? [event.text] : [])).join("");
      assert.equal(streamed, `Let me look that up.\n\n${ANSWER}`);
      assert.equal(reply.content, streamed);
      assert.equal(requests[1]!.messages.at(-2)!.content, "Let me look that up.");
    });

    it("stops the model at the deadline, keeping what it wrote and a note", async () => {
      const { finish, reply } = await turn({ generation: { model: "long" }, limits: { deadlineMs: 1500 } });
      assert.ok(finish?.type === "finish");
      assert.equal(finish.reason, "deadline");
      assert.equal(reply.status, "interrupted");
      assert.ok(reply.content.startsWith("w0 w1"), reply.content.slice(0, 40));
      assert.ok(reply.content.endsWith(`\n\n${finish.message!}`));
      assert.ok(reply.content.length < LONG_SCRIPT.join("").length, "the reply stopped early");
    });

    it("keeps the connection alive while a slow tool runs", async () => {
      const { engine } = followUpRouter();
      const slow = lookupTool(async (args, context) => {
        await new Promise((resolve) => setTimeout(resolve, 400));
        return dictionary(args, context);
      });
      const { events } = await turn({ engine, tools: [slow.tool], keepAliveMs: 100 });
      const types = events.map((event) => event.type);
      const during = types.slice(types.indexOf("tool-call"), types.indexOf("tool-result"));
      assert.ok(during.filter((type) => type === "keep-alive").length >= 2, types.join(" "));
    });

    it("stops mid-tool when the user goes away, keeping the reply interrupted", async () => {
      const controller = new AbortController();
      const { tool, calls } = lookupTool(() => {
        setTimeout(() => controller.abort(), 50);
        return new Promise(() => {});
      });
      const { engine, requests } = followUpRouter();
      const { finish, reply } = await turn({ engine, tools: [tool], signal: controller.signal });
      assert.equal(finish?.type === "finish" && finish.reason, "aborted");
      assert.equal(calls[0]!.context.signal.aborted, true);
      assert.equal(requests.length, 1, "the model is not called again");
      assert.equal(reply.status, "interrupted");
    });

    it("gives a tool's failure to the model as an error result, and the turn goes on", async () => {
      const { engine, requests } = followUpRouter();
      const { tool } = lookupTool(async () => {
        throw new Error("the dictionary is down");
      });
      const { events, finish, reply } = await turn({ engine, tools: [tool] });
      const result = events.find((event) => event.type === "tool-result")!;
      assert.equal(result.isError, true);
      assert.match(result.content, /the dictionary is down/);
      assert.deepEqual(requests[1]!.messages.at(-1), {
        role: "tool",
        content: result.content,
        toolCallId: result.id,
      });
      assert.equal(finish?.type === "finish" && finish.reason, "stop");
      assert.equal(reply.content, ANSWER);
    });

    it("runs nothing for an ask-me-first tool and ends saying approval is needed", async () => {
      const { engine, requests } = followUpRouter();
      const { tool, calls } = lookupTool(dictionary, { askFirst: true });
      const { events, finish, reply } = await turn({ engine, tools: [tool] });
      assert.equal(calls.length, 0);
      assert.equal(requests.length, 1);
      assert.deepEqual(kinds(events), ["assistant", "usage", "tool-call", "approval-needed", "finish"]);
      assert.equal(finish?.type === "finish" && finish.reason, "approval-needed");
      assert.equal(reply.status, "complete");
      assert.equal((reply.provenance!.turn as any).steps[0].awaitingApproval, true);
    });

    it("streams a plain turn through the app API as before, back to back without a pause", async () => {
      const client = new AppClient(server.url);
      const conversation = (await client.request("POST", "/api/conversations", {})).json;
      let parentId: string | null = null;
      for (const content of ["first", "second", "third"]) {
        const { status, events } = await client.send(conversation.id, {
          parentId,
          content,
          model: "scripted",
          thinking: true,
        });
        assert.equal(status, 200);
        assert.deepEqual(
          events.map((event) => event.event),
          ["user", "assistant", "delta", "delta", "done"],
        );
        const done = events.at(-1)!.data;
        assert.equal(done.status, "complete");
        assert.equal(done.content, "The answer is 42");
        assert.equal(done.provenance.turn, undefined, "a turn without tools records no steps");
        parentId = done.id;
      }
    });

    it("answers an unknown model with a JSON error before any event", async () => {
      const client = new AppClient(server.url);
      const conversation = (await client.request("POST", "/api/conversations", {})).json;
      const response = await client.request("POST", `/api/conversations/${conversation.id}/messages`, {
        parentId: null,
        content: "hello",
        model: "no-such-model",
      });
      assert.equal(response.status, 400, response.text);
      assert.equal(response.json.error.code, "model_not_found");
      const stored = await client.request("GET", `/api/conversations/${conversation.id}`);
      assert.deepEqual(
        stored.json.messages.map((message: { role: string }) => message.role),
        ["user"],
        "no reply is started for a request the model refused",
      );
    });
  });
