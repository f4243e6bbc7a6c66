import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ReasoningSplitter, type SplitPart } from "../../src/core/reasoning-splitter.js";

/** Feeds `chunks` and joins the output per kind. */
function split(chunks: string[], options?: { startsInReasoning?: boolean }) {
  const splitter = new ReasoningSplitter(options);
  const parts: SplitPart[] = [];
  for (const chunk of chunks) parts.push(...splitter.push(chunk));
  parts.push(...splitter.finish());
  const join = (kind: SplitPart["kind"]) =>
    parts
      .filter((part) => part.kind === kind)
      .map((part) => part.text)
      .join("");
  return { reasoning: join("reasoning"), content: join("content") };
}

/** Every way of cutting `text` into two or three chunks gives the same answer. */
function allCuts(text: string): string[][] {
  const cuts: string[][] = [[text], [...text]];
  for (let first = 1; first < text.length; first++) {
    cuts.push([text.slice(0, first), text.slice(first)]);
    for (let second = first + 1; second < text.length; second += 3) {
      cuts.push([text.slice(0, first), text.slice(first, second), text.slice(second)]);
    }
  }
  return cuts;
}

describe("ReasoningSplitter", () => {
  it("splits R1-style output however it is chunked", () => {
    const text = "<think>\nFirst, 2+2.\nIt is 4.\n</think>\n\nThe answer is **4**.";
    for (const chunks of allCuts(text)) {
      assert.deepEqual(
        split(chunks),
        { reasoning: "First, 2+2.\nIt is 4.", content: "The answer is **4**." },
        JSON.stringify(chunks),
      );
    }
  });

  it("starts inside the reasoning when the template opened <think>", () => {
    for (const chunks of allCuts("Hmm, so.\n</think>\n\nDone")) {
      assert.deepEqual(split(chunks, { startsInReasoning: true }), {
        reasoning: "Hmm, so.",
        content: "Done",
      });
    }
  });

  it("leaves output without <think> as content, including a mention of the tag later", () => {
    assert.deepEqual(split(["Use <think> tags", " like this"]), {
      reasoning: "",
      content: "Use <think> tags like this",
    });
    assert.deepEqual(split(["<thi", "nk"]), { reasoning: "", content: "<think" });
    assert.deepEqual(split(["  <b>bold</b>"]), { reasoning: "", content: "<b>bold</b>" });
  });

  it("keeps unfinished reasoning as reasoning when generation stops inside it", () => {
    assert.deepEqual(split(["<think>", "still going  "]), { reasoning: "still going", content: "" });
    assert.deepEqual(split(["<think>", "cut at </thi"]), { reasoning: "cut at </thi", content: "" });
  });

  it("keeps whitespace inside the reasoning and the answer", () => {
    assert.deepEqual(split(["<think>a  \n b</think>x  y \n"]), { reasoning: "a  \n b", content: "x  y \n" });
  });

  it("reports whether it is inside the reasoning", () => {
    const splitter = new ReasoningSplitter();
    assert.equal(splitter.isReasoning, false);
    splitter.push("<think>");
    assert.equal(splitter.isReasoning, true);
    splitter.push("x</think>");
    assert.equal(splitter.isReasoning, false);
  });
});

describe("ReasoningSplitter timing", () => {
  it("releases answer text in the same push that decides it is not reasoning", () => {
    const splitter = new ReasoningSplitter();
    assert.deepEqual(splitter.push("<tool_call>"), [{ kind: "content", text: "<tool_call>" }]);
  });
});
