// One numbering of sources per turn (src/tools/web/web-tools.ts): a second tool's result that
// numbered its sources from 1 moves past the numbers already given, markers in its text included.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SourceNumbering } from "../../src/tools/web/web-tools.js";

const passage = (index: number) => ({ index, title: `t${index}`, file: "notes.md", passage: `p${index}` });

test("a knowledge result numbered from 1 after three web sources becomes 4 and 5, in its text too", () => {
  const numbering = new SourceNumbering();
  numbering.take(3);
  const moved = numbering.renumber({
    content:
      "[citation:1] notes.md, page 2\nfirst\n\n[citation:2] notes.md\nsecond\n[webpage 2 begin]x[webpage 2 end]",
    isError: false,
    sources: [passage(1), passage(2)],
  });
  assert.deepEqual(
    moved.sources!.map((source) => source.index),
    [4, 5],
  );
  assert.equal(
    moved.content,
    "[citation:4] notes.md, page 2\nfirst\n\n[citation:5] notes.md\nsecond\n[webpage 5 begin]x[webpage 5 end]",
  );
  assert.equal(numbering.next, 6);
});

test("a result already numbered from the next free number, or without sources, is left as it is", () => {
  const numbering = new SourceNumbering();
  const first = { content: "[citation:1] a", isError: false, sources: [passage(1)] };
  assert.equal(numbering.renumber(first), first);
  const none = { content: "no sources [citation:1]", isError: true };
  assert.equal(numbering.renumber(none), none);
  assert.equal(numbering.next, 2);
});
