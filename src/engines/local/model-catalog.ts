// The built-in catalog maps short aliases to real GGUF files on Hugging Face, and parses explicit
// `hf:OWNER/REPO/FILE.gguf` references. Sizes and SHA-256 digests are the published values of the
// files at the time they were added (cross-checked against several independent pins of each file);
// the pull verifies against them, so a changed or tampered upstream file is refused rather than run.
// A site may add aliases or re-pin them (QIUSUO_MODEL_CATALOG, read by the config module): those
// entries come first and are checked like any hf: reference.

import { QiusuoError } from "../../core/errors.js";
import { InvalidModelNameError, safeModelFileName } from "./model-paths.js";

export const DEFAULT_HUGGING_FACE_ENDPOINT = "https://huggingface.co";

export interface CatalogModel {
  /** What users type: `deepseek-r1:1.5b`. */
  readonly alias: string;
  /** The Hugging Face repository, `OWNER/NAME`. */
  readonly repo: string;
  /** The file's path inside the repository. */
  readonly file: string;
  /** One line for people; the built-in entries have one, a site's entries may not. */
  readonly description?: string;
  /** The file size in bytes, when known. */
  readonly size?: number;
  /** The file's SHA-256 as 64 lowercase hex digits, when known. */
  readonly sha256?: string;
}

export const MODEL_CATALOG: readonly CatalogModel[] = [
  {
    alias: "deepseek-r1:1.5b",
    repo: "bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF",
    file: "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf",
    description: "DeepSeek-R1 distilled into Qwen2.5 1.5B, Q4_K_M (about 1.1 GB)",
    size: 1_117_320_800,
    sha256: "1741e5b2d062b07acf048bf0d2c514dadf2a48f94e2b4aa0cfe069af3838ee2f",
  },
  {
    alias: "deepseek-r1:7b",
    repo: "bartowski/DeepSeek-R1-Distill-Qwen-7B-GGUF",
    file: "DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf",
    description: "DeepSeek-R1 distilled into Qwen2.5 7B, Q4_K_M (about 4.7 GB)",
    size: 4_683_073_504,
    sha256: "731ece8d06dc7eda6f6572997feb9ee1258db0784827e642909d9b565641937b",
  },
  {
    alias: "deepseek-r1:8b",
    repo: "bartowski/DeepSeek-R1-Distill-Llama-8B-GGUF",
    file: "DeepSeek-R1-Distill-Llama-8B-Q4_K_M.gguf",
    description: "DeepSeek-R1 distilled into Llama 3.1 8B, Q4_K_M (about 4.9 GB)",
    size: 4_920_736_608,
    sha256: "87bcba20b4846d8dadf753d3ff48f9285d131fc95e3e0e7e934d4f20bc896f5d",
  },
  {
    alias: "qwen2.5:0.5b",
    repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
    file: "qwen2.5-0.5b-instruct-q4_k_m.gguf",
    description: "Qwen2.5 0.5B Instruct, Q4_K_M (about 0.5 GB), small enough for any machine",
    size: 491_400_032,
    sha256: "74a4da8c9fdbcd15bd1f6d01d621410d31c6fc00986f5eb687824e7b93d7a9db",
  },
  // The popular families (issue 12). Size and SHA-256 as the Hugging Face repository lists them
  // (its LFS oid) at the revision named, copied from public catalogues that pin those files:
  // Qwen3 0.6B from several (at Qwen/Qwen3-0.6B-GGUF@23749fef); Qwen3 4B and 8B from the
  // importer catalogue of github.com/cryptoAGI/bankml (at @bc640142 and @7c41481f); gpt-oss-20b
  // from two (at ggml-org/gpt-oss-20b-GGUF@ef9b12f2 and @b97cbb20, the same file); Llama 3.2 3B
  // from one that re-hashed its download (at unsloth/Llama-3.2-3B-Instruct-GGUF@e7d0997e). A
  // file re-uploaded since is refused by the pull, not run.
  {
    alias: "qwen3:0.6b",
    repo: "Qwen/Qwen3-0.6B-GGUF",
    file: "Qwen3-0.6B-Q8_0.gguf",
    description: "Qwen3 0.6B, Q8_0 (about 0.6 GB); thinks, and DeepThink turns it off",
    size: 639_446_688,
    sha256: "9465e63a22add5354d9bb4b99e90117043c7124007664907259bd16d043bb031",
  },
  {
    alias: "qwen3:4b",
    repo: "Qwen/Qwen3-4B-GGUF",
    file: "Qwen3-4B-Q4_K_M.gguf",
    description: "Qwen3 4B, Q4_K_M (about 2.5 GB)",
    size: 2_497_280_256,
    sha256: "7485fe6f11af29433bc51cab58009521f205840f5b4ae3a32fa7f92e8534fdf5",
  },
  {
    alias: "qwen3:8b",
    repo: "Qwen/Qwen3-8B-GGUF",
    file: "Qwen3-8B-Q4_K_M.gguf",
    description: "Qwen3 8B, Q4_K_M (about 5.0 GB)",
    size: 5_027_783_488,
    sha256: "d98cdcbd03e17ce47681435b5150e34c1417f50b5c0019dd560e4882c5745785",
  },
  {
    alias: "gpt-oss:20b",
    repo: "ggml-org/gpt-oss-20b-GGUF",
    file: "gpt-oss-20b-MXFP4.gguf",
    description: "OpenAI gpt-oss 20B (3.6B active), MXFP4 (about 12 GB); harmony format",
    size: 12_109_566_624,
    sha256: "27cd6c432c7672cb812a92f611cf3ba7bbc35928262bb1e1253ff4ee6ae35901",
  },
  {
    alias: "llama3.2:3b",
    repo: "unsloth/Llama-3.2-3B-Instruct-GGUF",
    file: "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
    description: "Llama 3.2 3B Instruct, Q4_K_M (about 2.0 GB); Llama 3.2 Community License",
    size: 2_019_377_600,
    sha256: "6c99cc00ae910f6a532a80022cb4bc1939094527a089c29294b841c0bd87f74d",
  },
];

