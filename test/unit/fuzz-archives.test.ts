/**
 * Property-based fuzzing of the archive readers (`parseImport`: qiusuo, ChatGPT and DeepSeek
 * files). The property, for any JSON value: the import resolves to conversations the store can
 * take (every message after its parent, ids unique, fields of the right types, within the
 * limits) or rejects with an ArchiveError with a short message, and nothing else; within
 * TIME_BOUND_MS.
 *
 * Inputs are arbitrary JSON, arbitrary JSON inside each format's outer shape, and near-valid
 * files of each format (random trees with duplicate ids, cycles, dangling parents, hidden and
 * thinking nodes, odd times and contents) with random edits, some read under tiny limits. Each
 * input goes through JSON.stringify and JSON.parse first, as a request body would.
 *
 * The standing run is a few thousand cases. To run more by hand:
 *   QIUSUO_FUZZ_RUNS=20000 node --import tsx --test test/unit/fuzz-archives.test.ts
 * sets the runs of every property; QIUSUO_FUZZ_SEED replays the seed a failure printed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  ArchiveError,
  IMPORT_LIMITS,
  parseImport,
  type ImportLimits,
  type ParsedImport,
} from "../../src/protocol/archive/index.js";

const TIME_BOUND_MS = 2000;
const RUNS_OVERRIDE = process.env.QIUSUO_FUZZ_RUNS ? Number(process.env.QIUSUO_FUZZ_RUNS) : undefined;
const SEED = process.env.QIUSUO_FUZZ_SEED ? Number(process.env.QIUSUO_FUZZ_SEED) : undefined;

/** fast-check's options for a property run `standing` times unless QIUSUO_FUZZ_RUNS says otherwise. */
const runs = (standing: number) => ({
  numRuns: RUNS_OVERRIDE ?? standing,
  ...(SEED === undefined ? {} : { seed: SEED }),
});

const CODES = new Set(["import_format_unknown", "import_invalid", "import_too_large"]);
const ROLES = new Set(["system", "user", "assistant", "tool"]);

/** Reads `input` as a request body would arrive and checks the property; returns what happened. */
async function check(input: unknown, limits?: Partial<ImportLimits>): Promise<"read" | "refused"> {
  const body: unknown = JSON.parse(JSON.stringify(input) ?? "null");
  const started = performance.now();
  let outcome: "read" | "refused";
  try {
    checkResult(await parseImport(body, { limits }), { ...IMPORT_LIMITS, ...limits });
    outcome = "read";
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    assert.ok(error instanceof ArchiveError, `not an ArchiveError: ${String(error)}`);
    assert.ok(CODES.has(error.code), error.code);
    assert.ok(error.message.length > 0 && error.message.length < 1000, error.message);
    outcome = "refused";
  }
  const elapsed = performance.now() - started;
  assert.ok(elapsed < TIME_BOUND_MS, `took ${elapsed} ms`);
  return outcome;
}

/** What the store's importConversations relies on. */
function checkResult(parsed: ParsedImport, limits: ImportLimits): void {
  assert.ok(["qiusuo", "chatgpt", "deepseek"].includes(parsed.format));
  // An empty qiusuo export (from an account without conversations) imports nothing.
  assert.ok(parsed.conversations.length > 0 || parsed.format === "qiusuo");
  assert.ok(parsed.conversations.length <= limits.conversations);
  let messages = 0;
  for (const conversation of parsed.conversations) {
    assert.equal(typeof conversation.title, "string");
    assert.ok(Number.isFinite(conversation.createdAt) && Number.isFinite(conversation.updatedAt));
    const seen = new Set<string>();
    for (const message of conversation.messages) {
      assert.equal(typeof message.id, "string");
      assert.ok(!seen.has(message.id), `id ${message.id} twice`);
      assert.ok(message.parentId === null || seen.has(message.parentId), "a parent comes before its child");
      assert.ok(ROLES.has(message.role), message.role);
      assert.equal(typeof message.content, "string");
      assert.ok(message.reasoning === null || typeof message.reasoning === "string");
      assert.ok(Number.isFinite(message.createdAt));
      seen.add(message.id);
    }
    if (parsed.format !== "qiusuo" && conversation.currentLeafId !== null) {
      assert.ok(seen.has(conversation.currentLeafId), "the current leaf is a kept message");
    }
    messages += conversation.messages.length;
  }
  assert.ok(messages <= limits.messages);
}

// ---- Values ------------------------------------------------------------------------------------

const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 10 }) },
  { weight: 1, arbitrary: fc.constantFrom("", " ", "\n", "__proto__", "constructor", "量子", "\ud800") },
  { weight: 1, arbitrary: fc.nat({ max: 20_000 }).map((length) => "長".repeat(length)) },
);

