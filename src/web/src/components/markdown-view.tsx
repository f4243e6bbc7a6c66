// A reply's Markdown. Finished text renders once (and is cached); streaming text re-renders only
// its last block, at most once per animation frame, so long replies stay cheap while they grow.
import { useEffect, useLayoutEffect, useRef } from "preact/hooks";
import { chineseConverter, convertChineseIn, t, wantChineseConversion } from "../i18n/i18n.ts";
import { enhance } from "../render/enhance.ts";
import { renderMarkdown, splitBlocks } from "../render/markdown.ts";

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

export function MarkdownView({ source, streaming }: { source: string; streaming: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
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
    void enhance(root, t("copyCode")).then(() => {
      if (converter) convertChineseIn(root, converter);
    });
  }, [source, streaming, converter]);

  useEffect(() => () => cancelAnimationFrame(frame.current), []);

  return <div class="markdown" ref={ref} onClick={(event) => void copyCode(event)} />;
}
