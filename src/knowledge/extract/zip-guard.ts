import { inflateRawSync } from "node:zlib";
import { ExtractionError } from "./errors.js";
import type { ExtractionLimits } from "./limits.js";

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

/** Entries a DOCX's text is read from; media and the rest are never inflated (images are skipped). */
const READ_BY_MAMMOTH = /^(\[Content_Types\]\.xml|_rels\/.*|word\/[^/]*\.xml|word\/_rels\/.*)$/;

/**
 * Checks a zip before anything inflates it: the entries its central directory lists, their
 * declared sizes and compression ratios; then inflates each entry the DOCX reader will read, with
 * its output capped at the declared size, so a zip that lies about its sizes is caught too.
 * Throws `zip_bomb`, `document_too_complex` or `unreadable_file`; returns the entry names.
 */
export function checkZip(bytes: Buffer, limits: ExtractionLimits, fileName: string): string[] {
  const entries = centralDirectory(bytes, limits, fileName);
  let total = 0;
  for (const entry of entries) {
    total += entry.uncompressedSize;
    const ratio = entry.uncompressedSize / Math.max(entry.compressedSize, 1);
    if (entry.uncompressedSize > 1024 * 1024 && ratio > limits.maxZipRatio)
      throw new ExtractionError(
        "zip_bomb",
        `${fileName} looks like a zip bomb: ${entry.name} inflates ${Math.round(ratio)} times ` +
          `(the limit is ${limits.maxZipRatio}).`,
      );
  }
  if (total > limits.maxUnzippedBytes)
    throw new ExtractionError(
      "zip_bomb",
      `${fileName} inflates to ${Math.round(total / 1024 / 1024)} MB; the limit is ` +
        `${Math.round(limits.maxUnzippedBytes / 1024 / 1024)} MB.`,
    );
  for (const entry of entries) if (READ_BY_MAMMOTH.test(entry.name)) verifyEntry(bytes, entry, fileName);
  return entries.map((entry) => entry.name);
}

function unreadable(fileName: string, why: string): ExtractionError {
  return new ExtractionError("unreadable_file", `${fileName} is not a readable DOCX file: ${why}.`);
}

/** The central directory's entries, read from the end-of-central-directory record. */
function centralDirectory(bytes: Buffer, limits: ExtractionLimits, fileName: string): ZipEntry[] {
  // The record is 22 bytes plus a comment of up to 65,535.
  const searchFrom = Math.max(0, bytes.length - 22 - 65_535);
  let end = -1;
  for (let at = bytes.length - 22; at >= searchFrom; at--)
    if (bytes.readUInt32LE(at) === 0x06054b50) {
      end = at;
      break;
    }
  if (end === -1) throw unreadable(fileName, "its zip directory is missing");
  const count = bytes.readUInt16LE(end + 10);
  const size = bytes.readUInt32LE(end + 12);
  let offset = bytes.readUInt32LE(end + 16);
  if (count === 0xffff || offset === 0xffffffff) throw unreadable(fileName, "it is a zip64 archive");
  if (count > limits.maxZipEntries)
    throw new ExtractionError(
      "document_too_complex",
      `${fileName} has ${count} zip entries; the limit is ${limits.maxZipEntries}.`,
    );
  if (offset + size > end) throw unreadable(fileName, "its zip directory is out of bounds");
  const entries: ZipEntry[] = [];
  for (let index = 0; index < count; index++) {
    if (offset + 46 > end || bytes.readUInt32LE(offset) !== 0x02014b50)
      throw unreadable(fileName, "its zip directory is damaged");
    const nameLength = bytes.readUInt16LE(offset + 28);
    entries.push({
      method: bytes.readUInt16LE(offset + 10),
      compressedSize: bytes.readUInt32LE(offset + 20),
      uncompressedSize: bytes.readUInt32LE(offset + 24),
      localHeaderOffset: bytes.readUInt32LE(offset + 42),
      name: bytes.toString("utf8", offset + 46, offset + 46 + nameLength),
    });
    offset += 46 + nameLength + bytes.readUInt16LE(offset + 30) + bytes.readUInt16LE(offset + 32);
  }
  return entries;
}

/** Inflates one entry with its output capped just past its declared size. */
function verifyEntry(bytes: Buffer, entry: ZipEntry, fileName: string): void {
  const header = entry.localHeaderOffset;
  if (header + 30 > bytes.length || bytes.readUInt32LE(header) !== 0x04034b50)
    throw unreadable(fileName, `the entry ${entry.name} is damaged`);
  const dataStart = header + 30 + bytes.readUInt16LE(header + 26) + bytes.readUInt16LE(header + 28);
  const data = bytes.subarray(dataStart, dataStart + entry.compressedSize);
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.uncompressedSize)
      throw unreadable(fileName, `${entry.name} is damaged`);
    return;
  }
  if (entry.method !== 8) throw unreadable(fileName, `${entry.name} uses an unknown compression`);
  let inflated: number;
  try {
    inflated = inflateRawSync(data, { maxOutputLength: Math.max(entry.uncompressedSize, 1) }).length;
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE")
      throw new ExtractionError(
        "zip_bomb",
        `${fileName} looks like a zip bomb: ${entry.name} inflates past the ${entry.uncompressedSize} bytes it declares.`,
      );
    throw unreadable(fileName, `${entry.name} does not inflate`);
  }
  if (inflated !== entry.uncompressedSize) throw unreadable(fileName, `${entry.name} is damaged`);
}
