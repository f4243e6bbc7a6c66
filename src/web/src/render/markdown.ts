// Model text -> safe HTML. markdown-it with raw HTML off makes the HTML; DOMPurify then keeps only
// the tags and attributes Markdown produces. Policy (docs in the README of src/web):
// - links: only http, https and mailto; they open in a new tab with rel="noopener noreferrer";
//   any other href (javascript:, data:, relative paths) is dropped and the text stays.
// - images: only inline data: images (png, jpeg, gif, webp) are shown. Every other image is turned
//   into a plain link, so a reply can never make the browser fetch a URL by itself (the classic
//   "Markdown image exfiltration" of prompt-injected data) nor hit this server's own routes.
// - no style attributes (CSP forbids them): table alignment becomes a class.
import DOMPurify from "dompurify";
import MarkdownIt from "markdown-it";
import { mathSyntax } from "./math-syntax.ts";

const SAFE_HREF = /^(?:https?:|mailto:)/i;
const SAFE_IMAGE = /^data:image\/(?:png|jpe?g|gif|webp);base64,[a-z0-9+/=\s]+$/i;

const markdown = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false });
markdown.use(mathSyntax);

markdown.renderer.rules.fence = (tokens, index) => {
  const token = tokens[index]!;
  const language = (token.info.trim().split(/\s+/)[0] ?? "").replace(/[^\w+#.-]/g, "").slice(0, 32);
  const escaped = markdown.utils.escapeHtml(token.content);
  const languageClass = language ? ` class="language-${language}"` : "";
  return (
    `<div class="code-block"><div class="code-head"><span class="code-language">${language || "text"}</span>` +
    `<button type="button" class="copy-code"></button></div>` +
    `<pre><code${languageClass}>${escaped}</code></pre></div>\n`
  );
};

markdown.renderer.rules.image = (tokens, index, options, _env, self) => {
  const token = tokens[index]!;
  const src = String(token.attrGet("src") ?? "");
  const alt = self.renderInlineAsText(token.children ?? [], options, {});
  if (SAFE_IMAGE.test(src))
    return `<img src="${markdown.utils.escapeHtml(src)}" alt="${markdown.utils.escapeHtml(alt)}">`;
  const label = markdown.utils.escapeHtml(alt || src);
  return SAFE_HREF.test(src) ? `<a href="${markdown.utils.escapeHtml(src)}">${label}</a>` : label;
};

// Alignment arrives as style="text-align:..."; turn it into a class before rendering.
markdown.core.ruler.push("align_classes", (state) => {
  for (const token of state.tokens) {
    const style = token.attrGet("style");
    if (!style) continue;
    const match = /text-align:(left|right|center)/.exec(String(style));
    token.attrs = (token.attrs ?? []).filter(([name]) => name !== "style");
    if (match) token.attrJoin("class", `align-${match[1]}`);
  }
});

const ALLOWED_TAGS = [
  "a",
  "blockquote",
  "br",
  "button",
  "code",
  "del",
  "div",
  "em",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "hr",
  "img",
  "li",
  "ol",
  "p",
  "pre",
  "s",
  "span",
  "strong",
  "table",
  "tbody",
  "td",
  "th",
  "thead",
  "tr",
  "ul",
];
const ALLOWED_ATTR = ["href", "src", "alt", "title", "class", "type", "start"];

let hooked = false;
function installHooks(): void {
  if (hooked) return;
  hooked = true;
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      const href = node.getAttribute("href");
      if (href !== null && !SAFE_HREF.test(href.trim())) node.removeAttribute("href");
      if (node.hasAttribute("href")) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer");
      }
    } else if (node.tagName === "IMG") {
      if (!SAFE_IMAGE.test(node.getAttribute("src") ?? "")) node.remove();
    } else if (node.tagName === "BUTTON") {
      node.setAttribute("type", "button");
    }
  });
}

/** Sanitizes HTML to the Markdown subset above. Exported for the highlighter's output too. */
export function sanitize(html: string): string {
  installHooks();
  return DOMPurify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR: [...ALLOWED_ATTR, "target", "rel"],
    ALLOW_DATA_ATTR: false,
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|data:image\/(?:png|jpe?g|gif|webp);base64,)/i,
  });
}

/** Markdown source -> sanitized HTML. */
export function renderMarkdown(source: string): string {
  return sanitize(markdown.render(source));
}

/**
 * Splits Markdown at blank lines outside code fences and math blocks. While a reply streams, every
 * block but the last is final, so only the last one is rendered again on each token.
 */
export function splitBlocks(source: string): string[] {
  const blocks: string[] = [];
  let current: string[] = [];
  let fence: string | null = null;
  let math = false;
  for (const line of source.split("\n")) {
    const trimmed = line.trimStart();
    const indent = line.length - trimmed.length;
    if (indent < 4) {
      const marker = /^(`{3,}|~{3,})/.exec(trimmed)?.[1];
      if (fence === null && marker) fence = marker;
      else if (
        fence !== null &&
        marker &&
        marker[0] === fence[0] &&
        marker.length >= fence.length &&
        trimmed.trim() === marker
      )
        fence = null;
      else if (
        fence === null &&
        (trimmed.startsWith("$$") || trimmed.startsWith("\\[") || trimmed.startsWith("\\]"))
      ) {
        const single =
          trimmed.length > 2 && (trimmed.trimEnd().endsWith("$$") || trimmed.trimEnd().endsWith("\\]"));
        if (!(single && !math)) math = !math;
      }
    }
    if (line.trim() === "" && fence === null && !math && current.length > 0) {
      blocks.push(current.join("\n"));
      current = [];
      continue;
    }
    current.push(line);
  }
  if (current.length > 0) blocks.push(current.join("\n"));
  return blocks;
}
