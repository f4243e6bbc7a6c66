import type { DocumentKind } from "./document.js";
import { ExtractionError } from "./errors.js";

const MARKDOWN_EXTENSIONS = new Set(["md", "markdown", "mdx", "mdown"]);
const HTML_EXTENSIONS = new Set(["html", "htm", "xhtml"]);
const TEXT_EXTENSIONS = new Set(["txt", "text", "rst", "adoc", "org", "log", "csv", "tsv", "tex", "bib"]);
const CODE_EXTENSIONS = new Set(
  (
    "js mjs cjs jsx ts mts cts tsx vue svelte py pyi rb go rs java kt kts scala c h cc cpp cxx hpp hh cs " +
    "swift m mm php pl pm lua r jl dart ex exs erl hs ml fs clj sh bash zsh fish ps1 bat sql graphql proto " +
    "css scss less json jsonl yaml yml toml ini cfg conf xml gradle cmake diff patch zig nim"
  ).split(" "),
);
/** Files known by their whole name rather than an extension. */
const CODE_NAMES = new Set(["dockerfile", "makefile", "gemfile", "rakefile", "justfile", "cmakelists.txt"]);
const TEXT_NAMES = new Set(["readme", "license", "copying", "authors", "changelog", "notice"]);

const DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/** Signatures of formats qiusuo does not read, so they are refused by content, whatever their name. */
const REFUSED_SIGNATURES: ReadonlyArray<[string, number[]]> = [
  ["a PNG image", [0x89, 0x50, 0x4e, 0x47]],
  ["a JPEG image", [0xff, 0xd8, 0xff]],
  ["a GIF image", [0x47, 0x49, 0x46, 0x38]],
  ["a gzip archive", [0x1f, 0x8b]],
  ["an executable", [0x7f, 0x45, 0x4c, 0x46]],
  ["a 7-Zip archive", [0x37, 0x7a, 0xbc, 0xaf]],
  ["an old Office document", [0xd0, 0xcf, 0x11, 0xe0]],
  ["a RAR archive", [0x52, 0x61, 0x72, 0x21]],
  ["a WebAssembly module", [0x00, 0x61, 0x73, 0x6d]],
];

function startsWith(bytes: Uint8Array, signature: readonly number[], at = 0): boolean {
  return signature.every((byte, index) => bytes[at + index] === byte);
}

export function fileExtension(fileName: string): string {
  const base = (fileName.split(/[\\/]/).pop() ?? fileName).toLowerCase();
  const dot = base.lastIndexOf(".");
  return dot <= 0 ? "" : base.slice(dot + 1);
}

/** `%PDF-` within the first KB, as PDF readers accept it. */
function isPdf(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 1024));
  return head.indexOf("%PDF-") !== -1;
}

/**
 * The kind of a file: by its first bytes where the format has a signature (PDF, zip), then by its
 * extension, then by its MIME type. Throws `unsupported_file` for anything else, and
 * `unreadable_file` for a file whose name claims a PDF or DOCX that its bytes are not.
 */
export function detectKind(bytes: Uint8Array, fileName: string, mimeType?: string): DocumentKind {
  if (bytes.byteLength === 0) throw new ExtractionError("empty_file", `${fileName} is empty.`);
  const extension = fileExtension(fileName);
  const base = (fileName.split(/[\\/]/).pop() ?? fileName).toLowerCase();
  const mime = (mimeType ?? "").split(";")[0]!.trim().toLowerCase();
  if (isPdf(bytes)) return "pdf";
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) {
    if (extension === "docx" || mime === DOCX_MIME) return "docx";
    throw new ExtractionError(
      "unsupported_file",
      `${fileName} is a zip archive; qiusuo reads PDF, DOCX, HTML, Markdown, text and code files.`,
    );
  }
  if (extension === "pdf" || extension === "docx")
    throw new ExtractionError(
      "unreadable_file",
      `${fileName} is named .${extension} but is not a ${extension.toUpperCase()} file.`,
    );
  for (const [what, signature] of REFUSED_SIGNATURES)
    if (startsWith(bytes, signature))
      throw new ExtractionError(
        "unsupported_file",
        `${fileName} is ${what}; qiusuo reads PDF, DOCX, HTML, Markdown, text and code files.`,
      );
  if (MARKDOWN_EXTENSIONS.has(extension)) return "markdown";
  if (HTML_EXTENSIONS.has(extension)) return "html";
  if (CODE_EXTENSIONS.has(extension) || CODE_NAMES.has(base)) return "code";
  if (TEXT_EXTENSIONS.has(extension) || TEXT_NAMES.has(base)) return "text";
  if (mime === "text/markdown") return "markdown";
  if (mime === "text/html" || mime === "application/xhtml+xml") return "html";
  if (mime === "text/plain") return "text";
  if (mime.startsWith("text/") || mime === "application/json" || mime === "application/javascript")
    return "code";
  throw new ExtractionError(
    "unsupported_file",
    `qiusuo cannot read ${fileName}${mime ? ` (${mime})` : ""}; it reads PDF, DOCX, HTML, Markdown, text and code files.`,
  );
}
