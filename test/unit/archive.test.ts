import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ArchiveError,
  IMPORT_LIMITS,
  parseImport,
  writeQiusuoExport,
  type ExportableConversation,
  type ImportedConversation,
  type ImportLimits,
} from "../../src/protocol/archive/index.js";
import type { ConversationExport, ConversationImport } from "../../src/store/conversations.js";

// What the store exports, the writer takes; what the reader makes, the store imports.
const _exportFits = (conversation: ConversationExport): ExportableConversation => conversation;
const _importFits = (conversation: ImportedConversation): ConversationImport => conversation;

const text = (role: string, parts: unknown[], time: number | null, metadata: object = {}) => ({
  author: { role },
  content: {
    content_type: parts.some((part) => typeof part !== "string") ? "multimodal_text" : "text",
    parts,
  },
  create_time: time,
  metadata,
});

/** A ChatGPT conversation: a null root, a hidden system node, a regenerated reply, thoughts, code and tool output. */
function chatgptSample() {
  return [
    {
      title: "Tides",
      create_time: 1_700_000_000.5,
      update_time: 1_700_000_100,
      current_node: "a2",
      mapping: {
        root: { id: "root", message: null, parent: null, children: ["sys"] },
        sys: {
          id: "sys",
          message: text("system", [""], null, { is_visually_hidden_from_conversation: true }),
          parent: "root",
          children: ["u1"],
        },
        u1: {
          id: "u1",
          message: text("user", ["Why are there tides?"], 1_700_000_001),
          parent: "sys",
          children: ["t1", "b1"],
        },
        t1: {
          id: "t1",
          message: {
            author: { role: "assistant" },
            content: {
              content_type: "thoughts",
              thoughts: [{ summary: "Moon", content: "The moon's gravity pulls water." }],
            },
            create_time: 1_700_000_002,
            metadata: {},
          },
          parent: "u1",
          children: ["r1"],
        },
        r1: {
          id: "r1",
          message: {
            author: { role: "assistant" },
            content: { content_type: "reasoning_recap", content: "Thought for 3 seconds" },
            create_time: 1_700_000_003,
          },
          parent: "t1",
          children: ["a1"],
        },
        a1: {
          id: "a1",
          message: text("assistant", ["Mostly the moon."], 1_700_000_004, { model_slug: "o3" }),
          parent: "r1",
          children: ["u2"],
        },
        u2: {
          id: "u2",
          message: text(
            "user",
            [{ content_type: "image_asset_pointer", asset_pointer: "file-1" }, "And this beach?"],
            1_700_000_010,
          ),
          parent: "a1",
          children: ["c1"],
        },
        c1: {
          id: "c1",
          message: {
            author: { role: "assistant" },
            recipient: "python",
            content: { content_type: "code", language: "python", text: "print(1)" },
            create_time: 1_700_000_011,
          },
          parent: "u2",
          children: ["tool1"],
        },
        tool1: {
          id: "tool1",
          message: {
            author: { role: "tool", name: "python" },
            content: { content_type: "execution_output", text: "1" },
            create_time: 1_700_000_012,
          },
          parent: "c1",
          children: ["a2"],
        },
        a2: {
          id: "a2",
          message: text("assistant", ["It is a beach."], 1_700_000_013),
          parent: "tool1",
          children: [],
        },
        b1: { id: "b1", message: text("assistant", ["Gravity."], 1_700_000_020), parent: "u1", children: [] },
      },
    },
  ];
}

/**
 * DeepSeek's conversations.json as users and open-source readers show it: ISO times with +08:00,
 * a `root` node, fragments REQUEST / THINK / RESPONSE / SEARCH, and a regenerated reply.
 */
