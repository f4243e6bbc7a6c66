// Attachments: text, Markdown and code files read as text in the browser; PDFs through pdf.js
// (loaded on first use). Their text reaches the model in DeepSeek's file template.
import { FILE_LIMITS } from "../../protocol/app/file-limits.ts";
import type { AttachedFile } from "./api/types.ts";

/** Text of one file, after extraction: the server's limit, so what is attached is what it takes. */
export const MAX_FILE_TEXT_BYTES = FILE_LIMITS.textBytesPerFile;
/** Files on one message: the server's limit. */
export const MAX_FILES = FILE_LIMITS.files;
/** Raw size read at all: a PDF is larger than its text, a text file is its text. */
export const MAX_PDF_BYTES = 20 * 1024 * 1024;

const TEXT_EXTENSIONS = new Set(
  (
    "txt md markdown mdx rst csv tsv json jsonl yaml yml toml ini cfg conf env log xml html htm css scss less " +
    "js mjs cjs jsx ts tsx vue svelte py rb go rs java kt kts scala c h cc cpp hpp cs swift m mm php pl lua r " +
    "sh bash zsh fish ps1 bat sql graphql proto dockerfile makefile gradle tex bib diff patch ipynb"
  ).split(" "),
);

export type FileProblem =
  | { kind: "unsupported"; name: string }
  /** `limit` applies to the file itself (a PDF's raw size) or to the text read from it. */
  | { kind: "too-large"; name: string; size: number; limit: number; of: "pdf" | "text" }
  | { kind: "unreadable"; name: string; reason: string };

function extension(name: string): string {
  const lower = name.toLowerCase();
  const base = lower.split("/").pop() ?? lower;
  if (base === "dockerfile" || base === "makefile") return base;
  const dot = base.lastIndexOf(".");
  return dot === -1 ? "" : base.slice(dot + 1);
}

export function isPdf(file: File): boolean {
  return file.type === "application/pdf" || extension(file.name) === "pdf";
}

export function isTextLike(file: File): boolean {
  return (
    file.type.startsWith("text/") ||
    TEXT_EXTENSIONS.has(extension(file.name)) ||
    file.type === "application/json"
  );
}

/** Reads one file's text, or says why it can't be attached. */
export async function readAttachment(file: File): Promise<AttachedFile | FileProblem> {
  const pdf = isPdf(file);
  if (!pdf && !isTextLike(file)) return { kind: "unsupported", name: file.name };
  if (pdf && file.size > MAX_PDF_BYTES)
    return { kind: "too-large", name: file.name, size: file.size, limit: MAX_PDF_BYTES, of: "pdf" };
  if (!pdf && file.size > MAX_FILE_TEXT_BYTES)
    return { kind: "too-large", name: file.name, size: file.size, limit: MAX_FILE_TEXT_BYTES, of: "text" };
  try {
    const text = pdf ? await pdfText(file) : await file.text();
    if (!pdf && text.includes("\u0000")) return { kind: "unsupported", name: file.name };
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > MAX_FILE_TEXT_BYTES)
      return { kind: "too-large", name: file.name, size: bytes, limit: MAX_FILE_TEXT_BYTES, of: "text" };
    return { name: file.name, text };
  } catch (error) {
    return { kind: "unreadable", name: file.name, reason: (error as Error).message };
  }
}

async function pdfText(file: File): Promise<string> {
  const [pdfjs, worker] = await Promise.all([
    import("pdfjs-dist"),
    import("pdfjs-dist/build/pdf.worker.min.mjs?url"),
  ]);
  pdfjs.GlobalWorkerOptions.workerSrc = worker.default;
  const document = await pdfjs.getDocument({ data: await file.arrayBuffer(), isEvalSupported: false })
    .promise;
  const pages: string[] = [];
  try {
    for (let number = 1; number <= document.numPages; number++) {
      const page = await document.getPage(number);
      const content = await page.getTextContent();
      pages.push(
        content.items.map((item) => ("str" in item ? item.str + (item.hasEOL ? "\n" : "") : "")).join(""),
      );
    }
  } finally {
    await document.destroy();
  }
  return pages.join("\n\n");
}

/** DeepSeek's file template, as its app sends attachments to the model. */
export function fileTemplate(files: readonly AttachedFile[], question: string): string {
  const parts = files.map(
    (file) => `[file name]: ${file.name}\n[file content begin]\n${file.text}\n[file content end]\n`,
  );
  return parts.join("") + question;
}

/**
 * The reverse, for display: a saved user message that holds the template shows the question with
 * the files as chips rather than their whole text.
 */
export function splitFileTemplate(content: string): { files: AttachedFile[]; question: string } {
  const files: AttachedFile[] = [];
  let rest = content;
  const pattern = /^\[file name\]: (.*)\n\[file content begin\]\n([\s\S]*?)\n\[file content end\]\n/;
  for (let match = pattern.exec(rest); match; match = pattern.exec(rest)) {
    files.push({ name: match[1]!, text: match[2]! });
    rest = rest.slice(match[0].length);
  }
  return { files, question: rest };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}