const json = fc.jsonValue({ maxDepth: 4 });

/** `levels` arrays nested in one another, around the deepest the limits allow. */
const deep = fc.integer({ min: 55, max: 70 }).map((levels) => {
  let value: unknown = [];
  for (let level = 1; level < levels; level++) value = [value];
  return value;
});

/** Anything for a field: mostly plausible, sometimes the wrong type. */
const odd: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: text },
  { weight: 1, arbitrary: fc.constantFrom(null, true, 0, -1, 1e20, Number.MAX_SAFE_INTEGER) },
  { weight: 1, arbitrary: json },
);

const time = fc.oneof(
  fc.integer({ min: 0, max: 2_000_000_000 }),
  fc.double({ noNaN: true }),
  fc.constantFrom("2025-03-30T04:49:37.018000+08:00", "yesterday", "", "9999-99-99", null),
);

/** How a node points at its parent: at an earlier node (a tree), any node (cycles), or nothing. */
const parentPick = fc.oneof(
  { weight: 30, arbitrary: fc.record({ earlier: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ any: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.record({ named: text }) },
);
type ParentPick = typeof parentPick extends fc.Arbitrary<infer T> ? T : never;

/** True one time in ten: for the flaws that spoil a whole file. */
const rarely = fc.oneof(
  { weight: 9, arbitrary: fc.constant(false) },
  { weight: 1, arbitrary: fc.constant(true) },
);

/** Ids for `count` nodes: mostly distinct, sometimes repeated. */
const idOf = (index: number, repeat: boolean) => (repeat ? `n${index % 3}` : `n${index}`);

function parentOf(pick: ParentPick, index: number, count: number, ids: string[]): string | null {
  if (pick === null) return null;
  if ("earlier" in pick) return index === 0 ? null : ids[pick.earlier % index]!;
  if ("any" in pick) return ids[pick.any % count]!;
  return pick.named;
}

/** A tree of `nodes` made by `node(id, parent)`, with each node's children listed, as both exports do. */
function tree<Node>(
  nodes: Array<{ parent: ParentPick; content: Node }>,
  repeatIds: boolean,
  build: (id: string, parent: string | null, content: Node) => Record<string, unknown>,
): Record<string, unknown> {
  const ids = nodes.map((_, index) => idOf(index, repeatIds));
  const mapping: Record<string, Record<string, unknown>> = {};
  nodes.forEach(({ parent: pick, content }, index) => {
    const id = ids[index]!;
    const parent = parentOf(pick, index, nodes.length, ids);
    mapping[`key${index}`] = { id, parent, children: [], ...build(id, parent, content) };
  });
  for (const node of Object.values(mapping)) {
    const parent = Object.values(mapping).find((other) => other.id === node.parent);
    if (parent) (parent.children as unknown[]).push(node.id);
  }
  return mapping;
}

// ---- ChatGPT -------------------------------------------------------------------------------------

const chatgptMessage = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  {
    weight: 5,
    arbitrary: fc.record({
      author: fc.record({ role: fc.constantFrom("user", "assistant", "system", "tool", "critic") }),
      content: fc.oneof(
        fc.record({
          content_type: fc.constantFrom("text", "multimodal_text"),
          parts: fc.array(fc.oneof(text, json), { maxLength: 3 }),
        }),
        fc.record({ content_type: fc.constant("code"), language: odd, text: odd }),
        fc.record({
          content_type: fc.constant("thoughts"),
          thoughts: fc.array(fc.record({ summary: odd, content: odd }, { requiredKeys: [] }), {
            maxLength: 3,
          }),
        }),
        fc.record({ content_type: fc.constantFrom("reasoning_recap", "execution_output"), content: odd }),
        json,
      ),
      create_time: time,
      metadata: fc.oneof(
        fc.constant({}),
        fc.record({ is_visually_hidden_from_conversation: fc.boolean(), model_slug: odd }),
        json,
      ),
    }),
  },
  { weight: 1, arbitrary: json },
);

const chatgptConversation = fc
  .record({
    nodes: fc.array(fc.record({ parent: parentPick, content: chatgptMessage }), { maxLength: 25 }),
    repeatIds: rarely,
    title: odd,
    create_time: time,
    update_time: time,
    current: fc.oneof(fc.nat(), odd),
  })
  .map(({ nodes, repeatIds, title, create_time, update_time, current }) => ({
    title,
    create_time,
    update_time,
    current_node:
      typeof current === "number" ? idOf(current % Math.max(nodes.length, 1), repeatIds) : current,
    mapping: tree(nodes, repeatIds, (_id, _parent, message) => ({ message })),
  }));

// ---- DeepSeek ------------------------------------------------------------------------------------

const fragment = fc.oneof(
  fc.record({
    type: fc.constantFrom("REQUEST", "RESPONSE", "THINK", "SEARCH", "request", "OTHER"),
    content: odd,
  }),
  fc.record({ type: fc.constant("SEARCH"), results: json }),
  json,
);

const deepseekMessage = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  {
    weight: 5,
    arbitrary: fc.record(
      {
        model: odd,
        inserted_at: time,
        files: fc.constant([]),
        fragments: fc.array(fragment, { maxLength: 4 }),
      },
      { requiredKeys: ["fragments"] },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      { role: fc.constantFrom("USER", "ASSISTANT", "user", 3), content: odd, thinking_content: odd },
      { requiredKeys: [] },
    ),
  },
);