function deepseekSample() {
  const message = (time: string, fragments: object[], model = "deepseek-reasoner") => ({
    files: [],
    model,
    inserted_at: time,
    fragments,
  });
  return [
    {
      id: "801e9692-c784-4402-bac6-d97a4722e943",
      title: "量子计算",
      inserted_at: "2025-03-30T04:49:36.505000+08:00",
      updated_at: "2025-03-30T04:50:29.156000+08:00",
      mapping: {
        root: { id: "root", parent: null, children: ["1"], message: null },
        "1": {
          id: "1",
          parent: "root",
          children: ["2", "4"],
          message: message("2025-03-30T04:49:37.018000+08:00", [
            { type: "REQUEST", content: "什么是量子计算？" },
          ]),
        },
        "2": {
          id: "2",
          parent: "1",
          children: ["3"],
          message: message("2025-03-30T04:49:50.000000+08:00", [
            { type: "THINK", content: "用户想了解量子计算。" },
            { type: "RESPONSE", content: "量子计算利用量子比特。" },
          ]),
        },
        "3": {
          id: "3",
          parent: "2",
          children: [],
          message: message("2025-03-30T04:50:10.000000+08:00", [{ type: "REQUEST", content: "举个例子" }]),
        },
        "4": {
          id: "4",
          parent: "1",
          children: [],
          message: message(
            "2025-03-30T04:50:29.000000+08:00",
            [
              { type: "SEARCH", results: [{ url: "https://example.com", title: "Qubits" }] },
              { type: "RESPONSE", content: "它是一种新的计算方式。" },
            ],
            "deepseek-chat",
          ),
        },
      },
    },
  ];
}

function exportable(): ExportableConversation[] {
  const base = {
    toolCalls: null,
    model: null,
    settings: null,
    usage: null,
    provenance: null,
    reasoning: null,
  };
  return [
    {
      id: "c1",
      title: "Round trip",
      settings: { model: "qwen", temperature: 0.5 },
      currentLeafId: "m3",
      createdAt: 1000,
      updatedAt: 4000,
      messages: [
        {
          ...base,
          id: "m1",
          parentId: null,
          role: "user",
          content: "hi",
          status: "complete",
          createdAt: 1000,
        },
        {
          ...base,
          id: "m2",
          parentId: "m1",
          role: "assistant",
          content: "hello",
          reasoning: "greet",
          model: "qwen",
          usage: { prompt_tokens: 1 },
          provenance: { seed: 1 },
          toolCalls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }],
          status: "interrupted",
          createdAt: 2000,
        },
        {
          ...base,
          id: "m3",
          parentId: "m1",
          role: "assistant",
          content: "hey",
          status: "complete",
          createdAt: 3000,
        },
      ],
    },
  ];
}

const rejects = (json: unknown, code: string, pattern?: RegExp, limits?: Partial<ImportLimits>) =>
  assert.rejects(
    parseImport(json, { limits }),
    (error) =>
      error instanceof ArchiveError && error.code === code && (!pattern || pattern.test(error.message)),
  );

