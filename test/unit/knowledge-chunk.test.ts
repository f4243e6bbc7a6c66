/**
 * The knowledge chunker and sentence splitter: properties over random Chinese/English/Markdown
 * text (fast-check), and worked examples. More runs:
 *   QIUSUO_FUZZ_RUNS=5000 node --import tsx --test test/unit/knowledge-chunk.test.ts
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { chunkDocument, type Chunk } from "../../src/knowledge/chunk.js";
import { extractMarkdown } from "../../src/knowledge/extract/markdown.js";
import { extractCode } from "../../src/knowledge/extract/plain-text.js";
import { sentenceEnds } from "../../src/knowledge/sentences.js";

const runs = Number(process.env.QIUSUO_FUZZ_RUNS ?? 300);

const pieces = [
  "今天天气很好",
  "。",
  "！",
  "？",
  "；",
  "“",
  "”",
  "他说：",
  "我们",
  "求索",
  "知识库",
  "The quick brown fox",
  " ",
  " ",
  "\n",
  "\n\n",
  ".",
  "!",
  "?",
  "e.g.",
  "Dr.",
  "3.14",
  "https://example.com/a.b?c=d",
  "\n# Heading\n",
  "\n## Sub heading\n",
  "\n```\n# not a heading\n```\n",
  "word",
  "Ab",
  "x".repeat(70),
  "中".repeat(90),
  "😀",
];
const text = fc.array(fc.constantFrom(...pieces), { maxLength: 120 }).map((parts) => parts.join(""));
const options = fc.record({
  maxSize: fc.integer({ min: 8, max: 300 }),
  overlap: fc.integer({ min: 0, max: 60 }),
});

/** The invariants every chunking keeps; `maxFor` says the size bound a chunk must meet. */
function assertChunking(source: string, chunks: Chunk[], maxSize: number, measure: (text: string) => number) {
  let previous: Chunk | undefined;
  const covered = new Uint8Array(source.length);
  for (const chunk of chunks) {
    assert.equal(chunk.text, source.slice(chunk.start, chunk.end), "offsets map back to the text");
    assert.ok(chunk.end > chunk.start, "no empty chunk");
    assert.ok(
      measure(chunk.text) <= maxSize || [...chunk.text].length === 1,
      `chunk within ${maxSize}: ${JSON.stringify(chunk.text)}`,
    );
    if (previous) {
      assert.ok(chunk.start > previous.start && chunk.end > previous.end, "order preserved");
      assert.equal(chunk.index, previous.index + 1);
    }
    covered.fill(1, chunk.start, chunk.end);
    previous = chunk;
  }
  for (let index = 0; index < source.length; index++)
    if (!covered[index])
      assert.match(source[index]!, /\s/, `character ${index} (${JSON.stringify(source[index])}) in no chunk`);
}

describe("chunkDocument: properties", () => {
  it("covers every character, keeps order, stays within size, maps offsets back (Markdown sections)", () => {
    fc.assert(
      fc.property(text, options, (source, { maxSize, overlap }) => {
        const document = extractMarkdown(source);
        const chunks = chunkDocument(document, { maxSize, overlap });
        assertChunking(source, chunks, maxSize, (chunk) => chunk.length);
        // No chunk spans two sections.
        for (const chunk of chunks)
          assert.ok(
            document.sections.some((section) => section.start <= chunk.start && chunk.end <= section.end),
            "a chunk stays in one section",
          );
        assert.deepEqual(chunkDocument(document, { maxSize, overlap }), chunks, "deterministic");
      }),
      { numRuns: runs },
    );
  });

  it("sizes in tokens with a counting function", () => {
    // A stand-in tokenizer: each Chinese character, word and punctuation mark is a token.
    const countTokens = (chunk: string) =>
      chunk.match(/[\u4e00-\u9fff]|[A-Za-z0-9]+|[^\sA-Za-z0-9\u4e00-\u9fff]/g)?.length ?? 0;
    fc.assert(
      fc.property(
        text,
        fc.integer({ min: 2, max: 80 }),
        fc.integer({ min: 0, max: 20 }),
        (source, maxSize, overlap) => {
          const chunks = chunkDocument(extractMarkdown(source), { maxSize, overlap, countTokens });
          assertChunking(source, chunks, maxSize, countTokens);
        },
      ),
      { numRuns: Math.ceil(runs / 3) },
    );
  });

  it("cuts code at lines, never mid-line when a line fits", () => {
    const line = fc.constantFrom(
      "function a() {",
      "  return 1;",
      "}",
      "",
      "class B:",
      "    x = 1",
      "const 中文 = '你好。世界！';",
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 200 }), fc.integer({ min: 40, max: 400 }), (lines, maxSize) => {
        const source = lines.join("\n");
        const chunks = chunkDocument(extractCode(source), { maxSize, overlap: 30 });
        assertChunking(source, chunks, maxSize, (chunk) => chunk.length);
        for (const chunk of chunks) {
          assert.ok(chunk.start === 0 || source[chunk.start - 1] === "\n", "a code chunk starts at a line");
          assert.equal(
            chunk.line,
            source.slice(0, chunk.start).split("\n").length,
            "its line number is right",
          );
        }
      }),
      { numRuns: runs },
    );
  });
});

