import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ToolCallParser, type ToolCallPart } from "../../src/core/tool-call-parser.js";

function parse(chunks: string[]) {
  const parser = new ToolCallParser();
  const parts: ToolCallPart[] = [];
  for (const chunk of chunks) parts.push(...parser.push(chunk));
  parts.push(...parser.finish());
  const text = parts.flatMap((part) => (part.kind === "text" ? [part.text] : [])).join("");
  const calls: Array<{ name: string; arguments: string; id: string }> = [];
  for (const part of parts) {
    if (part.kind === "call-start") calls[part.index] = { name: part.name, arguments: "", id: part.id };
    if (part.kind === "call-delta") calls[part.index]!.arguments += part.argumentsDelta;
  }
  return { text, calls, deltas: parts.filter((part) => part.kind === "call-delta").length };
}

const CALL =
  '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2], "note": "a } \\" b"}}\n</tool_call>';

describe("ToolCallParser", () => {
  it("reads a call however the text is chunked, arguments intact", () => {
    for (let size = 1; size <= CALL.length; size += 3) {
      const chunks = CALL.match(new RegExp(`[\\s\\S]{1,${size}}`, "g"))!;
      const { text, calls } = parse(chunks);
      assert.equal(text, "");
      assert.equal(calls.length, 1);
      assert.equal(calls[0]!.name, "get_weather");
      assert.deepEqual(JSON.parse(calls[0]!.arguments), { city: "Paris", days: [1, 2], note: 'a } " b' });
      assert.match(calls[0]!.id, /^call_[A-Za-z0-9]{24}$/);
    }
  });

  it("streams the arguments in several deltas", () => {
    assert.ok(parse([...CALL]).deltas > 10);
  });

  it("keeps text around calls and reads several calls", () => {
    const { text, calls } = parse([`Let me check. ${CALL}${CALL.replace("get_weather", "get_time")} done`]);
    assert.equal(text, "Let me check. done");
    assert.deepEqual(
      calls.map((call) => call.name),
      ["get_weather", "get_time"],
    );
  });

  it("reads a call whose arguments come before the name", () => {
    const { calls } = parse(['<tool_call>{"arguments": {"q": 1}, "name": "search"}</tool_call>']);
    assert.deepEqual(
      calls.map((call) => [call.name, JSON.parse(call.arguments)]),
      [["search", { q: 1 }]],
    );
  });

  it("gives back an unreadable call as text, and leaves plain text alone", () => {
    assert.equal(parse(["<tool_call>not json</tool_call>"]).text, "<tool_call>not json</tool_call>");
    assert.equal(parse(["a <tool", "_cal", "l? no"]).text, "a <tool_call? no");
  });
});