/** What a model reference resolves to: where to download it from and what to call it locally. */
export interface ModelReference {
  /** The catalog alias, when the reference was one. */
  alias?: string;
  /** `OWNER/NAME` on Hugging Face. */
  repo: string;
  /** The file's path inside the repository. */
  file: string;
  url: string;
  /** The file name under `<dataDir>/models`. */
  localFileName: string;
  size?: number;
  sha256?: string;
}

export interface ResolveModelOptions {
  /** A Hugging Face compatible endpoint (a mirror such as https://hf-mirror.com, or a test server). */
  huggingFaceEndpoint?: string;
  /**
   * Entries looked up before MODEL_CATALOG: one with a built-in alias replaces it (its file, size
   * and SHA-256). From QIUSUO_MODEL_CATALOG; default none.
   */
  catalogOverrides?: readonly CatalogModel[];
}

export class InvalidEndpointError extends QiusuoError {
  override readonly name = "InvalidEndpointError";
  constructor(message: string) {
    super("invalid_parameter", "invalid_endpoint", message);
  }
}

const HF_PREFIX = "hf:";
/** Hugging Face owner and repository names: letters, digits, '-', '_', '.', at most 96 characters. */
const REPO_PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
/** File path segments: printable, no characters that are special in paths or URLs' structure. */
const FILE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9 ._+()[\]@,=~-]*$/;

export function findCatalogModel(
  alias: string,
  overrides: readonly CatalogModel[] = [],
): CatalogModel | undefined {
  const wanted = alias.trim().toLowerCase();
  const matches = (model: CatalogModel) => model.alias.toLowerCase() === wanted;
  return overrides.find(matches) ?? MODEL_CATALOG.find(matches);
}

/**
 * Resolves a catalog alias (`deepseek-r1:1.5b`) or an `hf:OWNER/REPO/path/FILE.gguf` reference.
 * Throws InvalidModelNameError for anything else, including every attempt at path traversal.
 */