describe("sentenceEnds", () => {
  const split = (source: string) => {
    const ends = [...sentenceEnds(source), source.length];
    return ends.map((end, index) => source.slice(index === 0 ? 0 : ends[index - 1], end));
  };

  it("splits Chinese after 。！？； and keeps a closing quote with its sentence", () => {
    assert.deepEqual(split("今天天气很好。我们去公园吧！你来吗？他说：“好的。”然后走了；明天见"), [
      "今天天气很好。",
      "我们去公园吧！",
      "你来吗？",
      "他说：“好的。”",
      "然后走了；",
      "明天见",
    ]);
    assert.deepEqual(split("真的吗？！「当然。」好"), ["真的吗？！", "「当然。」", "好"]);
    assert.deepEqual(split("中文!English follows"), ["中文!", "English follows"]);
  });

  it("splits Latin text at . ! ? before whitespace, but not in decimals, abbreviations, initials or URLs", () => {
    assert.deepEqual(
      split(
        "Dr. Smith paid 3.14 dollars, e.g. for apples. See https://example.com/a.b?c=d for more. J. K. Rowling wrote it! Did she? Yes.\nNew line.",
      ),
      [
        "Dr. Smith paid 3.14 dollars, e.g. for apples. ",
        "See https://example.com/a.b?c=d for more. ",
        "J. K. Rowling wrote it! ",
        "Did she? ",
        "Yes.\n",
        "New line.",
      ],
    );
    assert.deepEqual(split('He said "Stop." Then he left.'), ['He said "Stop." ', "Then he left."]);
    assert.deepEqual(split("the U.S. economy grew. It did"), ["the U.S. economy grew. ", "It did"]);
  });
});

describe("chunkDocument: examples", () => {
  it("keeps the heading path and packs Chinese sentences without crossing a section", () => {
    const source =
      "# 指南\n\n## 安装\n\n第一步，下载。第二步，解压。第三步，运行程序。\n\n## 使用\n\n打开浏览器。";
    const chunks = chunkDocument(extractMarkdown(source), { maxSize: 20, overlap: 0 });
    assert.deepEqual(
      chunks.map((chunk) => [chunk.text, chunk.headingPath]),
      [
        ["# 指南\n\n", ["指南"]],
        ["## 安装\n\n第一步，下载。", ["指南", "安装"]],
        ["第二步，解压。第三步，运行程序。\n\n", ["指南", "安装"]],
        ["## 使用\n\n打开浏览器。", ["指南", "使用"]],
      ],
    );
  });

  it("overlaps by whole sentences", () => {
    const source = "One is here. Two is here. Three is here. Four is here.";
    const chunks = chunkDocument({ kind: "text", text: source, sections: [] }, { maxSize: 30, overlap: 15 });
    assert.deepEqual(
      chunks.map((chunk) => chunk.text),
      ["One is here. Two is here. ", "Two is here. Three is here. ", "Three is here. Four is here."],
    );
  });

  it("keeps pages on PDF-like sections and cuts an unbroken run at the limit", () => {
    const text = "Page one.\n\n" + "x".repeat(25);
    const chunks = chunkDocument(
      {
        kind: "pdf",
        text,
        sections: [
          { start: 0, end: 11, text: text.slice(0, 11), page: 1 },
          { start: 11, end: text.length, text: text.slice(11), page: 2 },
        ],
      },
      { maxSize: 10, overlap: 0 },
    );
    assert.deepEqual(
      chunks.map((chunk) => [chunk.text, chunk.page]),
      [
        ["Page one.\n", 1],
        ["\n", 1],
        ["xxxxxxxxxx", 2],
        ["xxxxxxxxxx", 2],
        ["xxxxx", 2],
      ],
    );
  });
});
