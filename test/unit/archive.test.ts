import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ArchiveError,
  MAX_CONVERSATIONS,
  parseImport,
  writeQiusuoExport,
  type ExportableConversation,
  type ImportedConversation,
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

const rejects = (json: unknown, code: string, pattern?: RegExp) =>
  assert.throws(
    () => parseImport(json),
    (error) =>
      error instanceof ArchiveError && error.code === code && (!pattern || pattern.test(error.message)),
  );

describe("archive import", () => {
  it("reads ChatGPT's tree, dropping null, hidden and tool nodes and keeping the branch", () => {
    const parsed = parseImport(chatgptSample());
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

  it("moves ChatGPT's current node up to the nearest kept message", () => {
    const sample = chatgptSample();
    sample[0]!.current_node = "tool1";
    assert.equal(parseImport(sample).conversations[0]?.currentLeafId, "c1");
  });

  it("reads DeepSeek's fragments: request, thinking, response, search dropped", () => {
    const parsed = parseImport(deepseekSample());
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

  it("round-trips a qiusuo export, without user ids", () => {
    const source = exportable();
    const withUser = source.map((conversation) => ({ ...conversation, userId: "u-secret" }));
    const written = writeQiusuoExport(withUser, 5000);
    const json = JSON.parse(JSON.stringify(written));
    assert.ok(!JSON.stringify(json).includes("u-secret"));
    assert.equal(json.exportedAt, 5000);
    const parsed = parseImport(json);
    assert.equal(parsed.format, "qiusuo");
    const [conversation] = parsed.conversations;
    const [original] = source;
    assert.ok(conversation && original);
    const { messages, ...fields } = conversation;
    const { messages: originalMessages, id: _id, ...originalFields } = original;
    assert.deepEqual(fields, originalFields);
    assert.deepEqual(messages, originalMessages);
  });

  it("refuses unknown formats, listing the accepted ones", () => {
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
      rejects(json, "import_format_unknown", /qiusuo export.*ChatGPT.*DeepSeek/);
    }
    rejects([], "import_invalid", /no conversations/);
    rejects({ format: "qiusuo", version: 2, conversations: [] }, "import_invalid", /version 2/);
    rejects(
      { format: "qiusuo", version: 1, conversations: [{ title: 1 }] },
      "import_invalid",
      /conversations\.0\.title/,
    );
    assert.equal(new ArchiveError("import_format_unknown", "x").kind, "invalid_request");
    assert.equal(new ArchiveError("import_too_large", "x").kind, "invalid_parameter");
  });

  it("refuses cycles, duplicate ids, dangling parents and oversized or deeply nested files", () => {
    const cyclic = chatgptSample();
    cyclic[0]!.mapping.root.parent = "a2" as unknown as null;
    rejects(cyclic, "import_invalid", /cycle/);
    const selfParent = deepseekSample();
    selfParent[0]!.mapping["3"].parent = "3";
    rejects(selfParent, "import_invalid", /cycle/);

    const written = JSON.parse(JSON.stringify(writeQiusuoExport(exportable())));
    const duplicate = structuredClone(written);
    duplicate.conversations[0].messages[2].id = "m1";
    rejects(duplicate, "import_invalid", /appears twice/);
    const dangling = structuredClone(written);
    dangling.conversations[0].messages[1].parentId = "gone";
    rejects(dangling, "import_invalid", /not in the file/);

    const many = Array.from({ length: MAX_CONVERSATIONS + 1 }, () => chatgptSample()[0]);
    rejects(many, "import_too_large", /10000/);
    let deep: unknown = "leaf";
    for (let depth = 0; depth < 100_000; depth++) deep = [deep];
    rejects(deep, "import_too_large", /nests deeper/);
    const hugeMapping = {
      title: "big",
      create_time: 1,
      current_node: null,
      mapping: {} as Record<string, unknown>,
    };
    for (let index = 0; index < 100_001; index++) {
      hugeMapping.mapping[`n${index}`] = {
        id: `n${index}`,
        parent: index === 0 ? null : `n${index - 1}`,
        message: text("user", [`message ${index}`], 1),
      };
    }
    rejects([hugeMapping], "import_too_large", /100000/);
  });

  it("throws nothing but ArchiveError on random and mutated input", () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
    const randomValue = (depth: number): unknown => {
      const kind = Math.floor(random() * (depth > 3 ? 6 : 9));
      switch (kind) {
        case 0:
          return null;
        case 1:
          return random() < 0.5;
        case 2:
          return pick([0, -1, 1.5, 1e20, Number.MAX_SAFE_INTEGER, 1_700_000_000]);
        case 3:
          return pick([
            "",
            "root",
            "1",
            "a2",
            "text",
            "REQUEST",
            "量子",
            "2025-03-30T04:49:37+08:00",
            "__proto__",
          ]);
        case 4:
          return pick(["qiusuo", "code", "thoughts", "user", "assistant"]);
        case 5:
          return undefined;
        case 6:
          return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(depth + 1));
        default: {
          const keys = [
            "format",
            "version",
            "conversations",
            "mapping",
            "message",
            "parent",
            "children",
            "id",
            "title",
            "content",
            "parts",
            "fragments",
            "author",
            "role",
            "content_type",
            "thoughts",
            "create_time",
            "inserted_at",
            "current_node",
            "messages",
            "parentId",
            "createdAt",
            "type",
          ];
          const object: Record<string, unknown> = {};
          for (let count = Math.floor(random() * 5); count > 0; count--)
            object[pick(keys)] = randomValue(depth + 1);
          return object;
        }
      }
    };
    const mutate = (value: unknown, depth: number): unknown => {
      if (typeof value !== "object" || value === null) return random() < 0.1 ? randomValue(depth) : value;
      if (random() < 0.05) return randomValue(depth);
      if (Array.isArray(value)) return value.map((item) => mutate(item, depth + 1));
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        if (random() < 0.05) continue;
        copy[key] = mutate(item, depth + 1);
      }
      if (random() < 0.05) copy[pick(["parent", "id", "mapping", "messages"])] = randomValue(depth);
      return copy;
    };
    const samples = [
      chatgptSample(),
      deepseekSample(),
      JSON.parse(JSON.stringify(writeQiusuoExport(exportable()))),
    ];
    let parsedCount = 0;
    for (let round = 0; round < 3000; round++) {
      const input = round % 3 === 0 ? randomValue(0) : mutate(pick(samples), 0);
      try {
        const result = parseImport(input);
        parsedCount++;
        for (const conversation of result.conversations) {
          const seen = new Set<string>();
          for (const message of conversation.messages) {
            assert.ok(message.parentId === null || seen.has(message.parentId), "parents come first");
            seen.add(message.id);
          }
        }
      } catch (error) {
        assert.ok(error instanceof ArchiveError, `round ${round}: ${String(error)}`);
      }
    }
    assert.ok(parsedCount > 100, `some mutated files still import (${parsedCount})`);
  });
});
