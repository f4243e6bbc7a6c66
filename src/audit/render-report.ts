// The audit report as one self-contained HTML page: inline CSS and SVG, no script, no external
// asset, so it can be mailed, archived, or served under a CSP that allows nothing else.

import { barChart, escapeHtml, histogram, scatter } from "./charts.js";
import { identityLabel } from "./identity.js";
import type { AuditAnswer, AuditedModel, AuditReport, LikelihoodCell } from "./report.js";
import type { SummaryStats } from "./similarity.js";

/** The policy the page is written for; the app serves it with the same header. */
export const AUDIT_REPORT_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'";

const STYLE = `
:root { color-scheme: light dark; --fg: #1d1d1f; --bg: #fff; --muted: #5f6368; --line: #d0d4da; --bar: #3461c1; --accent: #b3261e; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8eaed; --bg: #16181c; --muted: #a8adb4; --line: #3c4048; --bar: #8ab4f8; --accent: #f28b82; } }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif; color: var(--fg); background: var(--bg); max-width: 1080px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
table { border-collapse: collapse; width: 100%; margin: 12px 0; font-size: 0.92em; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
.meta, .caveat { color: var(--muted); } .caveat { border-left: 3px solid var(--line); padding: 4px 12px; margin: 12px 0; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; } figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
svg { max-width: 100%; height: auto; } svg text { fill: var(--fg); font-size: 12px; }
svg .bar { fill: var(--bar); } svg .dot { fill: var(--bar); fill-opacity: 0.75; } svg .axis { stroke: var(--muted); } svg .diagonal { stroke: var(--accent); stroke-dasharray: 4 3; }
details > summary { cursor: pointer; } pre { white-space: pre-wrap; word-break: break-word; margin: 4px 0; font-size: 0.9em; }
code { font-size: 0.9em; word-break: break-all; } .error { color: var(--accent); }
`;

const number = (value: number | undefined, digits = 3) =>
  value === undefined || !Number.isFinite(value) ? "—" : value.toFixed(digits);

export function renderAuditHtml(report: AuditReport): string {
  const { a, b } = report.models;
  const title = `Model audit: ${a.name} vs ${b.name}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(AUDIT_REPORT_CSP.replace(/; frame-ancestors 'self'/, ""))}">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
<p class="meta">Made by <code>qiusuo audit</code> on ${escapeHtml(report.createdAt)} in ${report.durationSeconds} s.
${report.settings.identityPrompts} identity prompts, ${report.settings.behaviourPrompts} behaviour prompts, greedy decoding (temperature 0), at most ${report.settings.maxTokens} tokens per answer.</p>
${modelsTable(report)}
${summarySection(report)}
${identitySection(report)}
${behaviourSection(report)}
${likelihoodSection(report)}
</main>
</body>
</html>
`;
}

function modelsTable(report: AuditReport): string {
  const row = (key: string, model: AuditedModel) =>
    `<tr><th scope="row">${key}</th><td><code>${escapeHtml(model.name)}</code></td><td><code>${escapeHtml(model.id)}</code></td><td>${model.pool ? `upstream pool <code>${escapeHtml(model.pool)}</code>` : "local"}</td><td>${model.sha256 ? `<code>${escapeHtml(model.sha256)}</code>` : "—"}</td></tr>`;
  return `<table><caption class="meta">The two models</caption><thead><tr><th scope="col">Model</th><th scope="col">Name given</th><th scope="col">Served as</th><th scope="col">Where</th><th scope="col">File SHA-256</th></tr></thead>
<tbody>${row("A", report.models.a)}${row("B", report.models.b)}</tbody></table>`;
}

function summarySection(report: AuditReport): string {
  const top = (side: "a" | "b") => {
    const first = report.identity.distribution[side][0];
    const total = report.identity.rows.length;
    return first
      ? `${escapeHtml(identityLabel(first.identity))} in ${first.count} of ${total} answers`
      : "no answers";
  };
  const lines = [
    `A most often claims to be ${top("a")}; B ${top("b")}.`,
    `Answer overlap (unigram and bigram Jaccard) has mean ${number(report.behaviour.overlap?.mean)} over ${report.behaviour.rows.length} prompts; ${report.behaviour.identicalAnswers} answers are identical.`,
  ];
  if (report.behaviour.embedding)
    lines.push(`Embedding cosine similarity has mean ${number(report.behaviour.embedding.mean)}.`);
  const { likelihood } = report;
  if (
    likelihood.available &&
    likelihood.aUnderA &&
    likelihood.aUnderB &&
    likelihood.bUnderA &&
    likelihood.bUnderB
  ) {
    lines.push(
      `A's answers: ${number(likelihood.aUnderA.perToken)} nats/token under A, ${number(likelihood.aUnderB.perToken)} under B. B's answers: ${number(likelihood.bUnderB.perToken)} under B, ${number(likelihood.bUnderA.perToken)} under A.`,
    );
  } else {
    lines.push(`Likelihood: not measured (${escapeHtml(likelihood.reason ?? "unavailable")}).`);
  }
  return `<h2>Summary</h2><ul>${lines.map((line) => `<li>${line}</li>`).join("")}</ul>
<p class="caveat">None of these numbers is proof on its own. Each part below says what it can and cannot show; read them together, and against reports of models whose origin you know.</p>`;
}

