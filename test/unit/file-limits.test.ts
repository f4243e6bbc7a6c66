// The chat app and the server agree on attachments: the web app's limits are the server's own
// numbers (src/protocol/app/file-limits.ts), and the server takes exactly up to them.
import assert from "node:assert/strict";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, it } from "node:test";
import { FILE_LIMITS } from "../../src/protocol/app/file-limits.js";
import { parseNewMessage } from "../../src/protocol/app/requests.js";

const message = (files: Array<{ name: string; text: string }>) => ({ parentId: null, content: "?", files });
const named = (count: number, text = "x") =>
  Array.from({ length: count }, (_, index) => ({ name: `file-${index}.txt`, text }));

describe("attachment limits", () => {
  it("the web app checks the server's numbers", async () => {
    // Imported by path at run time: the web build's `.ts` imports are not the server's tsc setup.
    const webFiles = (await import(pathToFileURL(path.resolve("src/web/src/files.ts")).href)) as {
      MAX_FILES: number;
      MAX_FILE_TEXT_BYTES: number;
    };
    assert.equal(webFiles.MAX_FILES, FILE_LIMITS.files);
    assert.equal(webFiles.MAX_FILE_TEXT_BYTES, FILE_LIMITS.textBytesPerFile);
  });

  it("the server takes as many files as the limit, and refuses one more", () => {
    assert.equal(parseNewMessage(message(named(FILE_LIMITS.files))).files?.length, FILE_LIMITS.files);
    assert.throws(() => parseNewMessage(message(named(FILE_LIMITS.files + 1))), /files/);
  });

  it("the server counts a file's text in UTF-8 bytes, as the web app does", () => {
    const limit = FILE_LIMITS.textBytesPerFile;
    const ascii = "a".repeat(limit);
    assert.equal(parseNewMessage(message([{ name: "a.txt", text: ascii }])).files?.[0]?.text, ascii);
    assert.throws(() => parseNewMessage(message([{ name: "a.txt", text: `${ascii}a` }])), /bytes/);
    // Three bytes a character: a third as many characters fit.
    const han = "求".repeat(Math.floor(limit / 3));
    assert.equal(new TextEncoder().encode(han).length <= limit, true);
    parseNewMessage(message([{ name: "han.txt", text: han }]));
    assert.throws(() => parseNewMessage(message([{ name: "han.txt", text: `${han}求` }])), /bytes/);
  });
});
