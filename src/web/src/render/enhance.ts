// After sanitized HTML is in the DOM: TeX through KaTeX, code through highlight.js, labels on copy
// buttons. KaTeX and highlight.js load on first need, so the initial bundle carries neither.
import { highlighterFor, languageFor } from "./highlight.ts";
import { sanitize } from "./markdown.ts";

type Katex = typeof import("katex").default;
let katex: Promise<Katex> | null = null;

function loadKatex(): Promise<Katex> {
  katex ??= Promise.all([import("katex"), import("katex/dist/katex.min.css")]).then(
    ([module]) => module.default,
  );
  return katex;
}

/** Renders TeX placeholders inside `root`; KaTeX builds DOM nodes, never HTML strings. */
export async function renderMath(root: HTMLElement): Promise<void> {
  const pending = root.querySelectorAll<HTMLElement>(
    ".math-inline:not([data-done]), .math-block:not([data-done])",
  );
  if (pending.length === 0) return;
  const renderer = await loadKatex();
  for (const element of pending) {
    if (!element.isConnected || element.dataset.done) continue;
    const tex = element.textContent ?? "";
    element.dataset.done = "1";
    element.dataset.tex = tex;
    try {
      renderer.render(tex, element, {
        displayMode: element.classList.contains("math-block"),
        // KaTeX's own error node sets a style attribute, which the CSP blocks (and reports):
        // show the source instead, marked by a class, with KaTeX's message as its tooltip.
        throwOnError: true,
        trust: false,
        strict: "ignore",
        maxExpand: 1000,
      });
    } catch (error) {
      element.textContent = tex;
      element.classList.add("math-error");
      element.title = error instanceof Error ? error.message : String(error);
    }
  }
}

/** Highlights fenced code inside `root`; the highlighter's HTML is sanitized like everything else. */
export async function highlightCode(root: HTMLElement): Promise<void> {
  const blocks = root.querySelectorAll<HTMLElement>("pre > code[class^='language-']:not([data-done])");
  for (const code of blocks) {
    const name = code.className.slice("language-".length);
    code.dataset.done = "1";
    if (!languageFor(name)) continue;
    const hljs = await highlighterFor(name);
    if (!hljs || !code.isConnected) continue;
    const source = code.textContent ?? "";
    code.innerHTML = sanitize(
      hljs.highlight(source, { language: languageFor(name)!, ignoreIllegals: true }).value,
    );
    code.classList.add("hljs");
  }
}

/** Gives copy buttons their accessible label (the HTML carries none, to stay language-free). */
export function labelCopyButtons(root: HTMLElement, label: string): void {
  for (const button of root.querySelectorAll<HTMLButtonElement>("button.copy-code")) {
    if (button.textContent !== label) button.textContent = label;
  }
}

/**
 * Code, tables and display math scroll sideways on narrow screens; a tab stop on each lets a
 * keyboard scroll them too (as GitHub does for code).
 */
export function focusableScrollers(root: HTMLElement): void {
  for (const element of root.querySelectorAll<HTMLElement>("pre, table, .math-block"))
    if (element.tabIndex < 0) element.tabIndex = 0;
}

export async function enhance(root: HTMLElement, copyLabel: string): Promise<void> {
  labelCopyButtons(root, copyLabel);
  focusableScrollers(root);
  await Promise.all([renderMath(root), highlightCode(root)]);
}
