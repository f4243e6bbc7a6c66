import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { holdsEveryTerm, indexText, queryTerms, snippet } from "../../src/store/search-text.js";

const matches = (text: string, query: string) => {
  const terms = queryTerms(query);
  return terms.length > 0 && holdsEveryTerm(indexText(text), terms);
};

describe("search text", () => {
  it("cuts CJK runs into characters and overlapping pairs, other text into words", () => {
    assert.deepEqual(indexText("量子计算 is FUN"), "量 子 计 算 量子 子计 计算 is fun");
    assert.deepEqual(queryTerms("量子计算"), ["量子", "子计", "计算"]);
    assert.deepEqual(queryTerms("量"), ["量"], "a single character stays whole");
    assert.deepEqual(queryTerms("GPT4模型, hello"), ["gpt4", "模型", "hello"]);
    assert.deepEqual(queryTerms("  ,.!? "), []);
  });

  it("finds Chinese words inside sentences without spaces", () => {
    const sentence = "我们今天讨论量子计算的基本原理";
    for (const query of ["量子计算", "原理", "基本原理", "讨论", "量", "今天 原理"]) {
      assert.ok(matches(sentence, query), query);
    }
    for (const query of ["化学", "原子", "量子力学"]) assert.ok(!matches(sentence, query), query);
    assert.ok(matches("ひらがなとカタカナ", "カタカナ"), "kana too");
    assert.ok(matches("한국어 검색", "검색"), "and Hangul");
  });

  it("matches English by whole words, in any case and width", () => {
    assert.ok(matches("The Quick brown fox", "quick FOX"));
    assert.ok(matches("ＡＢＣ　１２３", "abc 123"), "full-width is folded (NFKC)");
    assert.ok(matches("Ärger im Büro", "ärger büro"));
    assert.ok(!matches("The Quick brown fox", "quic"));
    assert.ok(!matches("The Quick brown fox", "quick cat"), "every term must match");
    assert.ok(matches("state-of-the-art model", "art"));
  });

  it("de-duplicates indexed terms and keeps them short and bounded", () => {
    assert.equal(indexText("la la la LA"), "la");
    const long = "x".repeat(500);
    assert.equal(indexText(long).length, 64);
    assert.equal(queryTerms(long)[0], "x".repeat(64), "a query term is cut the same way");
    const huge = Array.from({ length: 200_000 }, (_, index) => `w${index}`).join(" ");
    assert.ok(Buffer.byteLength(indexText(huge)) <= 256 * 1024);
    assert.ok(!indexText("a  b").includes("  "), "single spaces only");
  });

  it("cuts a snippet of about 80 characters around the first match in the original text", () => {
    const text = `${"前言。".repeat(40)}我们今天讨论量子计算的基本原理。${"后记。".repeat(40)}`;
    const cut = snippet(text, "量子计算");
    assert.ok(cut.includes("量子计算"), cut);
    assert.ok(cut.startsWith("…") && cut.endsWith("…"), cut);
    assert.ok(Array.from(cut).length <= 82, cut);
    assert.equal(snippet("The Quick brown fox", "QUICK"), "The Quick brown fox");
    assert.ok(
      snippet(`${"filler ".repeat(30)}ＧＰＴ rocks`, "gpt").includes("ＧＰＴ rocks"),
      "original text kept",
    );
    assert.equal(snippet("no match here", "zebra"), "no match here");
    assert.equal(snippet("line one\n\nline two", "two"), "line one line two", "whitespace collapsed");
  });
});