function identitySection(report: AuditReport): string {
  const { distribution, rows } = report.identity;
  const bars = (side: "a" | "b") =>
    barChart(
      distribution[side].map((entry) => ({ label: identityLabel(entry.identity), value: entry.count })),
      `Identities model ${side.toUpperCase()} claims`,
    );
  const claim = (answer: AuditAnswer & { claim: string }) =>
    answer.error ? `<span class="error">error</span>` : escapeHtml(identityLabel(answer.claim));
  const table = rows
    .map(
      (row) =>
        `<tr><td>${escapeHtml(row.prompt)}</td><td>${claim(row.a)}${answerDetails(row.a)}</td><td>${claim(row.b)}${answerDetails(row.b)}</td></tr>`,
    )
    .join("");
  return `<h2>1. Identity: who each model says it is</h2>
<p class="caveat"><strong>Can show:</strong> what a model says about itself when asked in many phrasings, in Chinese and English; a model that calls itself by another maker's name was very likely trained on that maker's outputs or on data that mentions it.
<strong>Cannot show:</strong> what the model is. A claim is text like any other: a system prompt or a little fine-tuning sets it to anything, models trained on public chat logs often claim to be ChatGPT, and the name matcher reads only known names (a denial such as "I am not ChatGPT" is skipped, but sarcasm or lists are not understood). The claim of an answer is the first known name it uses.</p>
<div class="charts"><figure><figcaption>A: ${escapeHtml(report.models.a.name)}</figcaption>${bars("a")}</figure><figure><figcaption>B: ${escapeHtml(report.models.b.name)}</figcaption>${bars("b")}</figure></div>
<table><thead><tr><th scope="col">Prompt</th><th scope="col">A claims</th><th scope="col">B claims</th></tr></thead><tbody>${table}</tbody></table>`;
}

function statsRow(label: string, stats: SummaryStats | undefined): string {
  if (!stats) return "";
  return `<tr><th scope="row">${label}</th><td class="number">${stats.count}</td><td class="number">${number(stats.mean)}</td><td class="number">${number(stats.median)}</td><td class="number">${number(stats.stdev)}</td><td class="number">${number(stats.min)}</td><td class="number">${number(stats.max)}</td></tr>`;
}

function behaviourSection(report: AuditReport): string {
  const { rows, overlap, embedding } = report.behaviour;
  const charts = [
    `<figure><figcaption>Answer overlap per prompt</figcaption>${histogram(
      rows.map((row) => row.overlap),
      "Jaccard similarity of unigrams and bigrams",
    )}</figure>`,
  ];
  const withEmbedding = rows.filter((row) => row.embedding !== undefined);
  if (withEmbedding.length > 0) {
    charts.push(
      `<figure><figcaption>Overlap against embedding similarity</figcaption>${scatter(
        withEmbedding.map((row) => ({ x: row.overlap, y: row.embedding!, label: row.prompt })),
        {
          x: "n-gram overlap",
          y: "embedding cosine",
          title: "Overlap against embedding similarity per prompt",
        },
      )}</figure>`,
    );
  }
  const table = rows
    .map(
      (row) =>
        `<tr><td>${escapeHtml(row.prompt)}</td><td class="number">${number(row.overlap)}</td>${withEmbedding.length > 0 ? `<td class="number">${number(row.embedding)}</td>` : ""}<td>${answerDetails(row.a, true)}</td><td>${answerDetails(row.b, true)}</td></tr>`,
    )
    .join("");
  return `<h2>2. Behaviour: how alike the answers are</h2>
<p class="caveat"><strong>Can show:</strong> how close the two models' greedy answers are on a fixed mix of facts, reasoning, code, writing and requests to refuse. Answers that are identical, or nearly so, on many unrelated prompts mean the same weights, or one model trained to copy the other closely.
<strong>Cannot show:</strong> lineage from low similarity or from moderate similarity: two fine-tunes of one base model, or a distilled student with its own style, can answer differently; two unrelated strong models agree on facts. Overlap counts shared words (characters for Chinese), not meaning; embedding similarity measures meaning only as well as the embedding model does${report.settings.embeddingModel ? ` (here <code>${escapeHtml(report.settings.embeddingModel)}</code>)` : " (no embedding model was given: pass <code>--embedding-model</code>)"}. Greedy answers of an upstream model can vary between runs when its server batches requests.</p>
<table><thead><tr><th scope="col">Measure</th><th scope="col" class="number">Prompts</th><th scope="col" class="number">Mean</th><th scope="col" class="number">Median</th><th scope="col" class="number">Std. dev.</th><th scope="col" class="number">Min</th><th scope="col" class="number">Max</th></tr></thead>
<tbody>${statsRow("n-gram overlap", overlap)}${statsRow("embedding cosine", embedding)}</tbody></table>
<div class="charts">${charts.join("")}</div>
<table><thead><tr><th scope="col">Prompt</th><th scope="col" class="number">Overlap</th>${withEmbedding.length > 0 ? `<th scope="col" class="number">Embedding</th>` : ""}<th scope="col">A's answer</th><th scope="col">B's answer</th></tr></thead><tbody>${table}</tbody></table>`;
}

