import { sectionsAt, type ExtractedDocument } from "./document.js";

/** Plain text: one section; the chunker finds its paragraphs and sentences. */
export function extractPlainText(text: string): ExtractedDocument {
  return { kind: "text", text, sections: sectionsAt(text, [{ start: 0 }]) };
}

/** Lines of code a section may hold before a top-level block is cut into windows of this size. */
const WINDOW_LINES = 80;

/**
 * Source code, lines kept as written, one section per top-level block: a block starts at a line
 * with no indent after a blank line (a function, a class, a comment above one), as most languages
 * are laid out. Short blocks run together up to a window; a long one is cut into windows. Each
 * section's heading is its first line, so a citation reads `function parse(...)`, line 120.
 */
export function extractCode(text: string): ExtractedDocument {
  const lines = text.split("\n");
  const lineStarts: number[] = [];
  let offset = 0;
  for (const line of lines) {
    lineStarts.push(offset);
    offset += line.length + 1;
  }
  const blockStarts = [0];
  for (let index = 1; index < lines.length; index++) {
    const line = lines[index]!;
    const topLevel = /^[^\s})\]]/.test(line) && lines[index - 1]!.trim() === "";
    if (topLevel) blockStarts.push(index);
  }
  blockStarts.push(lines.length);
  // Merge short blocks up to a window; cut long ones into windows.
  const sectionLines: number[] = [];
  let current = 0;
  for (let block = 1; block < blockStarts.length; block++) {
    const next = blockStarts[block]!;
    if (next - current > WINDOW_LINES) {
      const blockStart = blockStarts[block - 1]!;
      if (blockStart > current) {
        sectionLines.push(current);
        current = blockStart;
      }
      while (next - current > WINDOW_LINES) {
        sectionLines.push(current);
        current += WINDOW_LINES;
      }
    }
  }
  sectionLines.push(current);
  const starts = sectionLines
    .filter((line, index) => line < lines.length && line !== sectionLines[index + 1])
    .map((line) => {
      const heading = lines
        .slice(line)
        .find((candidate) => candidate.trim() !== "")
        ?.trim();
      return {
        start: lineStarts[line]!,
        line: line + 1,
        ...(heading ? { heading: heading.length > 120 ? `${heading.slice(0, 119)}…` : heading } : {}),
      };
    });
  return { kind: "code", text, sections: sectionsAt(text, starts) };
}
