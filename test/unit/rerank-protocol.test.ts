import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { QiusuoError } from "../../src/core/errors.js";
import { parseRerank, rerankResponse } from "../../src/protocol/rerank.js";

const body = { model: "m", query: "q", documents: ["a", { text: "b" }, "c"] };

describe("rerank wire format", () => {
  it("reads string and {text} documents; top_n 0 or absent means all, and is capped at the count", () => {
    const parsed = parseRerank(body);
    assert.deepEqual(parsed.request, { model: "m", query: "q", documents: ["a", "b", "c"] });
    assert.equal(parsed.topN, 3);
    assert.equal(parsed.returnDocuments, false);
    assert.equal(parseRerank({ ...body, top_n: 0 }).topN, 3);
    assert.equal(parseRerank({ ...body, top_n: 2 }).topN, 2);
    assert.equal(parseRerank({ ...body, top_n: 99 }).topN, 3);
  });

  it("sorts by score, ties in document order, cuts to top_n, and adds documents when asked", () => {
    const parsed = parseRerank({ ...body, top_n: 2, return_documents: true });
    const response = rerankResponse(parsed, { scores: [0.2, 0.9, 0.9], promptTokens: 30 });
    assert.match(response.id, /^rerank-[0-9a-f-]{36}$/);
    assert.deepEqual(
      { ...response, id: undefined },
      {
        id: undefined,
        model: "m",
        object: "list",
        usage: { prompt_tokens: 30, total_tokens: 30 },
        results: [
          { index: 1, relevance_score: 0.9, document: { text: "b" } },
          { index: 2, relevance_score: 0.9, document: { text: "c" } },
        ],
      },
    );
  });

  it("refuses a huge list by its count before reading its items", () => {
    const error = (() => {
      try {
        parseRerank({ ...body, documents: [...new Array(1000).fill("x"), 5, ...new Array(5).fill("x")] });
      } catch (caught) {
        return caught;
      }
    })();
    assert.ok(error instanceof QiusuoError);
    assert.equal(error.code, "too_many_documents");
    assert.match(error.message, /at most 1000 documents; this one has 1006/);
  });
});
