// The composer offers images only when the model a message goes to accepts them, and checks the
// server's numbers and signatures first; the message view shows only safe inline images.
import assert from "node:assert/strict";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { before, describe, it } from "node:test";
import { IMAGE_LIMITS, sniffImageType } from "../../src/protocol/image-limits.js";

interface Model {
  id: string;
  aliases: string[];
  state: "ready";
  acceptsImages?: boolean;
}
interface WebImages {
  acceptsImages(models: Model[], chosen: string): boolean;
  modelFor(models: Model[], chosen: string): Model | undefined;
  isSafeImageUrl(url: unknown): boolean;
  MAX_IMAGES: number;
  MAX_IMAGE_BYTES: number;
  IMAGE_ACCEPT: string;
}

const model = (id: string, acceptsImages?: boolean, aliases: string[] = []): Model => ({
  id,
  aliases,
  state: "ready",
  ...(acceptsImages === undefined ? {} : { acceptsImages }),
});

describe("images in the web app", () => {
  let web: WebImages;
  before(async () => {
    // Imported by path at run time: the web build's `.ts` imports are not the server's tsc setup.
    web = (await import(pathToFileURL(path.resolve("src/web/src/images.ts")).href)) as WebImages;
  });

  it("offers images only for a model that says it accepts them", () => {
    const models = [model("local-7b", false), model("vision/qwen-vl", true, ["vl"]), model("other")];
    assert.equal(web.acceptsImages(models, "vision/qwen-vl"), true);
    assert.equal(web.acceptsImages(models, "vl"), true, "by alias");
    assert.equal(web.acceptsImages(models, "local-7b"), false);
    assert.equal(web.acceptsImages(models, "other"), false, "unknown means text only");
    assert.equal(web.acceptsImages(models, "gone"), false, "a model no longer listed");
    assert.equal(web.acceptsImages([], ""), false, "models not loaded yet");
  });

  it("judges the default and DeepSeek's names by the first model, the server's default", () => {
    const vision = [model("vision/qwen-vl", true), model("local-7b", false)];
    const local = [model("local-7b", false), model("vision/qwen-vl", true)];
    for (const chosen of ["", "deepseek-chat", "deepseek-reasoner"]) {
      assert.equal(web.acceptsImages(vision, chosen), true, chosen);
      assert.equal(web.acceptsImages(local, chosen), false, chosen);
    }
    // An admin's alias named like DeepSeek's wins over the default.
    assert.equal(
      web.acceptsImages([model("local-7b", false), model("v", true, ["deepseek-chat"])], "deepseek-chat"),
      true,
    );
  });

  it("checks the server's numbers and types", () => {
    assert.equal(web.MAX_IMAGES, IMAGE_LIMITS.imagesPerRequest);
    assert.equal(web.MAX_IMAGE_BYTES, IMAGE_LIMITS.bytesPerImage);
    assert.equal(web.IMAGE_ACCEPT, "image/png,image/jpeg,image/gif,image/webp");
  });

  it("shows only inline images of the allowed types", () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2]).toString("base64");
    assert.equal(web.isSafeImageUrl(`data:image/png;base64,${png}`), true);
    for (const url of [
      "https://example.com/a.png",
      "http://example.com/a.png",
      `data:image/svg+xml;base64,${png}`,
      `data:text/html;base64,${png}`,
      `data:image/png;base64,${png}"><script>`,
      "javascript:alert(1)",
      42,
      undefined,
    ]) {
      assert.equal(web.isSafeImageUrl(url), false, String(url));
    }
  });

  it("types an image by its bytes", () => {
    assert.equal(sniffImageType(Buffer.from([0xff, 0xd8, 0xff, 0xe0])), "image/jpeg");
    assert.equal(sniffImageType(Buffer.from("GIF87a...")), "image/gif");
    assert.equal(sniffImageType(Buffer.from("RIFF\u0000\u0000\u0000\u0000WEBPVP8 ")), "image/webp");
    assert.equal(sniffImageType(Buffer.from("RIFF\u0000\u0000\u0000\u0000WAVE")), undefined);
    assert.equal(sniffImageType(Buffer.from("<svg")), undefined);
    assert.equal(sniffImageType(new Uint8Array()), undefined);
  });
});
