/**
 * `npx tsx bench/retrieval-recall.ts [--json]`: recall@5 of knowledge search on the retrieval
 * corpus (test/fixtures/retrieval-corpus.ts: 210 passages, English and Chinese, 50 questions),
 * indexed through the real KnowledgeService on SQLite with the tiny fixture model as embedder:
 * the keyword half alone, the vector half alone and the fused hybrid. The fixture's weights are
 * random, so its vectors carry no meaning: the vector figure is chance, and the keyword figure is
 * the one that measures anything.
 */
import { parseArgs } from "node:util";
import { ensureFixtureModels } from "../test/fixtures/models.js";
import { CORPUS_FILES, CORPUS_QUESTIONS } from "../test/fixtures/retrieval-corpus.js";
import { measureRecall, type SearchMode } from "../test/support/knowledge-recall.js";

const { values } = parseArgs({ options: { json: { type: "boolean", default: false } } });

const report = await measureRecall({
  files: CORPUS_FILES,
  questions: CORPUS_QUESTIONS,
  modelPath: ensureFixtureModels().tiny,
});

if (values.json) console.log(JSON.stringify(report));
else {
  console.log(
    `retrieval corpus: ${report.passages} passages, ${report.questions} questions, indexed in ${(report.indexMs / 1000).toFixed(1)} s`,
  );
  const modes: Array<[SearchMode, string]> = [
    ["keyword", "keyword only (FTS5, CJK bigrams)"],
    ["vector", "vector only (random-weight embedder: chance)"],
    ["hybrid", "hybrid (RRF of both)"],
  ];
  for (const [mode, label] of modes) {
    console.log(`  recall@${report.k} ${label}: ${report.recall[mode].toFixed(2)}`);
    for (const question of report.misses[mode]) console.log(`    missed: ${question}`);
  }
}
