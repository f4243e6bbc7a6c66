// Images in the chat app: the composer offers them only when the chosen model accepts images.
// With the local fixture model (text only) there is no image option and an image file is not
// attached. With a model that accepts images the user picks one, sees a thumbnail chip with a
// remove button, and sends it; the server stores it with the message and the thread shows it.
//
// Until an upstream model that accepts images runs in these tests, the second part marks the
// local model as accepting images in the browser's copy of /api/models: everything past the
// composer is real, and the local engine's refusal (400 model_not_multimodal) proves the image
// reached it. Pointed at an upstream vision model, the same steps see a reply instead.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import type { Page } from "playwright-core";
import { AppClient } from "../integration/harness.js";
import { appUnderTest, dangerousNodes, openPage, assertAccessible } from "./e2e-harness.js";

/** A real 1x1 PNG, so Chromium decodes and shows it. */
const PIXEL_PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

const app = appUnderTest();
let dir: string;
let pngFile: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "qiusuo-e2e-images-"));
  pngFile = join(dir, "pixel.png");
  writeFileSync(pngFile, Buffer.from(PIXEL_PNG, "base64"));
});

/** Marks every model as accepting images in the page's view of /api/models (see above). */
async function asVisionModels(page: Page): Promise<void> {
  await page.route("**/api/models", async (route) => {
    const response = await route.fetch();
    const body = (await response.json()) as { data: Array<Record<string, unknown>> };
    await route.fulfill({
      response,
      json: { ...body, data: body.data.map((model) => ({ ...model, acceptsImages: true })) },
    });
  });
}

test("a text-only model: no image option, and an image file is not attached", async () => {
  const models = await new AppClient(app.server.url).request("GET", "/api/models");
  assert.equal(models.json.data[0].acceptsImages, false);
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  await page.getByLabel("Message", { exact: true }).waitFor();
  await page.locator(".model-picker option", { hasText: "scripted" }).waitFor({ state: "attached" });
  assert.equal(await page.getByRole("button", { name: "Attach images" }).count(), 0);
  assert.equal(await page.locator("[data-testid=image-input]").count(), 0);
  const accept = await page.locator("[data-testid=file-input]").getAttribute("accept");
  assert.ok(accept && !accept.includes("image/"), accept ?? "");
  // Past the picker's filter ("All files"), an image is refused like any other unsupported file.
  await page.locator("[data-testid=file-input]").setInputFiles(pngFile);
  await page.getByText("pixel.png can't be attached").waitFor();
  assert.equal(await page.locator(".composer .file-chip").count(), 0);
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});

test("a model that accepts images: attach, remove, send, stored and shown", async () => {
  const watched = await openPage(app.browser, app.server.url, { setup: asVisionModels });
  const { page } = watched;
  const attachImages = page.getByRole("button", { name: "Attach images" });
  await attachImages.waitFor();
  assert.equal(
    await page.locator("[data-testid=image-input]").getAttribute("accept"),
    "image/png,image/jpeg,image/gif,image/webp",
  );

  await page.locator("[data-testid=image-input]").setInputFiles(pngFile);
  const thumbnail = page.locator(".composer .image-chip img[alt='Attached image: pixel.png']");
  await thumbnail.waitFor();
  assert.match((await thumbnail.getAttribute("src")) ?? "", /^data:image\/png;base64,/);
  await assertAccessible(page, "composer with an image");
  await page.getByRole("button", { name: "Remove image pixel.png" }).click();
  assert.equal(await page.locator(".composer .image-chip").count(), 0);

  await page.locator("[data-testid=image-input]").setInputFiles(pngFile);
  await thumbnail.waitFor();
  await page.getByLabel("Message", { exact: true }).fill("What is in this picture?");
  await page.keyboard.press("Enter");
  // The local model refuses it, naming itself: the image went through the server to the engine.
  await page.getByText("The model 'scripted' does not accept images").waitFor();

  const conversationId = /\/c\/([^/]+)$/.exec(page.url())![1]!;
  const saved = await new AppClient(app.server.url).request("GET", `/api/conversations/${conversationId}`);
  const user = (saved.json.messages as Array<{ role: string; content: string; settings?: any }>).find(
    (message) => message.role === "user",
  )!;
  assert.equal(user.content, "What is in this picture?");
  assert.deepEqual(user.settings, {
    images: [{ url: `data:image/png;base64,${PIXEL_PNG}`, name: "pixel.png" }],
  });

  // The saved message shows its image in the bubble, from the server's copy.
  await page.reload();
  const shown = page.locator(".message.user .message-images img[alt='Attached image: pixel.png']");
  await shown.waitFor();
  assert.equal(await shown.evaluate((image: HTMLImageElement) => image.naturalWidth), 1);
  assert.deepEqual(await dangerousNodes(page), []);
  await assertAccessible(page, "thread with an image");
  // Only the expected refusal failed.
  assert.deepEqual(
    watched.errors.filter((error) => !/^400 POST .*\/messages$/.test(error)),
    [],
  );
  assert.deepEqual(watched.cspViolations, []);
  await watched.context.close();
});

test("a saved image that is not a safe inline image is never shown", async () => {
  const client = new AppClient(app.server.url);
  const created = await client.request("POST", "/api/conversations", {});
  // The server stores only checked data: URLs, so the page's copy of the conversation is altered.
  const conversationId = created.json.id as string;
  const watched = await openPage(app.browser, `${app.server.url}/c/${conversationId}`, {
    setup: async (page) => {
      await page.route(`**/api/conversations/${conversationId}`, async (route) => {
        const response = await route.fetch();
        const body = (await response.json()) as Record<string, unknown>;
        const now = Date.now();
        const message = (id: string, url: string) => ({
          id,
          parentId: null,
          role: "user",
          content: "look",
          reasoning: null,
          model: null,
          usage: null,
          status: "complete",
          createdAt: now,
          settings: { images: [{ url, name: "evil" }] },
        });
        await route.fulfill({
          response,
          json: {
            ...body,
            conversation: { ...(body.conversation as object), currentLeafId: "m1" },
            messages: [message("m1", "https://attacker.example/track.png")],
          },
        });
      });
    },
  });
  const { page } = watched;
  await page.locator(".message.user .bubble", { hasText: "look" }).waitFor();
  assert.equal(await page.locator(".message.user img").count(), 0);
  await watched.context.close();
});
