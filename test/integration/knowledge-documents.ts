/**
 * Small real documents for the knowledge tests and bench, written here byte by byte: a PDF (the
 * few objects a reader needs, with an exact xref table) and a DOCX (a zip of the minimal OOXML
 * parts, built with node:zlib). No dependency writes them.
 */
import { crc32, deflateRawSync, deflateSync } from "node:zlib";

export interface PdfOptions {
  /** Compress content streams with FlateDecode. */
  compress?: boolean;
  /** List the first page this many times in the page tree (a page-count bomb, a few bytes a page). */
  repeatFirstPage?: number;
  /** Extra raw content appended to the first page's stream before compressing (the stream bomb). */
  padFirstPage?: number;
  /** Hex-encode the compressed streams too (filters ASCIIHex then Flate), as a bomb that hides its ratio. */
  hexEncode?: boolean;
  title?: string;
}

const escapePdf = (text: string) => text.replace(/[\\()]/g, (match) => `\\${match}`);

/** A PDF whose pages each show the given lines of ASCII text in Helvetica. */
export function makePdf(pages: readonly (readonly string[])[], options: PdfOptions = {}): Buffer {
  const objects: Buffer[] = [];
  const add = (body: Buffer | string) =>
    objects.push(typeof body === "string" ? Buffer.from(body, "latin1") : body);
  const pageIds = pages.map((_, index) => 4 + index * 2);
  add("<< /Type /Catalog /Pages 2 0 R >>");
  const kids = options.repeatFirstPage ? Array<number>(options.repeatFirstPage).fill(pageIds[0]!) : pageIds;
  add(`<< /Type /Pages /Kids [${kids.map((id) => `${id} 0 R`).join(" ")}] /Count ${kids.length} >>`);
  add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
  pages.forEach((lines, index) => {
    add(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${pageIds[index]! + 1} 0 R >>`,
    );
    let content = `BT /F1 12 Tf 14 TL 72 720 Td ${lines.map((line) => `(${escapePdf(line)}) Tj T*`).join(" ")} ET`;
    if (index === 0 && options.padFirstPage) content += " ".repeat(options.padFirstPage);
    const raw = Buffer.from(content, "latin1");
    const compress = options.compress || options.padFirstPage || options.hexEncode;
    const deflated = compress ? deflateSync(raw, { level: 9 }) : raw;
    const data = options.hexEncode ? Buffer.from(`${deflated.toString("hex")}>`) : deflated;
    const filter = options.hexEncode
      ? " /Filter [/ASCIIHexDecode /FlateDecode]"
      : compress
        ? " /Filter /FlateDecode"
        : "";
    add(
      Buffer.concat([
        Buffer.from(`<< /Length ${data.length}${filter} >>\nstream\n`, "latin1"),
        data,
        Buffer.from("\nendstream", "latin1"),
      ]),
    );
  });
  const info = options.title ? objects.push(Buffer.from(`<< /Title (${escapePdf(options.title)}) >>`)) : 0;
  const parts: Buffer[] = [Buffer.from("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "latin1")];
  let length = parts[0]!.length;
  const offsets: number[] = [];
  objects.forEach((body, index) => {
    offsets.push(length);
    const object = Buffer.concat([Buffer.from(`${index + 1} 0 obj\n`), body, Buffer.from("\nendobj\n")]);
    parts.push(object);
    length += object.length;
  });
  const xref =
    `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n` +
    offsets.map((offset) => `${String(offset).padStart(10, "0")} 00000 n \n`).join("") +
    `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R${info ? ` /Info ${info} 0 R` : ""} >>\nstartxref\n${length}\n%%EOF\n`;
  parts.push(Buffer.from(xref, "latin1"));
  return Buffer.concat(parts);
}

export interface ZipEntryInput {
  name: string;
  data: Buffer | string;
  /** Sizes to write in the headers instead of the true ones (a zip that lies). */
  declaredSize?: number;
}

/** A zip with every entry deflated. */
export function makeZip(entries: readonly ZipEntryInput[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const data = typeof entry.data === "string" ? Buffer.from(entry.data) : entry.data;
    const compressed = deflateRawSync(data);
    const name = Buffer.from(entry.name);
    const size = entry.declaredSize ?? data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, compressed);
    centrals.push(central, name);
    offset += 30 + name.length + compressed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';
const escapeXml = (text: string) =>
  text.replace(/[<>&]/g, (match) => `&${{ "<": "lt", ">": "gt", "&": "amp" }[match]};`);

/** One DOCX paragraph: a heading of a level, or body text. */
export type DocxParagraph = { heading: 1 | 2 | 3; text: string } | { text: string };

/** The OOXML parts of a Word document holding these paragraphs (headings with Word's own styles). */
export function docxParts(paragraphs: readonly DocxParagraph[]): ZipEntryInput[] {
  const body = paragraphs
    .map((paragraph) => {
      const style =
        "heading" in paragraph ? `<w:pPr><w:pStyle w:val="Heading${paragraph.heading}"/></w:pPr>` : "";
      return `<w:p>${style}<w:r><w:t xml:space="preserve">${escapeXml(paragraph.text)}</w:t></w:r></w:p>`;
    })
    .join("");
  const styles = [1, 2, 3]
    .map(
      (level) =>
        `<w:style w:type="paragraph" w:styleId="Heading${level}"><w:name w:val="heading ${level}"/></w:style>`,
    )
    .join("");
  return [
    {
      name: "[Content_Types].xml",
      data:
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
        '<Default Extension="xml" ContentType="application/xml"/>' +
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    },
    {
      name: "word/document.xml",
      data: `<?xml version="1.0" encoding="UTF-8"?><w:document ${W}><w:body>${body}</w:body></w:document>`,
    },
    {
      name: "word/styles.xml",
      data: `<?xml version="1.0" encoding="UTF-8"?><w:styles ${W}>${styles}</w:styles>`,
    },
  ];
}

export function makeDocx(paragraphs: readonly DocxParagraph[]): Buffer {
  return makeZip(docxParts(paragraphs));
}