export function resolveModelReference(reference: string, options: ResolveModelOptions = {}): ModelReference {
  const endpoint = normalizeEndpoint(options.huggingFaceEndpoint ?? DEFAULT_HUGGING_FACE_ENDPOINT);
  const trimmed = reference.trim();
  if (trimmed.toLowerCase().startsWith(HF_PREFIX)) return resolveHuggingFaceReference(trimmed, endpoint);

  const overrides = options.catalogOverrides ?? [];
  const model = findCatalogModel(trimmed, overrides);
  if (model === undefined) {
    const aliases = [...overrides, ...MODEL_CATALOG].map((entry) => entry.alias.toLowerCase());
    const known = [...new Set(aliases)].join(", ");
    throw new InvalidModelNameError(
      `Unknown model ${JSON.stringify(reference)}. Use a catalog alias (${known}), ` +
        "hf:OWNER/REPO/FILE.gguf for any GGUF on Hugging Face, or --model /path/to/model.gguf for a file you have.",
    );
  }
  // Checked like a typed hf: reference: a site's catalog entry is no more trusted than one.
  const resolved: ModelReference = {
    alias: model.alias.toLowerCase(),
    ...resolveHuggingFaceReference(`${HF_PREFIX}${model.repo}/${model.file}`, endpoint),
  };
  if (model.size !== undefined) resolved.size = model.size;
  if (model.sha256 !== undefined) resolved.sha256 = model.sha256;
  return resolved;
}

function resolveHuggingFaceReference(reference: string, endpoint: string): ModelReference {
  const reject = (why: string): never => {
    throw new InvalidModelNameError(
      `The reference ${JSON.stringify(reference)} is not valid: ${why}. Expected hf:OWNER/REPO/FILE.gguf ` +
        "(the file may be in a folder: hf:OWNER/REPO/folder/FILE.gguf).",
    );
  };
  const segments = reference.slice(HF_PREFIX.length).split("/");
  const [owner, repoName, ...fileSegments] = segments;
  if (owner === undefined || repoName === undefined || fileSegments.length === 0) {
    reject("it needs an owner, a repository and a file");
  }
  if (!REPO_PART.test(owner ?? "") || !REPO_PART.test(repoName ?? "") || repoName?.includes("..")) {
    reject("the owner and repository may hold only letters, digits, '-', '_' and '.'");
  }
  for (const segment of fileSegments) {
    if (segment === "." || segment === ".." || segment.includes(".."))
      reject("'..' is not allowed in a path");
    if (!FILE_SEGMENT.test(segment))
      reject(`the path segment ${JSON.stringify(segment)} has characters that are not allowed`);
  }
  const fileName = fileSegments[fileSegments.length - 1] ?? "";
  if (!fileName.toLowerCase().endsWith(".gguf")) reject("the file must be a .gguf file");
  const repo = `${owner}/${repoName}`;
  const file = fileSegments.join("/");
  return { repo, file, url: fileUrl(endpoint, repo, file), localFileName: safeModelFileName(fileName) };
}

function fileUrl(endpoint: string, repo: string, file: string): string {
  const encodedRepo = repo.split("/").map(encodeURIComponent).join("/");
  const encodedFile = file.split("/").map(encodeURIComponent).join("/");
  return `${endpoint}/${encodedRepo}/resolve/main/${encodedFile}`;
}

/** Checks the endpoint is an http(s) URL and drops trailing slashes, so URLs join cleanly. */
export function normalizeEndpoint(endpoint: string): string {
  let parsed: URL;
  try {
    parsed = new URL(endpoint);
  } catch {
    throw new InvalidEndpointError(`The Hugging Face endpoint ${JSON.stringify(endpoint)} is not a URL.`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new InvalidEndpointError(
      `The Hugging Face endpoint ${JSON.stringify(endpoint)} must be an http(s) URL.`,
    );
  }
  if (parsed.search !== "" || parsed.hash !== "" || parsed.username !== "" || parsed.password !== "") {
    throw new InvalidEndpointError(
      `The Hugging Face endpoint ${JSON.stringify(endpoint)} must be a plain URL, without query, fragment or credentials.`,
    );
  }
  return parsed.href.replace(/\/+$/, "");
}
