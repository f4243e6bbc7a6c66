// A reply's Markdown. Finished text renders once (and is cached); streaming text re-renders only
// its last block, at most once per animation frame, so long replies stay cheap while they grow.
import { useEffect, useLayoutEffect, useRef } from "preact/hooks";
import { chineseConverter, convertChineseIn, t, wantChineseConversion } from "../i18n/i18n.ts";
import { enhance } from "../render/enhance.ts";
import { renderMarkdown, splitBlocks } from "../render/markdown.ts";
import type { Source } from "../api/types.ts";
import { safeHref } from "./tool-blocks.tsx";

/** `[citation:N]` as DeepSeek writes it, and the variants models write (see search-answer.ts). */
const CITATION =
  /[[【]\s*citation\s*[:：]?\s*\d{1,4}(?:\s*[,，、;；]\s*(?:citation\s*[:：]?\s*)?\d{1,4})*\s*[\]】]/giu;

/**
 * Turns the `[citation:N]` markers in `root`'s text into small numbered links to the sources
 * (built with DOM calls, never HTML: a source's title and URL are the web's). A number with no
 * source, or a source without an http(s) URL (a file), is a plain number.
 */
function linkCitations(root: HTMLElement, sources: readonly Source[]): void {
  if (sources.length === 0) return;
  const byIndex = new Map(sources.map((source) => [source.index, source]));
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const found: Text[] = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (parent?.closest("pre, code, a")) continue;
    CITATION.lastIndex = 0;
    if (CITATION.test(node.textContent ?? "")) found.push(node as Text);
  }
  for (const node of found) {
    const text = node.textContent ?? "";
    const parts = document.createDocumentFragment();
    let at = 0;
    for (const match of text.matchAll(CITATION)) {
      parts.append(text.slice(at, match.index));
      for (const number of (match[0].match(/\d+/g) ?? []).map(Number)) {
        const source = byIndex.get(number);
        const href = safeHref(source?.url);
        const citation = document.createElement(href ? "a" : "span");
        citation.className = "citation";
        citation.textContent = String(number);
        if (source) citation.title = t("citationLabel", { index: number, title: source.title });
        if (href && citation instanceof HTMLAnchorElement) {
          citation.href = href;
          citation.target = "_blank";
          citation.rel = "noopener noreferrer nofollow";
          citation.setAttribute("aria-label", citation.title);
        }
        parts.append(citation);
      }
      at = match.index! + match[0].length;
    }
    parts.append(text.slice(at));
    node.replaceWith(parts);
  }
}

const cache = new Map<string, string>();
function renderCached(source: string): string {
  let html = cache.get(source);
  if (html === undefined) {
    html = renderMarkdown(source);
    if (cache.size > 2000) cache.delete(cache.keys().next().value!);
    cache.set(source, html);
  }
  return html;
}

function renderBlocks(root: HTMLElement, source: string, rendered: string[]): void {
  const blocks = splitBlocks(source);
  // A previous full render leaves plain children; start over in block mode.
  if (rendered.length === 0) root.textContent = "";
  for (const [index, block] of blocks.entries()) {
    if (rendered[index] === block) continue;
    let element = root.children[index] as HTMLElement | undefined;
    if (!element) {
      element = document.createElement("div");
      element.className = "block";
      root.append(element);
    }
    element.innerHTML = index < blocks.length - 1 ? renderCached(block) : renderMarkdown(block);
    rendered[index] = block;
  }
  while (root.children.length > blocks.length) root.lastElementChild!.remove();
  rendered.length = blocks.length;
}

async function copyCode(event: MouseEvent): Promise<void> {
  const button = (event.target as HTMLElement).closest<HTMLButtonElement>("button.copy-code");
  const code = button?.closest(".code-block")?.querySelector("pre code");
  if (!button || !code) return;
  await navigator.clipboard.writeText((code.textContent ?? "").replace(/\n$/, "")).catch(() => undefined);
  button.textContent = t("copied");
  setTimeout(() => (button.textContent = t("copyCode")), 1500);
}

export function MarkdownView({
  source,
  streaming,
  sources = [],
}: {
  source: string;
  streaming: boolean;
  /** What `[citation:N]` in the text links to. */
  sources?: readonly Source[];
}) {
  const ref = useRef<HTMLDivElement>(null);
  const cited = useRef(sources);
  cited.current = sources;
  const sourcesKey = sources.map((item) => `${item.index}:${item.url ?? item.file ?? ""}`).join("|");
  const blocks = useRef<string[]>([]);
  const frame = useRef(0);
  const converter = chineseConverter.value;

  useLayoutEffect(() => {
    const root = ref.current!;
    wantChineseConversion(source);
    if (streaming) {
      root.dataset.source = source;
      if (frame.current) return; // a frame is already booked; it reads the newest source
      frame.current = requestAnimationFrame(() => {
        frame.current = 0;
        const latest = root.dataset.source ?? "";
        renderBlocks(root, latest, blocks.current);
        linkCitations(root, cited.current);
        // Finished blocks can be highlighted and typeset already; the last one is still growing.
        for (const block of Array.from(root.children).slice(0, -1))
          void enhance(block as HTMLElement, t("copyCode"));
        if (converter) convertChineseIn(root, converter);
      });
      return;
    }
    cancelAnimationFrame(frame.current);
    frame.current = 0;
    blocks.current = [];
    delete root.dataset.source;
    root.innerHTML = renderCached(source);
    linkCitations(root, cited.current);
    void enhance(root, t("copyCode")).then(() => {
      if (converter) convertChineseIn(root, converter);
    });
  }, [source, streaming, converter, sourcesKey]);

  useEffect(() => () => cancelAnimationFrame(frame.current), []);

  return <div class="markdown" ref={ref} onClick={(event) => void copyCode(event)} />;
}
