import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidRequestError } from "../../src/core/errors.js";
import { jsonBodyThread } from "../../src/server/json-body-thread.js";

const parse = (text: string) => jsonBodyThread.parse(Buffer.from(text));

/** JSON.parse's answer, or its error message as the body parser words it. */
function expected(text: string): { value: unknown } | { message: string } {
  try {
    return { value: text.trim().length === 0 ? undefined : JSON.parse(text) };
  } catch (error) {
    return { message: `The request body is not valid JSON: ${(error as Error).message}.` };
  }
}

async function assertSameAsJsonParse(text: string): Promise<void> {
  const want = expected(text);
  if ("value" in want) {
    const value = await parse(text);
    assert.deepStrictEqual(value, want.value);
    // Key order, own `__proto__` keys and prototypes too.
    assert.equal(JSON.stringify(value), JSON.stringify(want.value));
  } else {
    await assert.rejects(parse(text), (error: unknown) => {
      assert.ok(error instanceof InvalidRequestError);
      assert.equal(error.code, "invalid_json");
      assert.equal(error.message, want.message);
      return true;
    });
  }
}

describe("JSON bodies parsed on the worker thread", () => {
  it("gives what JSON.parse gives for small and odd bodies", async () => {
    for (const text of [
      "",
      " \n\t",
      "null",
      "0",
      "-0",
      '"text"',
      "[]",
      "{}",
      '{"a":1,"b":[1,2,{"c":null}],"2":true,"1":false}',
      '{"__proto__":{"polluted":true},"constructor":{"prototype":1}}',
      '"\\ud800 lone surrogate"',
      "1e400",
      "\uFEFF{}",
      '{"a":1}{"b":2}',
      "[1,]",
      "{'a': 1}",
      '{"model": "scripted", "messages": [',
      "NaN",
    ]) {
      await assertSameAsJsonParse(text);
    }
    assert.equal(Object.getPrototypeOf(await parse('{"__proto__":[]}')), Object.prototype);
  });

  it("reassembles values larger than a piece, at every level", async () => {
    const nodes: Record<string, unknown> = {};
    for (let index = 0; index < 30_000; index++) {
      nodes[`n${index}`] = {
        id: `n${index}`,
        children: [`n${index + 1}`],
        message: index % 7 ? null : { text: "é漢😀" },
      };
    }
    // An own `__proto__` key in an object sent member by member, as JSON.parse makes one.
    Object.defineProperty(nodes, "__proto__", { value: { id: "proto" }, enumerable: true });
    const big = JSON.stringify([
      { title: "one", mapping: nodes },
      "x".repeat(300_000),
      Array(100_000).fill(1.5),
    ]);
    assert.match(big, /"__proto__":\{"id":"proto"\}/);
    await assertSameAsJsonParse(big);
    const value = (await parse(big)) as Array<{ mapping: Record<string, unknown> }>;
    assert.equal(Object.getPrototypeOf(value[0]!.mapping), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(value[0]!.mapping, "__proto__")?.value, { id: "proto" });
  });

  it("takes values nested 100,000 levels deep", async () => {
    const depth = 100_000;
    const value = (await parse(`{"deep":${"[".repeat(depth)}${"]".repeat(depth)}}`)) as { deep: unknown };
    let levels = 0;
    for (let item: unknown = value.deep; Array.isArray(item); item = item[0]) levels++;
    assert.equal(levels, depth);
  });

  it("parses bodies sent together, each to its own value", async () => {
    const texts = Array.from({ length: 20 }, (_, index) =>
      JSON.stringify({ index, items: Array(index * 5000).fill(index) }),
    );
    const values = await Promise.all(texts.map(parse));
    values.forEach((value, index) => assert.deepStrictEqual(value, JSON.parse(texts[index]!)));
  });
});