const deepseekConversation = fc
  .record({
    nodes: fc.array(fc.record({ parent: parentPick, content: deepseekMessage }), { maxLength: 25 }),
    repeatIds: rarely,
    numericParents: fc.boolean(),
    id: odd,
    title: odd,
    inserted_at: time,
    updated_at: time,
  })
  .map(({ nodes, repeatIds, numericParents, ...fields }) => ({
    ...fields,
    mapping: tree(nodes, repeatIds, (_id, parent, message) => ({
      message,
      ...(numericParents && parent !== null ? { parent: Number(parent.slice(1)) || parent } : {}),
    })),
  }));

// ---- qiusuo --------------------------------------------------------------------------------------

/** Mostly `valid`, sometimes anything: a message of many fields stays valid often enough. */
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 100, arbitrary: valid }, { weight: 1, arbitrary: odd });

/** Mostly `usual`, sometimes `rare`. */
const seldom = <T, U>(usual: fc.Arbitrary<T>, rare: fc.Arbitrary<U>) =>
  fc.oneof({ weight: 30, arbitrary: usual }, { weight: 1, arbitrary: rare });

const toolCall = mostly(
  fc.record({
    id: text,
    type: fc.constant("function"),
    function: fc.record({
      name: text,
      arguments: seldom(
        text,
        deep.map((value) => JSON.stringify(value)),
      ),
    }),
  }),
);

/** A free-form object, such as a message's usage: mostly an object of JSON. */
const record = mostly(fc.dictionary(text, json, { maxKeys: 4 }));

const qiusuoMessage = fc.record(
  {
    role: mostly(fc.constantFrom("system", "user", "assistant", "tool")),
    content: mostly(text),
    reasoning: fc.option(mostly(text)),
    toolCalls: fc.option(fc.array(toolCall, { maxLength: 2 }), { freq: 2 }),
    model: fc.option(mostly(text)),
    settings: fc.option(
      seldom(
        record,
        deep.map((value) => ({ value })),
      ),
      { freq: 2 },
    ),
    usage: fc.option(record),
    provenance: fc.option(record),
    status: mostly(fc.constantFrom("complete", "streaming", "interrupted")),
    createdAt: mostly(
      fc.oneof({ weight: 10, arbitrary: fc.integer() }, { weight: 1, arbitrary: fc.double() }),
    ),
  },
  { requiredKeys: ["role", "content", "createdAt"] },
);

const qiusuoConversation = fc
  .record({
    nodes: fc.array(fc.record({ parent: parentPick, content: qiusuoMessage }), { maxLength: 25 }),
    repeatIds: rarely,
    title: mostly(text),
    settings: fc.option(
      mostly(fc.record({ model: mostly(text), temperature: mostly(fc.double()) }, { requiredKeys: [] })),
      { nil: undefined },
    ),
    currentLeafId: fc.option(mostly(text)),
    createdAt: mostly(fc.integer()),
    updatedAt: mostly(fc.integer()),
  })
  .map(({ nodes, repeatIds, ...fields }) => {
    const ids = nodes.map((_, index) => idOf(index, repeatIds));
    return {
      ...fields,
      messages: nodes.map(({ parent, content }, index) => ({
        id: ids[index],
        parentId: parentOf(parent, index, nodes.length, ids),
        ...content,
      })),
    };
  });

const qiusuoExport = fc.record({
  format: fc.constant("qiusuo"),
  version: mostly(fc.constant(1)),
  exportedAt: time,
  conversations: fc.array(qiusuoConversation, { maxLength: 3 }),
});

// ---- Edits ---------------------------------------------------------------------------------------

