/**
 * DeepSeek's search-answer prompt (src/tools/web/search-answer.ts): the Chinese template for
 * Chinese questions and the English one otherwise, results numbered as `[webpage N begin]`,
 * fetched page text in place of snippets within a total budget shared fairly; and the
 * `[citation:N]` markers read back out of answers in both languages, with the variants models write.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FetchedPage } from "../../src/tools/web/fetch-page.js";
import { buildSearchAnswerPrompt, fairShares, parseCitations } from "../../src/tools/web/search-answer.js";
import type { SearchResult } from "../../src/tools/web/search-provider.js";

const results: SearchResult[] = [
  {
    title: "嫦娥六号返回",
    url: "https://news.example/zh",
    snippet: "嫦娥六号带回样品。",
    publishedDate: "2024-06-25T08:00:00",
  },
  { title: "Chang'e 6", url: "https://space.example/en", snippet: "The probe returned samples." },
  {
    title: "Notes {question}",
    url: "https://notes.example/",
    snippet: "Braces {cur_date} stay as they are.",
  },
];
const now = new Date("2026-12-03T12:00:00Z");

describe("buildSearchAnswerPrompt", () => {
  it("a Chinese question gets DeepSeek's Chinese template, filled", () => {
    const { prompt, sources } = buildSearchAnswerPrompt({
      question: "嫦娥六号什么时候返回？",
      results,
      now,
      timeZone: "UTC",
    });
    assert.ok(prompt.startsWith("# 以下内容是基于用户发送的消息的搜索结果:\n[webpage 1 begin]\n"));
    assert.ok(prompt.includes("请按照引用编号[citation:X]的格式在答案中对应部分引用上下文"));
    assert.ok(prompt.includes("- 今天是2026年12月3日星期四。"), prompt);
    assert.ok(prompt.endsWith("# 用户消息为：\n嫦娥六号什么时候返回？"));
    assert.ok(
      prompt.includes(
        "[webpage 1 begin]\nTitle: 嫦娥六号返回\nURL: https://news.example/zh\nPublished: 2024-06-25\n嫦娥六号带回样品。\n[webpage 1 end]",
      ),
    );
    assert.ok(
      prompt.includes("[webpage 3 begin]\nTitle: Notes {question}\n"),
      "braces in results are not placeholders",
    );
    assert.ok(prompt.includes("Braces {cur_date} stay as they are."));
    assert.deepEqual(
      sources.map((source) => [source.index, source.url]),
      [
        [1, "https://news.example/zh"],
        [2, "https://space.example/en"],
        [3, "https://notes.example/"],
      ],
    );
  });

  it("an English question gets the English template; a fetched page's text replaces the snippet", () => {
    const page: FetchedPage = {
      url: "https://space.example/en",
      title: "Chang'e 6 returns samples",
      text: "Full article text.",
      siteName: "Space",
      truncated: false,
    };
    const { prompt, sources } = buildSearchAnswerPrompt({
      question: "When did Chang'e 6 return?",
      results,
      pages: new Map([[page.url, page]]),
      now,
      timeZone: "UTC",
    });
    assert.ok(
      prompt.startsWith("# The following contents are the search results related to the user's message:\n"),
    );
    assert.ok(prompt.includes("- Today is Thursday, December 3, 2026."));
    assert.ok(prompt.endsWith("# The user's message is:\nWhen did Chang'e 6 return?"));
    assert.ok(
      prompt.includes(
        "Title: Chang'e 6 returns samples\nURL: https://space.example/en\nFull article text.\n",
      ),
    );
    assert.equal(sources[1]!.siteName, "Space");
    assert.equal(
      buildSearchAnswerPrompt({ question: "hi", results, language: "zh", now }).prompt.slice(0, 3),
      "# 以",
    );
  });

  it("keeps the search results within the budget, sharing it fairly between long pages", () => {
    const long = (n: number) => `${"字".repeat(n)}`;
    const pages = new Map<string, FetchedPage>(
      results.map((result, position) => [
        result.url,
        {
          url: result.url,
          title: result.title,
          text: long([50, 20_000, 30_000][position]!),
          truncated: false,
        },
      ]),
    );
    const { prompt, sources } = buildSearchAnswerPrompt({
      question: "q",
      results,
      pages,
      budgetChars: 3_000,
      now,
    });
    const block = prompt.slice(prompt.indexOf("[webpage 1 begin]"), prompt.indexOf("[webpage 3 end]") + 15);
    assert.ok(block.length <= 3_000, `${block.length}`);
    assert.equal(sources[0]!.text.length, 50, "a short page keeps all of its text");
    assert.ok(
      Math.abs(sources[1]!.text.length - sources[2]!.text.length) <= 1,
      "the long ones share the rest",
    );
    assert.ok(sources[1]!.text.endsWith("…"));
    const tiny = buildSearchAnswerPrompt({ question: "q", results, pages, budgetChars: 120, now });
    assert.equal(tiny.sources.length, 1, "sources whose headers no longer fit are left out");
  });

  it("fairShares: short texts keep theirs, the rest split evenly", () => {
    assert.deepEqual(fairShares([10, 100, 100], 110), [10, 50, 50]);
    assert.deepEqual(fairShares([10, 20], 1_000), [10, 20]);
    assert.deepEqual(fairShares([5, 5], -3), [0, 0]);
  });
});

describe("parseCitations", () => {
  const { sources } = buildSearchAnswerPrompt({ question: "q", results, now });

  it("finds DeepSeek's markers in a Chinese answer, each source once in first-cited order", () => {
    const answer =
      "嫦娥六号于2024年6月25日返回[citation:2]。它带回了月球背面的样品[citation:1][citation:2]。";
    const { markers, cited } = parseCitations(answer, sources);
    assert.deepEqual(
      markers.map((marker) => [answer.slice(marker.start, marker.end), marker.numbers]),
      [
        ["[citation:2]", [2]],
        ["[citation:1]", [1]],
        ["[citation:2]", [2]],
      ],
    );
    assert.deepEqual(
      cited.map((source) => source.index),
      [2, 1],
    );
  });

  it("tolerates the variants models write in English answers, and drops numbers with no source", () => {
    const answer =
      "It returned in June [citation: 3]. Samples came back [Citation:1, 2], " +
      "see also [citation:1, citation:3] and 【citation：2】 and [citation 2]; [citation:9] is a slip. [citation:] is not a marker.";
    const { markers, cited } = parseCitations(answer, sources);
    assert.deepEqual(
      markers.map((marker) => marker.numbers),
      [[3], [1, 2], [1, 3], [2], [2], [9]],
    );
    assert.deepEqual(markers.at(-1)!.sources, [], "no source 9");
    assert.deepEqual(
      cited.map((source) => source.index),
      [3, 1, 2],
    );
    assert.equal(answer.slice(markers[3]!.start, markers[3]!.end), "【citation：2】");
  });

  it("an answer without markers cites nothing", () => {
    assert.deepEqual(parseCitations("No sources here [1] (citation 2).", sources), {
      markers: [],
      cited: [],
    });
  });
});
