// Attaching a PDF: the app reads its text layer with pdf.js in Chromium and sends it with the
// message; the server keeps it in the user message's settings. Files over the limits are refused
// with a message and never attached.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { AppClient } from "../integration/harness.js";
import { appUnderTest, openPage } from "./e2e-harness.js";

const SENTENCE = "Quarterly revenue grew 42 percent";

/**
 * A minimal PDF 1.4: one US Letter page that writes `text` in Helvetica (a standard font, so
 * nothing is embedded). The cross-reference table holds each object's byte offset.
 */
function minimalPdf(text: string): Buffer {
  const escaped = text.replace(/[\\()]/g, (character) => `\\${character}`);
  const content = `BT /F1 24 Tf 72 700 Td (${escaped}) Tj ET`;
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    `<< /Length ${Buffer.byteLength(content, "latin1")} >>\nstream\n${content}\nendstream`,
  ];
  let pdf = "%PDF-1.4\n";
  const offsets: number[] = [];
  for (const [index, body] of objects.entries()) {
    offsets.push(Buffer.byteLength(pdf, "latin1"));
    pdf += `${index + 1} 0 obj\n${body}\nendobj\n`;
  }
  const xref = Buffer.byteLength(pdf, "latin1");
  // Each entry is exactly 20 bytes: 10-digit offset, 5-digit generation, type, space, newline.
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) pdf += `${String(offset).padStart(10, "0")} 00000 n \n`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, "latin1");
}

const app = appUnderTest();
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "qiusuo-e2e-pdf-"));
});

test("a PDF's text layer is read by pdf.js, sent with the message and saved by the server", async () => {
  const file = join(dir, "q3-report.pdf");
  writeFileSync(file, minimalPdf(SENTENCE));
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  await page.locator("input[type=file]").setInputFiles(file);
  // While pdf.js reads, a "Reading q3-report.pdf…" chip stands in; then the file's own chip.
  await page.locator(".composer .file-chip:not(.reading)", { hasText: "q3-report.pdf" }).waitFor();
  assert.equal(await page.locator(".composer .file-chip.reading").count(), 0);
  await page.getByLabel("Message", { exact: true }).fill("What grew?");
  await page.keyboard.press("Enter");
  await page.locator(".message.user .file-chip", { hasText: "q3-report.pdf" }).waitFor();
  await page.locator(".message.assistant[data-status=complete]").waitFor();
  assert.equal(await page.locator(".composer .file-chip").count(), 0, "sending clears the attachments");

  const conversationId = /\/c\/([^/]+)$/.exec(page.url())![1]!;
  const answer = await new AppClient(app.server.url).request("GET", `/api/conversations/${conversationId}`);
  const messages = answer.json.messages as Array<{
    role: string;
    content: string;
    settings?: { files?: Array<{ name: string; text: string }> };
  }>;
  const user = messages.find((message) => message.role === "user")!;
  assert.equal(user.content, "What grew?");
  assert.equal(user.settings?.files?.length, 1);
  assert.equal(user.settings.files[0]!.name, "q3-report.pdf");
  assert.ok(user.settings.files[0]!.text.includes(SENTENCE), user.settings.files[0]!.text);

  // After a reload the chip comes from the saved message.
  await page.reload();
  await page.locator(".message.user .file-chip", { hasText: "q3-report.pdf" }).waitFor();
  assert.deepEqual(watched.errors, []);
  assert.deepEqual(watched.cspViolations, [], "pdf.js and its worker run under the app's CSP");
  await watched.context.close();
});

test("files over the size limits are refused with a clear message and not attached", async () => {
  const bigText = join(dir, "big.txt");
  writeFileSync(bigText, "a".repeat(1.5 * 1024 * 1024));
  // Only the size is looked at: a PDF over 20 MB is refused before pdf.js reads it.
  const bigPdf = join(dir, "scan.pdf");
  writeFileSync(bigPdf, Buffer.concat([minimalPdf(SENTENCE), Buffer.alloc(21 * 1024 * 1024)]));
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  const notice = page.locator(".notice[role=alert]");

  await page.locator("input[type=file]").setInputFiles(bigText);
  await notice.waitFor();
  assert.equal(
    (await notice.locator("span").textContent())?.trim(),
    "big.txt is too large (1.5 MB); the limit is 1.0 MB of text per file.",
  );
  assert.equal(await page.locator(".composer .file-chip").count(), 0);

  await page.locator("input[type=file]").setInputFiles(bigPdf);
  await notice.filter({ hasText: "scan.pdf" }).waitFor();
  assert.equal(
    (await notice.locator("span").textContent())?.trim(),
    "scan.pdf is too large (21.0 MB); PDF files can be at most 20.0 MB.",
  );
  assert.equal(await page.locator(".composer .file-chip").count(), 0);
  assert.equal(await page.getByRole("button", { name: "Send" }).isDisabled(), true);
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});
