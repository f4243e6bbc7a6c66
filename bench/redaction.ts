/**
 * `npx tsx bench/redaction.ts [--json]`: precision and recall of the PII detectors per kind and
 * overall on the labelled corpus test/fixtures/pii-corpus.jsonl (written by
 * test/fixtures/make-pii-corpus.ts), and what redaction costs: milliseconds per KB of request
 * text, and microseconds per streamed token restored. Cheap (a second or two); run-all's
 * `redaction` phase. A found span counts as right when its kind and text equal a label's.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { findPii, PII_KINDS, type PiiKind } from "../src/privacy/detectors.js";
import { RedactionSession } from "../src/privacy/redaction.js";
import { PlaceholderRestorer } from "../src/privacy/restore-stream.js";
import { CORPUS_PATH, type CorpusLine } from "../test/fixtures/make-pii-corpus.js";

type Row = [metric: string, measured: string, target: string, met: string];

const { values } = parseArgs({ options: { json: { type: "boolean", default: false } } });

const corpus = readFileSync(CORPUS_PATH, "utf8")
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as CorpusLine);

const tally = new Map<PiiKind, { tp: number; fp: number; fn: number }>(
  PII_KINDS.map((kind) => [kind, { tp: 0, fp: 0, fn: 0 }]),
);
const misses: string[] = [];
for (const line of corpus) {
  const expected = line.labels.map((label) => `${label.kind}\u0000${label.value}`);
  const found = findPii(line.text).map(
    (match) => `${match.kind}\u0000${line.text.slice(match.start, match.end)}`,
  );
  for (const item of found) {
    const kind = item.split("\u0000")[0] as PiiKind;
    const at = expected.indexOf(item);
    if (at === -1) {
      tally.get(kind)!.fp++;
      misses.push(`false positive ${kind}: ${line.text}`);
    } else {
      tally.get(kind)!.tp++;
      expected.splice(at, 1);
    }
  }
  for (const item of expected) {
    const kind = item.split("\u0000")[0] as PiiKind;
    tally.get(kind)!.fn++;
    misses.push(`missed ${kind}: ${line.text}`);
  }
}

const pct = (value: number) => (Number.isNaN(value) ? "-" : `${(value * 100).toFixed(1)}%`);
const rows: Row[] = [];
const total = { tp: 0, fp: 0, fn: 0 };
for (const [kind, counts] of tally) {
  total.tp += counts.tp;
  total.fp += counts.fp;
  total.fn += counts.fn;
  const precision = counts.tp / (counts.tp + counts.fp);
  const recall = counts.tp / (counts.tp + counts.fn);
  rows.push([
    `redaction ${kind}: precision / recall`,
    `${pct(precision)} / ${pct(recall)} (tp ${counts.tp}, fp ${counts.fp}, fn ${counts.fn})`,
    "-",
    "-",
  ]);
}
const precision = total.tp / (total.tp + total.fp);
const recall = total.tp / (total.tp + total.fn);
rows.push([
  `redaction overall (${corpus.length} lines): precision / recall`,
  `${pct(precision)} / ${pct(recall)}`,
  ">= 95% / >= 95%",
  precision >= 0.95 && recall >= 0.95 ? "yes" : "NO",
]);

// Cost: the whole corpus as one request, redacted many times; a reply restored token by token.
const text = corpus.map((line) => line.text).join("\n");
const kb = Buffer.byteLength(text) / 1024;
let rounds = 0;
const started = performance.now();
let redacted = "";
let session = new RedactionSession();
while (performance.now() - started < 500 || rounds < 5) {
  session = new RedactionSession();
  session.reserve(text);
  redacted = session.redact(text);
  rounds++;
}
const msPerKb = (performance.now() - started) / rounds / kb;
rows.push([
  "redaction cost per KB of request text",
  `${msPerKb.toFixed(3)} ms`,
  "< 1 ms",
  msPerKb < 1 ? "yes" : "NO",
]);

// About 4 characters a token, as a model streams the redacted text back.
const tokens = redacted.match(/[\s\S]{1,4}/g)!;
const restoreStarted = performance.now();
let restoreRounds = 0;
let restored = "";
while (performance.now() - restoreStarted < 500 || restoreRounds < 5) {
  const restorer = new PlaceholderRestorer(session);
  restored = "";
  for (const token of tokens) restored += restorer.push(token);
  restored += restorer.flush();
  restoreRounds++;
}
const usPerToken = ((performance.now() - restoreStarted) * 1000) / restoreRounds / tokens.length;
if (restored !== text) throw new Error("streaming restoration did not give back the corpus");
rows.push([
  "restoration cost per streamed token",
  `${usPerToken.toFixed(2)} µs`,
  "< 10 µs",
  usPerToken < 10 ? "yes" : "NO",
]);

if (values.json) console.log(JSON.stringify({ rows }));
else {
  for (const row of rows) console.log(`${row[0]}: ${row[1]}${row[2] === "-" ? "" : ` (target ${row[2]})`}`);
  if (misses.length > 0) console.log(`\n${misses.length} errors:\n${misses.join("\n")}`);
}