describe("archive import", () => {
  it("reads ChatGPT's tree, dropping null, hidden and tool nodes and keeping the branch", async () => {
    const parsed = await parseImport(chatgptSample());
    assert.equal(parsed.format, "chatgpt");
    const [conversation] = parsed.conversations;
    assert.ok(conversation);
    assert.equal(conversation.title, "Tides");
    assert.equal(conversation.createdAt, 1_700_000_000_500);
    assert.equal(conversation.updatedAt, 1_700_000_100_000);
    const byId = new Map(conversation.messages.map((message) => [message.id, message]));
    assert.deepEqual(
      conversation.messages.map((message) => [message.id, message.parentId, message.role]).sort(),
      [
        ["a1", "u1", "assistant"],
        ["a2", "c1", "assistant"],
        ["b1", "u1", "assistant"],
        ["c1", "u2", "assistant"],
        ["u1", null, "user"],
        ["u2", "a1", "user"],
      ],
    );
    assert.equal(byId.get("a1")?.reasoning, "The moon's gravity pulls water.", "thoughts become reasoning");
    assert.equal(byId.get("a1")?.model, "o3");
    assert.equal(byId.get("b1")?.reasoning, null);
    assert.equal(byId.get("u2")?.content, "And this beach?", "string parts of multimodal text");
    assert.equal(byId.get("c1")?.content, "```python\nprint(1)\n```");
    assert.equal(byId.get("u1")?.createdAt, 1_700_000_001_000);
    assert.equal(conversation.currentLeafId, "a2");
  });

  it("moves ChatGPT's current node up to the nearest kept message", async () => {
    const sample = chatgptSample();
    sample[0]!.current_node = "tool1";
    assert.equal((await parseImport(sample)).conversations[0]?.currentLeafId, "c1");
  });

  it("reads DeepSeek's fragments: request, thinking, response, search dropped", async () => {
    const parsed = await parseImport(deepseekSample());
    assert.equal(parsed.format, "deepseek");
    const [conversation] = parsed.conversations;
    assert.ok(conversation);
    assert.equal(conversation.title, "量子计算");
    assert.equal(conversation.createdAt, Date.parse("2025-03-29T20:49:36.505Z"));
    assert.equal(conversation.updatedAt, Date.parse("2025-03-29T20:50:29.156Z"));
    assert.deepEqual(
      conversation.messages.map((message) => [message.id, message.parentId, message.role, message.content]),
      [
        ["1", null, "user", "什么是量子计算？"],
        ["2", "1", "assistant", "量子计算利用量子比特。"],
        ["4", "1", "assistant", "它是一种新的计算方式。"],
        ["3", "2", "user", "举个例子"],
      ],
    );
    const [, reply, regenerated] = conversation.messages;
    assert.equal(reply?.reasoning, "用户想了解量子计算。");
    assert.equal(reply?.model, "deepseek-reasoner");
    assert.equal(regenerated?.model, "deepseek-chat");
    assert.equal(regenerated?.reasoning, null);
    assert.equal(conversation.messages[0]?.model, null, "a request has no model");
    assert.equal(conversation.currentLeafId, null, "the export names no branch");
  });

  it("round-trips a qiusuo export, without user ids", async () => {
    const source = exportable();
    const withUser = source.map((conversation) => ({ ...conversation, userId: "u-secret" }));
    const written = writeQiusuoExport(withUser, 5000);
    const json = JSON.parse(JSON.stringify(written));
    assert.ok(!JSON.stringify(json).includes("u-secret"));
    assert.equal(json.exportedAt, 5000);
    const parsed = await parseImport(json);
    assert.equal(parsed.format, "qiusuo");
    const [conversation] = parsed.conversations;
    const [original] = source;
    assert.ok(conversation && original);
    const { messages, ...fields } = conversation;
    const { messages: originalMessages, id: _id, ...originalFields } = original;
    assert.deepEqual(fields, originalFields);
    assert.deepEqual(messages, originalMessages);
  });

  it("refuses unknown formats, listing the accepted ones", async () => {
    for (const json of [
      null,
      42,
      "text",
      {},
      { format: "other" },
      [1, 2],
      [{ title: "x" }],
      { conversations: [] },
    ]) {
      await rejects(json, "import_format_unknown", /qiusuo export.*ChatGPT.*DeepSeek/);
    }
    await rejects([], "import_invalid", /no conversations/);
    await rejects({ format: "qiusuo", version: 2, conversations: [] }, "import_invalid", /version 2/);
    await rejects(
      { format: "qiusuo", version: 1, conversations: [{ title: 1 }] },
      "import_invalid",
      /conversations\.0\.title/,
    );
    assert.equal(new ArchiveError("import_format_unknown", "x").kind, "invalid_request");
    assert.equal(new ArchiveError("import_too_large", "x").kind, "invalid_parameter");
  });

  it("refuses cycles, duplicate ids and dangling parents", async () => {
    const cyclic = chatgptSample();
    cyclic[0]!.mapping.root.parent = "a2" as unknown as null;
    await rejects(cyclic, "import_invalid", /cycle/);
    const selfParent = deepseekSample();
    selfParent[0]!.mapping["3"].parent = "3";
    await rejects(selfParent, "import_invalid", /cycle/);

    const written = JSON.parse(JSON.stringify(writeQiusuoExport(exportable())));
    const duplicate = structuredClone(written);
    duplicate.conversations[0].messages[2].id = "m1";
    await rejects(duplicate, "import_invalid", /appears twice/);
    const dangling = structuredClone(written);
    dangling.conversations[0].messages[1].parentId = "gone";
    await rejects(dangling, "import_invalid", /not in the file/);
  });
});

