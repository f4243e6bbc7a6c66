import { ExtractionError } from "./errors.js";

/**
 * A text file's characters: UTF-8 (or UTF-16 with its byte-order mark), else GB 18030, the
 * encoding Chinese text files saved on Windows most often use. A file with NUL bytes, or that
 * neither decodes, is binary whatever its name says.
 */
export function decodeText(bytes: Uint8Array, fileName: string): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder("utf-16le").decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder("utf-16be").decode(bytes.subarray(2));
  if (bytes.includes(0))
    throw new ExtractionError("unreadable_file", `${fileName} holds binary data, not text.`);
  for (const encoding of ["utf-8", "gb18030"]) {
    try {
      // TextDecoder drops a UTF-8 byte-order mark itself.
      return new TextDecoder(encoding, { fatal: true }).decode(bytes);
    } catch {
      // try the next encoding
    }
  }
  throw new ExtractionError("unreadable_file", `${fileName} is not UTF-8 or GB 18030 text.`);
}
