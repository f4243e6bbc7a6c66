import { sectionsAt, type DocumentSection, type ExtractedDocument } from "./document.js";

const ATX_HEADING = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;
const SETEXT_UNDERLINE = /^ {0,3}(=+|-+)[ \t]*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * A Markdown file as it is (its syntax reads well to a model and to keyword search), cut into one
 * section per heading: ATX (`## Title`) and setext (`Title` over `===`), never inside a fenced
 * code block.
 */
export function extractMarkdown(text: string): ExtractedDocument {
  const starts: Array<Omit<DocumentSection, "end" | "text">> = [{ start: 0 }];
  let fence: string | undefined;
  let offset = 0;
  let previous: { start: number; line: string } | undefined;
  for (const line of text.split("\n")) {
    const lineStart = offset;
    offset += line.length + 1;
    const content = line.replace(/\r$/, "");
    const fenceMatch = FENCE.exec(content);
    if (fence) {
      if (fenceMatch && fenceMatch[1]!.startsWith(fence)) fence = undefined;
      previous = undefined;
      continue;
    }
    if (fenceMatch) {
      fence = fenceMatch[1]!;
      previous = undefined;
      continue;
    }
    const atx = ATX_HEADING.exec(content);
    const setext = SETEXT_UNDERLINE.exec(content);
    if (atx) starts.push({ start: lineStart, heading: atx[2]!.trim(), level: atx[1]!.length });
    else if (setext && previous && previous.line.trim() !== "" && !ATX_HEADING.test(previous.line))
      starts.push({
        start: previous.start,
        heading: previous.line.trim(),
        level: setext[1]![0] === "=" ? 1 : 2,
      });
    previous = { start: lineStart, line: content };
  }
  // A heading on the first line replaces the empty opening section.
  const tiled = starts.filter((section, index) => section.start !== starts[index + 1]?.start);
  const sections = sectionsAt(text, tiled);
  const title = sections.find((section) => section.level === 1)?.heading;
  return { kind: "markdown", text, sections, ...(title ? { title } : {}) };
}
