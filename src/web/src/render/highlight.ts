// highlight.js, loaded on first use with only the languages a reply actually contains.
import type { HLJSApi, LanguageFn } from "highlight.js";

type Loader = () => Promise<{ default: LanguageFn }>;

const LANGUAGES: Record<string, Loader> = {
  bash: () => import("highlight.js/lib/languages/bash"),
  c: () => import("highlight.js/lib/languages/c"),
  cpp: () => import("highlight.js/lib/languages/cpp"),
  csharp: () => import("highlight.js/lib/languages/csharp"),
  css: () => import("highlight.js/lib/languages/css"),
  diff: () => import("highlight.js/lib/languages/diff"),
  go: () => import("highlight.js/lib/languages/go"),
  java: () => import("highlight.js/lib/languages/java"),
  javascript: () => import("highlight.js/lib/languages/javascript"),
  json: () => import("highlight.js/lib/languages/json"),
  kotlin: () => import("highlight.js/lib/languages/kotlin"),
  markdown: () => import("highlight.js/lib/languages/markdown"),
  php: () => import("highlight.js/lib/languages/php"),
  python: () => import("highlight.js/lib/languages/python"),
  ruby: () => import("highlight.js/lib/languages/ruby"),
  rust: () => import("highlight.js/lib/languages/rust"),
  sql: () => import("highlight.js/lib/languages/sql"),
  swift: () => import("highlight.js/lib/languages/swift"),
  typescript: () => import("highlight.js/lib/languages/typescript"),
  xml: () => import("highlight.js/lib/languages/xml"),
  yaml: () => import("highlight.js/lib/languages/yaml"),
};

const ALIASES: Record<string, string> = {
  sh: "bash",
  shell: "bash",
  zsh: "bash",
  console: "bash",
  "c++": "cpp",
  cc: "cpp",
  h: "c",
  hpp: "cpp",
  cs: "csharp",
  "c#": "csharp",
  golang: "go",
  js: "javascript",
  jsx: "javascript",
  mjs: "javascript",
  kt: "kotlin",
  md: "markdown",
  py: "python",
  python3: "python",
  rb: "ruby",
  rs: "rust",
  ts: "typescript",
  tsx: "typescript",
  html: "xml",
  svg: "xml",
  vue: "xml",
  yml: "yaml",
  patch: "diff",
};

let core: Promise<HLJSApi> | null = null;
const registered = new Map<string, Promise<boolean>>();

/** The canonical language for a fence's info string, or null when we don't highlight it. */
export function languageFor(name: string): string | null {
  const key = name.toLowerCase();
  const canonical = ALIASES[key] ?? key;
  return canonical in LANGUAGES ? canonical : null;
}

/** highlight.js with `language` registered; null when the language is unknown. */
export async function highlighterFor(language: string): Promise<HLJSApi | null> {
  const canonical = languageFor(language);
  if (!canonical) return null;
  core ??= import("highlight.js/lib/core").then((module) => module.default);
  const hljs = await core;
  let ready = registered.get(canonical);
  if (!ready) {
    ready = LANGUAGES[canonical]!().then((module) => {
      hljs.registerLanguage(canonical, module.default);
      return true;
    });
    registered.set(canonical, ready);
  }
  await ready;
  return hljs;
}