function likelihoodSection(report: AuditReport): string {
  const part = report.likelihood;
  const caveat = `<p class="caveat"><strong>Can show:</strong> how well each model predicts the other's text. A model scores its own greedy text well; a student distilled from a teacher also scores the teacher's text unusually well (its cross score is close to the teacher's self score), and two copies of the same weights score everything identically.
<strong>Cannot show:</strong> anything without the weights of both models on this machine (upstream models return no probabilities for a given text), nor across tokenizers per token: compare nats per character when the tokenizers differ. Each text is re-tokenized by the scoring model, so even self-scores are not exactly the generation's. Shared training data (the same public corpora) also raises cross scores; compare against a model of known, unrelated origin before concluding. At most ${report.settings.likelihoodTokens} tokens of each answer are scored.</p>`;
  if (!part.available || !part.aUnderA || !part.aUnderB || !part.bUnderA || !part.bUnderB) {
    return `<h2>3. Likelihood: how well each model predicts the other</h2>${caveat}<p>Not measured: ${escapeHtml(part.reason ?? "unavailable")}</p>`;
  }
  const cellRow = (label: string, cells: [LikelihoodCell, LikelihoodCell]) =>
    `<tr><th scope="row">${label}</th>${cells.map((cell) => `<td class="number">${number(cell.perToken)}</td><td class="number">${number(cell.perCharacter)}</td><td class="number">${cell.tokens}</td>`).join("")}</tr>`;
  const rows = part.rows
    .map(
      (row) =>
        `<tr><td>${escapeHtml(row.prompt)}</td><td class="number">${number(row.aUnderA)}</td><td class="number">${number(row.aUnderB)}</td><td class="number">${number(row.bUnderA)}</td><td class="number">${number(row.bUnderB)}</td></tr>`,
    )
    .join("");
  const points = (key: "a" | "b") =>
    part.rows.map((row) =>
      key === "a"
        ? { x: row.aUnderA, y: row.aUnderB, label: row.prompt }
        : { x: row.bUnderB, y: row.bUnderA, label: row.prompt },
    );
  return `<h2>3. Likelihood: how well each model predicts the other</h2>${caveat}
<p>Mean log-probability (natural log; closer to 0 is more likely) of each model's answers, summed over ${part.rows.length} prompts.</p>
<table><thead><tr><th scope="col" rowspan="2">Text</th><th scope="colgroup" colspan="3">Under A</th><th scope="colgroup" colspan="3">Under B</th></tr>
<tr><th scope="col" class="number">nats/token</th><th scope="col" class="number">nats/char</th><th scope="col" class="number">tokens</th><th scope="col" class="number">nats/token</th><th scope="col" class="number">nats/char</th><th scope="col" class="number">tokens</th></tr></thead>
<tbody>${cellRow("A's answers", [part.aUnderA, part.aUnderB])}${cellRow("B's answers", [part.bUnderA, part.bUnderB])}</tbody></table>
<div class="charts"><figure><figcaption>A's answers: self against cross (nats/token)</figcaption>${scatter(points("a"), { x: "under A", y: "under B", title: "A's answers under A and under B, per prompt" })}</figure>
<figure><figcaption>B's answers: self against cross (nats/token)</figcaption>${scatter(points("b"), { x: "under B", y: "under A", title: "B's answers under B and under A, per prompt" })}</figure></div>
<p class="meta">On the dashed diagonal the other model predicts a text as well as its author; below it, worse.</p>
<table><thead><tr><th scope="col">Prompt</th><th scope="col" class="number">A's under A</th><th scope="col" class="number">A's under B</th><th scope="col" class="number">B's under A</th><th scope="col" class="number">B's under B</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function answerDetails(answer: AuditAnswer, open = false): string {
  if (answer.error) return `<pre class="error">${escapeHtml(answer.error)}</pre>`;
  const text = `<pre>${escapeHtml(answer.text === "" ? "(empty)" : answer.text)}</pre>`;
  return open ? text : `<details><summary>answer</summary>${text}</details>`;
}
