// How an MCP server's tools look to a model (src/tools/mcp/model-view.ts): names safe, unique and
// at most 64 characters, descriptions and schemas bounded, results as bounded text.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  boundedTool,
  MAX_DESCRIPTION_CHARS,
  MAX_RESULT_CHARS,
  modelToolNames,
  resultText,
} from "../../src/tools/mcp/model-view.js";

const SAFE = /^[a-zA-Z0-9_-]{1,64}$/;

describe("MCP tools as a model sees them", () => {
  it("names tools <server>__<tool>, safe and unique, hashing any it had to change", () => {
    const long = "a".repeat(120);
    const names = modelToolNames("files", ["read_file", "read.file", "read file", "读取", long, `${long}b`]);
    const given = [...names.keys()];
    assert.equal(given[0], "files__read_file");
    assert.ok(
      given.every((name) => SAFE.test(name)),
      given.join(", "),
    );
    assert.equal(new Set(given).size, 6, "no two tools share a name");
    assert.match(given[1]!, /^files__read_file_[0-9a-f]{8}$/);
    assert.deepEqual([...names.values()], ["read_file", "read.file", "read file", "读取", long, `${long}b`]);
  });

  it("cuts descriptions and replaces an oversized schema", () => {
    const tool = boundedTool({
      name: "big",
      description: "d".repeat(MAX_DESCRIPTION_CHARS + 10),
      inputSchema: { type: "object", properties: { x: { type: "string", description: "x".repeat(20_000) } } },
    });
    assert.equal(tool.description.length, MAX_DESCRIPTION_CHARS);
    assert.equal(tool.inputSchema.type, "object");
    assert.equal(tool.inputSchema.properties, undefined);
  });

  it("joins text, describes images and resources, and cuts long results", () => {
    assert.equal(
      resultText({
        content: [
          { type: "text", text: "one" },
          { type: "image", data: "AAAA", mimeType: "image/png" },
          { type: "resource", resource: { uri: "file:///a.txt", text: "inline" } },
          { type: "resource", resource: { uri: "file:///b.bin", mimeType: "application/zip", blob: "AA==" } },
          { type: "resource_link", uri: "file:///c", name: "c" },
        ],
      }),
      "one\n[image: image/png, 3 bytes, not shown]\ninline\n[resource: file:///b.bin (application/zip), not shown]\n[resource: c file:///c]",
    );
    assert.equal(resultText({ content: [], structuredContent: { sum: 5 } }), '{"sum":5}');
    const long = resultText({ content: [{ type: "text", text: "x".repeat(MAX_RESULT_CHARS + 5) }] });
    assert.ok(long.endsWith("[… 5 more characters cut]"));
  });
});
