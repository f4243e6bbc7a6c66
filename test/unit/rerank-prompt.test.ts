import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rankingPrompt } from "../../src/engines/local/ranking-prompt.js";
import { QWEN3_RERANK_TEMPLATE } from "../fixtures/models.js";

describe("rankingPrompt", () => {
  it("moves the space before each placeholder into the text for byte-level BPE", () => {
    const prompt = rankingPrompt("<Query>: {query}\n<Document>: {document}<|im_end|>", true);
    assert.deepEqual(prompt, {
      template: "<Query>:{{query}}\n<Document>:{{document}}<|im_end|>",
      queryPrefix: " ",
      documentPrefix: " ",
    });
  });

  it("fills in to the same text as llama.cpp's server fills in", () => {
    const { template, queryPrefix, documentPrefix } = rankingPrompt(QWEN3_RERANK_TEMPLATE, true);
    const ours = template!
      .replace("{{query}}", `${queryPrefix}what`)
      .replace("{{document}}", `${documentPrefix}paris`);
    const theirs = QWEN3_RERANK_TEMPLATE.replace("{query}", "what").replace("{document}", "paris");
    assert.equal(ours, theirs);
  });

  it("keeps the template for other vocabularies, and where a placeholder has no space before it", () => {
    assert.deepEqual(rankingPrompt("q: {query} d: {document}", false), {
      template: "q: {{query}} d: {{document}}",
      queryPrefix: "",
      documentPrefix: "",
    });
    assert.deepEqual(rankingPrompt("{query}|{document} again {document}", true), {
      template: "{{query}}|{{document}} again {{document}}",
      queryPrefix: "",
      documentPrefix: "",
    });
  });

  it("has no template for a model without one, and refuses a template without both placeholders", () => {
    assert.deepEqual(rankingPrompt(undefined, true), {
      template: undefined,
      queryPrefix: "",
      documentPrefix: "",
    });
    assert.throws(() => rankingPrompt("only {query}", true), /lacks \{query\} or \{document\}/);
  });
});
