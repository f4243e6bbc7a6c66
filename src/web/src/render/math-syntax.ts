// A markdown-it plugin that recognises TeX: $...$ and \(...\) inline, $$...$$ and \[...\] as blocks.
// It only marks the TeX (escaped, as text) in a .math-inline / .math-block element; KaTeX renders
// those elements later, lazily, straight into the DOM (see enhance.ts).
import type { MarkdownIt, StateBlock, StateInline } from "markdown-it";

const INLINE_DELIMITERS: Array<[string, string]> = [
  ["\\(", "\\)"],
  ["$", "$"],
];

function mathInline(state: StateInline, silent: boolean): boolean {
  const source = state.src;
  for (const [open, close] of INLINE_DELIMITERS) {
    if (!source.startsWith(open, state.pos)) continue;
    if (open === "$" && source[state.pos + 1] === "$") return false; // $$ inline: leave it as text
    const start = state.pos + open.length;
    let end = source.indexOf(close, start);
    // `$5 and $6` is money, not math (pandoc's rule): no space inside the $, no digit right after.
    if (open === "$") {
      while (end !== -1 && source[end - 1] === "\\") end = source.indexOf(close, end + 1);
      if (end === -1 || end === start) return false;
      if (/\s/.test(source[start]!) || /\s/.test(source[end - 1]!) || /\d/.test(source[end + 1] ?? ""))
        return false;
    }
    if (end === -1) return false;
    if (!silent) {
      const token = state.push("math_inline", "span", 0);
      token.content = source.slice(start, end);
      token.markup = open;
    }
    state.pos = end + close.length;
    return true;
  }
  return false;
}

const BLOCK_DELIMITERS: Array<[string, string]> = [
  ["$$", "$$"],
  ["\\[", "\\]"],
];

function mathBlock(state: StateBlock, startLine: number, endLine: number, silent: boolean): boolean {
  const lineStart = state.bMarks[startLine]! + state.tShift[startLine]!;
  const firstLine = state.src.slice(lineStart, state.eMarks[startLine]);
  if (state.sCount[startLine]! - state.blkIndent >= 4) return false;
  const delimiters = BLOCK_DELIMITERS.find(([open]) => firstLine.startsWith(open));
  if (!delimiters) return false;
  const [open, close] = delimiters;
  if (silent) return true;

  let content: string;
  let line = startLine;
  const rest = firstLine.slice(open.length);
  const closeOnFirst = rest.trimEnd().endsWith(close) && rest.trim().length >= close.length;
  if (closeOnFirst) {
    content = rest.trimEnd().slice(0, -close.length);
  } else {
    const lines = [rest];
    let closed = false;
    while (++line < endLine) {
      const text = state.src.slice(state.bMarks[line]! + state.tShift[line]!, state.eMarks[line]);
      const at = text.trimEnd().lastIndexOf(close);
      if (at !== -1 && text.trimEnd().endsWith(close)) {
        lines.push(text.slice(0, at));
        closed = true;
        break;
      }
      lines.push(text);
    }
    if (!closed) return false; // an unclosed block (often mid-stream) stays text until it closes
    content = lines.join("\n");
  }
  state.line = line + 1;
  const token = state.push("math_block", "div", 0);
  token.block = true;
  token.content = content.trim();
  token.map = [startLine, state.line];
  token.markup = open;
  return true;
}

export function mathSyntax(md: MarkdownIt): void {
  md.inline.ruler.before("escape", "math_inline", mathInline);
  md.block.ruler.before("fence", "math_block", mathBlock, {
    alt: ["paragraph", "reference", "blockquote", "list"],
  });
  const escape = md.utils.escapeHtml;
  md.renderer.rules.math_inline = (tokens, index) =>
    `<span class="math-inline">${escape(tokens[index]!.content)}</span>`;
  md.renderer.rules.math_block = (tokens, index) =>
    `<div class="math-block">${escape(tokens[index]!.content)}</div>\n`;
}
