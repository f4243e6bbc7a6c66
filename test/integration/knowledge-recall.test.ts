// Retrieval quality of knowledge search, measured: 40 passages of the retrieval corpus (English
// and Chinese) indexed through the real KnowledgeService and store (SQLite, and PostgreSQL when
// QIUSUO_TEST_DATABASE_URL is set), 10 questions worded unlike their passages. The keyword half's
// recall@5 must stay at the floor below what it measured, in each language, so a tokenizer that
// stops cutting Chinese into character pairs (or stops matching English words) fails here. The
// fixture embedder's weights are random, so the vector half is not held to anything.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { ensureFixtureModels } from "../fixtures/models.js";
import { CORPUS_FILES, CORPUS_QUESTIONS, type CorpusFile } from "../fixtures/retrieval-corpus.js";
import { measureRecall } from "../support/knowledge-recall.js";
import { testEngines } from "./store-engines.js";

/** Measured 1.0 in each language on both stores; a broken tokenizer finds close to nothing. */
const KEYWORD_FLOOR = 0.8;

// Every fifth question (five in each language), and four passages a file: the answers and the
// file's first others.
const questions = CORPUS_QUESTIONS.filter((_, index) => index % 5 === 0);
const answers = new Set(questions.flatMap((question) => question.answers));
const files: CorpusFile[] = CORPUS_FILES.map((file) => {
  const answering = file.passages.filter((passage) => answers.has(passage.id));
  const others = file.passages.filter((passage) => !answers.has(passage.id));
  return { ...file, passages: [...answering, ...others.slice(0, 4 - answering.length)] };
});

const engines = testEngines("knowledge recall");
after(async () => {
  for (const engine of engines) await engine.cleanup();
});

for (const engine of engines) {
  describe(`knowledge search recall (${engine.name})`, () => {
    it("finds the answering passage among the first 5 by keywords, in English and in Chinese", async () => {
      assert.equal(
        files.reduce((sum, file) => sum + file.passages.length, 0),
        40,
      );
      for (const language of ["en", "zh"] as const) {
        const asked = questions.filter((question) => question.language === language);
        assert.equal(asked.length, 5);
        const report = await measureRecall({
          files,
          questions: asked,
          modelPath: ensureFixtureModels().tiny,
          store: await engine.fresh(),
        });
        assert.ok(
          report.recall.keyword >= KEYWORD_FLOOR,
          `${language}: keyword recall@5 ${report.recall.keyword}, missed ${JSON.stringify(report.misses.keyword)}`,
        );
      }
    });
  });
}