/** `levels` objects nested in one another. */
function nested(levels: number): unknown {
  let value: unknown = "leaf";
  for (let level = 0; level < levels; level++) value = { inner: value };
  return value;
}

/** A ChatGPT conversation: `length` message-less nodes in a chain, then one user message. */
function droppedChain(length: number) {
  const mapping: Record<string, unknown> = {};
  for (let index = 0; index < length; index++) {
    mapping[`n${index}`] = { id: `n${index}`, parent: index === 0 ? null : `n${index - 1}`, message: null };
  }
  mapping.last = { id: "last", parent: `n${length - 1}`, message: text("user", ["at the end"], 1) };
  return [{ title: "Chain", create_time: 1, current_node: `n${length - 1}`, mapping }];
}

/** CPU ms of the fastest of `runs` runs of `work`. */
async function fastestCpuMs(work: () => Promise<unknown>, runs = 2): Promise<number> {
  let fastest = Infinity;
  for (let run = 0; run < runs; run++) {
    const start = process.cpuUsage();
    await work();
    const used = process.cpuUsage(start);
    fastest = Math.min(fastest, (used.user + used.system) / 1000);
  }
  return fastest;
}

describe("archive import limits", () => {
  it("takes a file at each limit and refuses one past it, naming the limit", async () => {
    const sample = chatgptSample()[0]!;
    const nodes = Object.keys(sample.mapping).length;
    const two = [sample, chatgptSample()[0]!];
    const messages = (await parseImport(two)).conversations.flatMap((conversation) => conversation.messages);
    const textLength = messages.reduce(
      (sum, message) => sum + message.content.length + (message.reasoning?.length ?? 0),
      0,
    );
    const cases: Array<[Partial<ImportLimits>, Partial<ImportLimits>, RegExp]> = [
      [{ conversations: 2 }, { conversations: 1 }, /2 conversations; an import takes at most 1\./],
      [
        { conversationNodes: nodes },
        { conversationNodes: nodes - 1 },
        new RegExp(
          `Conversation 1 holds ${nodes} message-tree nodes; a conversation can have at most ${nodes - 1}`,
        ),
      ],
      [
        { nodes: 2 * nodes },
        { nodes: 2 * nodes - 1 },
        new RegExp(`more than ${2 * nodes - 1} message-tree nodes`),
      ],
      [
        { messages: messages.length },
        { messages: messages.length - 1 },
        new RegExp(`more than ${messages.length - 1} messages`),
      ],
      [{ textLength }, { textLength: textLength - 1 }, new RegExp(`more than ${textLength - 1} characters`)],
    ];
    for (const [fits, past, pattern] of cases) {
      assert.equal((await parseImport(two, { limits: fits })).conversations.length, 2, JSON.stringify(fits));
      await rejects(two, "import_too_large", pattern, past);
    }
  });

  it("refuses the defaults' conversations and nodes before reading them", async () => {
    const many = Array.from({ length: IMPORT_LIMITS.conversations + 1 }, () => ({
      create_time: 1,
      mapping: {},
    }));
    await rejects(many, "import_too_large", /10001 conversations; an import takes at most 10000/);
    await rejects(droppedChain(IMPORT_LIMITS.conversationNodes), "import_too_large", /at most 100000\./);
  });

  it("refuses kept values nested deeper than 64 levels, at any depth, without overflowing", async () => {
    const withSettings = (settings: unknown, toolArguments = "{}") => {
      const written = JSON.parse(JSON.stringify(writeQiusuoExport(exportable())));
      written.conversations[0].messages[1].settings = settings;
      written.conversations[0].messages[1].toolCalls[0].function.arguments = toolArguments;
      return written;
    };
    // The message is level 1 and its settings level 2: 62 more fit, 63 do not.
    assert.equal((await parseImport(withSettings({ deep: nested(62) }))).conversations.length, 1);
    await rejects(
      withSettings({ deep: nested(63) }),
      "import_too_large",
      /message 2 nests .* deeper than 64/,
    );
    await rejects(withSettings({ deep: nested(200_000) }), "import_too_large", /deeper than 64/);
    await rejects(
      withSettings({}, "[".repeat(65) + "]".repeat(65)),
      "import_too_large",
      /tool-call arguments/,
    );
    // Nesting where nothing is kept is read at fixed depths and refused for its shape.
    await rejects([nested(200_000)], "import_format_unknown");
  });

  it("hands ChatGPT's thoughts to every reply below them, counting the text once per reply", async () => {
    const thinking = "x".repeat(1000);
    const mapping: Record<string, unknown> = {
      t: {
        id: "t",
        parent: null,
        message: {
          author: { role: "assistant" },
          content: { content_type: "thoughts", thoughts: [{ content: thinking }] },
        },
      },
    };
    for (let index = 0; index < 100; index++) {
      mapping[`a${index}`] = { id: `a${index}`, parent: "t", message: text("assistant", ["ok"], 1) };
    }
    const file = [{ title: "Fan", create_time: 1, mapping }];
    const [conversation] = (await parseImport(file)).conversations;
    assert.equal(conversation?.messages.length, 100);
    assert.ok(conversation?.messages.every((message) => message.reasoning === thinking));
    await rejects(file, "import_too_large", /characters of text/, { textLength: 100 * 1002 - 1 });
  });
});

