/**
 * `npx tsx bench/knowledge-extract.ts [--json] [--rounds N]`: extraction throughput on the worker
 * thread, from bytes to sections: pages/s for a generated 100-page PDF, MB/s for Markdown, HTML
 * (Readability + linkedom) and DOCX, and what chunking adds (MB/s, on the main thread). Each is
 * the median of N rounds after one warm-up; CPU only, a few seconds. run-all's `knowledge` phase.
 */
import { parseArgs } from "node:util";
import { chunkDocument } from "../src/knowledge/chunk.js";
import { extractDocument, extractionThread, type ExtractedDocument } from "../src/knowledge/extract/index.js";
import { makeDocx, makePdf } from "../test/integration/knowledge-documents.js";

type Row = [metric: string, measured: string, target: string, met: string];

const { values } = parseArgs({
  options: { json: { type: "boolean", default: false }, rounds: { type: "string", default: "5" } },
});
const rounds = Math.max(1, Number(values.rounds));

const sentence = "Qiusuo reads the files a user uploads and cuts them into passages for search. ";
const chinese = "求索把用户上传的文件切成段落，供检索和引用。知识库支持中文与英文混排！";

const pdf = makePdf(
  Array.from({ length: 100 }, (_, page) =>
    Array.from({ length: 45 }, (_, line) => `Page ${page + 1}, line ${line + 1}: ${sentence.slice(0, 60)}`),
  ),
  { compress: true },
);
const markdown = Buffer.from(
  Array.from(
    { length: 2000 },
    (_, index) =>
      `## Section ${index}\n\n${sentence.repeat(6)}\n\n${chinese.repeat(4)}\n\n- item one\n- item two\n`,
  ).join("\n"),
);
const html = Buffer.from(
  `<!doctype html><html><head><title>Bench</title></head><body><nav><a href="/">Home</a></nav><main><article>${Array.from(
    { length: 1500 },
    (_, index) => `<h2>Part ${index}</h2><p>${sentence.repeat(5)}</p><p>${chinese.repeat(3)}</p>`,
  ).join("")}</article></main><footer>footer</footer></body></html>`,
);
const docx = makeDocx(
  Array.from({ length: 1500 }, (_, index) =>
    index % 10 === 0 ? { heading: 2 as const, text: `Heading ${index}` } : { text: sentence.repeat(4) },
  ),
);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function time(bytes: Buffer, fileName: string): Promise<{ ms: number; document: ExtractedDocument }> {
  await extractDocument(bytes, { fileName });
  const times: number[] = [];
  let document: ExtractedDocument | undefined;
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    document = await extractDocument(bytes, { fileName });
    times.push(performance.now() - started);
  }
  return { ms: median(times), document: document! };
}

const mb = (bytes: number) => bytes / 1024 / 1024;
const rows: Row[] = [];

const fromPdf = await time(pdf, "bench.pdf");
rows.push([
  "knowledge extraction: PDF, 100 generated pages",
  `${(100 / (fromPdf.ms / 1000)).toFixed(0)} pages/s (${fromPdf.ms.toFixed(0)} ms, ${(pdf.length / 1024).toFixed(0)} KB)`,
  "-",
  "-",
]);
for (const [label, bytes, fileName] of [
  ["Markdown", markdown, "bench.md"],
  ["HTML (Readability)", html, "bench.html"],
  ["DOCX (mammoth)", docx, "bench.docx"],
] as const) {
  const { ms, document } = await time(bytes, fileName);
  // A DOCX is zipped: its rate is of the text it gives, the others' of the file.
  const size = fileName.endsWith(".docx") ? Buffer.byteLength(document.text) : bytes.length;
  rows.push([
    `knowledge extraction: ${label}, ${mb(size).toFixed(1)} MB${fileName.endsWith(".docx") ? " of text" : ""}`,
    `${(mb(size) / (ms / 1000)).toFixed(1)} MB/s (${ms.toFixed(0)} ms)`,
    "-",
    "-",
  ]);
}

const { document } = await time(markdown, "bench.md");
const chunkTimes: number[] = [];
let chunks = 0;
for (let round = 0; round < rounds; round++) {
  const started = performance.now();
  chunks = chunkDocument(document).length;
  chunkTimes.push(performance.now() - started);
}
const chunkMs = median(chunkTimes);
rows.push([
  `knowledge chunking: Markdown, ${mb(markdown.length).toFixed(1)} MB into ${chunks} chunks of <= 1,000 chars`,
  `${(mb(markdown.length) / (chunkMs / 1000)).toFixed(1)} MB/s (${chunkMs.toFixed(0)} ms)`,
  "-",
  "-",
]);
await extractionThread.close();

if (values.json) console.log(JSON.stringify({ rows }));
else for (const row of rows) console.log(`${row[0]}: ${row[1]}`);