/** An edit at the `at`-th place in a value (counted over all nested fields and items). */
const edit = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom("replace", "delete", "wrap", "add"),
  value: fc.oneof(odd, time, deep),
  key: fc.constantFrom("id", "parent", "parentId", "message", "mapping", "messages", "__proto__", "x"),
});

/** Applies edits in place, walking with a stack (values can be deep). */
function applyEdits(
  value: unknown,
  edits: ReadonlyArray<typeof edit extends fc.Arbitrary<infer T> ? T : never>,
) {
  for (const { at, kind, value: replacement, key } of edits) {
    const places: Array<[Record<string, unknown> | unknown[], string | number]> = [];
    const stack: unknown[] = [value];
    while (stack.length > 0 && places.length < 2000) {
      const current = stack.pop();
      if (typeof current !== "object" || current === null) continue;
      for (const [field, child] of Object.entries(current)) {
        places.push([current as Record<string, unknown>, Array.isArray(current) ? Number(field) : field]);
        stack.push(child);
      }
    }
    const place = places[at % Math.max(places.length, 1)];
    if (!place) continue;
    const [holder, field] = place;
    const target = holder as Record<string | number, unknown>;
    if (kind === "replace") target[field] = replacement;
    else if (kind === "delete" && !Array.isArray(holder)) delete target[field];
    else if (kind === "wrap") target[field] = [target[field]];
    else if (!Array.isArray(holder)) {
      // defineProperty, so that `__proto__` becomes an own key, as JSON.parse makes it.
      Object.defineProperty(holder, key, {
        value: replacement,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return value;
}

const edited = <T>(arbitrary: fc.Arbitrary<T>) =>
  fc
    .tuple(arbitrary, fc.array(edit, { maxLength: 3 }))
    .map(([value, edits]) => applyEdits(JSON.parse(JSON.stringify(value)), edits));

const tinyLimits: fc.Arbitrary<Partial<ImportLimits>> = fc.record(
  {
    conversations: fc.integer({ min: 0, max: 3 }),
    messages: fc.integer({ min: 0, max: 10 }),
    nodes: fc.integer({ min: 0, max: 30 }),
    conversationNodes: fc.integer({ min: 0, max: 15 }),
    textLength: fc.integer({ min: 0, max: 100 }),
    jsonDepth: fc.integer({ min: 1, max: 8 }),
  },
  { requiredKeys: [] },
);

// ---- Properties ----------------------------------------------------------------------------------

describe("archive import fuzzing", () => {
  it("any JSON value is read or refused with an ArchiveError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), async (value) => {
        await check(value);
      }),
      runs(2000),
    );
  });

  it("any JSON inside each format's outer shape is read or refused", async () => {
    const shaped = fc.oneof(
      fc.record({ format: fc.constant("qiusuo"), version: fc.constant(1), conversations: fc.array(json) }),
      fc.array(fc.record({ create_time: time, mapping: fc.dictionary(text, json) }), { maxLength: 3 }),
      fc.array(fc.record({ inserted_at: time, mapping: fc.dictionary(text, json) }), { maxLength: 3 }),
      fc.record({ current_node: odd, mapping: fc.dictionary(text, json) }),
    );
    await fc.assert(
      fc.asyncProperty(shaped, async (value) => {
        await check(value);
      }),
      runs(1000),
    );
  });

  for (const [name, arbitrary] of [
    ["ChatGPT", fc.array(chatgptConversation, { minLength: 1, maxLength: 3 })],
    ["DeepSeek", fc.array(deepseekConversation, { minLength: 1, maxLength: 3 })],
    ["qiusuo", qiusuoExport],
  ] as const) {
    it(`near-valid ${name} files, edited, are read or refused, and many are read`, async () => {
      let read = 0;
      await fc.assert(
        fc.asyncProperty(edited<unknown>(arbitrary), async (value) => {
          if ((await check(value)) === "read") read++;
        }),
        runs(1000),
      );
      // The generators stay near valid: about 3 in 4 ChatGPT and DeepSeek files are read, and
      // 1 in 3 qiusuo files (its reader is strict, so most edits spoil a file).
      assert.ok(read > (RUNS_OVERRIDE ?? 1000) / 20, `only ${read} files were read`);
    });
  }

  it("near-valid files of every format under tiny limits are read within them or refused", async () => {
    const file = fc.oneof(
      fc.array(chatgptConversation, { minLength: 1, maxLength: 3 }),
      fc.array(deepseekConversation, { minLength: 1, maxLength: 3 }),
      qiusuoExport,
    );
    await fc.assert(
      fc.asyncProperty(file, tinyLimits, async (value, limits) => {
        await check(value, limits);
      }),
      runs(700),
    );
  });
});