describe("archive import of long chains and deep trees", () => {
  it("imports a 40,000-node chain of message-less nodes in well under a second", async () => {
    const started = performance.now();
    const [conversation] = (await parseImport(droppedChain(40_000))).conversations;
    assert.deepEqual(
      conversation?.messages.map((message) => [message.id, message.parentId]),
      [["last", null]],
    );
    assert.equal(conversation?.currentLeafId, null, "no kept node above the current one");
    // About 0.1 s here; before, 40,000 nodes ran out of heap after a minute (20,000: 23 s, 2.5 GB).
    assert.ok(performance.now() - started < 5000, `took ${performance.now() - started} ms`);
  });

  it("reads a chain 4 times as long in about 4 times the CPU time, not 16", async () => {
    const short = droppedChain(25_000);
    const long = droppedChain(IMPORT_LIMITS.conversationNodes - 1);
    await parseImport(short); // warm up the JIT
    // The fastest of five runs each: process CPU time counts the GC threads too, and one major
    // collection in a run of a few milliseconds skews it (a CI run measured 10x once).
    const shortMs = await fastestCpuMs(() => parseImport(short), 5);
    const longMs = await fastestCpuMs(() => parseImport(long), 5);
    // Linear is 4; the copying of ancestor lists this guards against was 16 and more.
    assert.ok(longMs / shortMs < 12, `25,000 nodes: ${shortMs} ms, 100,000: ${longMs} ms`);
  });

  it("reads a 50,000-deep chain of messages and a long dropped chain above 20,000 replies", async () => {
    const written = JSON.parse(JSON.stringify(writeQiusuoExport(exportable())));
    const [first] = written.conversations[0].messages;
    written.conversations[0].messages = Array.from({ length: 50_000 }, (_, index) => ({
      ...first,
      id: `m${index}`,
      parentId: index === 0 ? null : `m${index - 1}`,
    }));
    written.conversations[0].currentLeafId = "m49999";
    const [deep] = (await parseImport(written)).conversations;
    assert.equal(deep?.messages.length, 50_000);
    assert.equal(deep?.messages.at(-1)?.parentId, "m49998");

    // Before, each reply copied the 20,000 dropped ids above it: 400 million entries.
    const [chain] = droppedChain(20_000);
    const mapping = chain!.mapping;
    delete mapping.last;
    for (let index = 0; index < 20_000; index++) {
      mapping[`a${index}`] = { id: `a${index}`, parent: "n19999", message: text("assistant", ["ok"], 1) };
    }
    const [fan] = (await parseImport([chain])).conversations;
    assert.equal(fan?.messages.length, 20_000);
    assert.ok(fan?.messages.every((message) => message.parentId === null));
  });
});
