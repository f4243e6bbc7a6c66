// Images in chat requests, end to end on the real server: OpenAI `image_url` parts and Anthropic
// `image` blocks are parsed and checked (type, base64, signature, size, count), reach the engine
// as `images` on the user message, and a local model (which reads text only) refuses them with a
// 400 naming the model. The app stores an attached image with its message and sends it the same way.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ChatEvent, ChatRequest } from "../../src/core/chat.js";
import type { Engine, ModelInfo } from "../../src/core/engine.js";
import { IMAGE_LIMITS } from "../../src/protocol/image-limits.js";
import { parseChatCompletion } from "../../src/protocol/deepseek/chat-request.js";
import { AppClient, postJson, startTestServer, type TestServer } from "./harness.js";

const signatures = {
  png: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  jpeg: [0xff, 0xd8, 0xff, 0xe0],
  gif: [...Buffer.from("GIF89a")],
  webp: [...Buffer.from("RIFF"), 0x24, 0, 0, 0, ...Buffer.from("WEBPVP8 ")],
};

/** A small image of `type`: its format's signature and some bytes after it. */
const base64Of = (type: keyof typeof signatures, size = 64) =>
  Buffer.concat([Buffer.from(signatures[type]), Buffer.alloc(size, 7)]).toString("base64");
const dataUrl = (type: keyof typeof signatures, size?: number) =>
  `data:image/${type};base64,${base64Of(type, size)}`;

const imagePart = (url: string) => ({ type: "image_url", image_url: { url } });
const withImages = (...parts: unknown[]) => ({
  model: "scripted",
  messages: [
    { role: "system", content: "Be brief." },
    { role: "user", content: [{ type: "text", text: "What is this?" }, ...parts] },
  ],
});

describe("images in chat requests", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  const chat = (body: unknown) => postJson(`${server.url}/v1/chat/completions`, body);

  describe("the DeepSeek/OpenAI API", () => {
    it("passes image parts of every allowed type to the engine, which refuses them for a local model", async () => {
      for (const stream of [false, true]) {
        const response = await chat({
          ...withImages(
            imagePart(dataUrl("png")),
            { type: "image_url", image_url: { url: dataUrl("jpeg"), detail: "low" } },
            { type: "image_url", image_url: dataUrl("gif") }, // the bare-string form some clients send
            imagePart(dataUrl("webp")),
            imagePart("https://example.com/cat.png"),
          ),
          stream,
        });
        assert.equal(response.status, 400, response.text);
        assert.equal(response.json.error.code, "model_not_multimodal");
        assert.equal(response.json.error.type, "invalid_request_error");
        assert.equal(response.json.error.param, "messages.1.content");
        assert.match(response.json.error.message, /The model 'scripted' does not accept images/);
        assert.match(response.json.error.message, /accepts_images/);
      }
    });

    it("reads text parts as before: joined, and answered", async () => {
      const response = await chat({
        model: "scripted",
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "What is " },
              { type: "text", text: "it?" },
            ],
          },
        ],
      });
      assert.equal(response.status, 200, response.text);
      assert.equal(response.json.choices[0].message.content, "The answer is 42");
    });

    it("keeps the parsed images on the user message, in order, with their detail", async () => {
      const { request } = await parseChatCompletion(
        withImages(
          imagePart(dataUrl("png")),
          { type: "text", text: " And this?" },
          { type: "image_url", image_url: { url: "https://example.com/a.jpg", detail: "high" } },
          { type: "image_url", image_url: "https://example.com/b.webp" },
        ),
      );
      assert.deepEqual(request.messages[1], {
        role: "user",
        content: "What is this? And this?",
        images: [
          { url: dataUrl("png") },
          { url: "https://example.com/a.jpg", detail: "high" },
          { url: "https://example.com/b.webp" },
        ],
      });
    });

    const refused: Array<{ name: string; part: unknown; code: string; param: string }> = [
      {
        name: "an http: URL",
        part: imagePart("http://example.com/a.png"),
        code: "invalid_image_url",
        param: "url",
      },
      { name: "a file: URL", part: imagePart("file:///etc/passwd"), code: "invalid_image_url", param: "url" },
      { name: "a relative URL", part: imagePart("/a.png"), code: "invalid_image_url", param: "url" },
      {
        name: "an SVG data URL",
        part: imagePart(`data:image/svg+xml;base64,${Buffer.from("<svg/>").toString("base64")}`),
        code: "invalid_image_url",
        param: "url",
      },
      {
        name: "a data URL that is not base64",
        part: imagePart(`data:image/png,${base64Of("png")}`),
        code: "invalid_image_url",
        param: "url",
      },
      {
        name: "an http: URL in the bare-string form",
        part: { type: "image_url", image_url: "http://example.com/a.png" },
        code: "invalid_image_url",
        param: "",
      },
      {
        name: "data that is not valid base64",
        part: imagePart(`data:image/png;base64,${base64Of("png")}!!!!`),
        code: "invalid_image",
        param: "url",
      },
      {
        name: "an empty image",
        part: imagePart("data:image/png;base64,"),
        code: "invalid_image",
        param: "url",
      },
      {
        name: "PNG bytes declared as JPEG",
        part: imagePart(`data:image/jpeg;base64,${base64Of("png")}`),
        code: "invalid_image",
        param: "url",
      },
      {
        name: "text declared as a GIF",
        part: imagePart(`data:image/gif;base64,${Buffer.from("hello, world").toString("base64")}`),
        code: "invalid_image",
        param: "url",
      },
    ];
    for (const { name, part, code, param } of refused) {
      it(`refuses ${name} with a 400 naming the part`, async () => {
        const response = await chat(withImages(part));
        assert.equal(response.status, 400, response.text);
        assert.equal(response.json.error.code, code);
        assert.equal(response.json.error.param, `messages.1.content.1.image_url${param ? `.${param}` : ""}`);
      });
    }

    it(`refuses more than ${IMAGE_LIMITS.imagesPerRequest} images in one request`, async () => {
      const half = Array.from({ length: 12 }, () => imagePart(dataUrl("png")));
      const body = withImages(...half);
      body.messages.push({ role: "user", content: [{ type: "text", text: "and" }, ...half] });
      const response = await chat(body);
      assert.equal(response.status, 400, response.text);
      assert.equal(response.json.error.code, "too_many_images");
      // The 21st image: the 9th of the second message (after its text part).
      assert.equal(response.json.error.param, "messages.2.content.9");
    });

    it("refuses an inline image over 20 MiB, counting decoded bytes", async () => {
      // Over the API's body limit too, so the parser is called directly.
      const exact = `data:image/png;base64,${base64Of("png", IMAGE_LIMITS.bytesPerImage - 8)}`;
      await parseChatCompletion(withImages(imagePart(exact)));
      const over = `data:image/png;base64,${base64Of("png", IMAGE_LIMITS.bytesPerImage - 7)}`;
      await assert.rejects(parseChatCompletion(withImages(imagePart(over))), {
        code: "image_too_large",
        param: "messages.1.content.1.image_url.url",
      });
    });

    it("refuses image parts outside user messages", async () => {
      const response = await chat({
        model: "scripted",
        messages: [
          { role: "user", content: "Hi" },
          { role: "assistant", content: [imagePart(dataUrl("png"))] },
        ],
      });
      assert.equal(response.status, 400, response.text);
      assert.equal(response.json.error.param, "messages.1.content");
    });

    it("says in /v1/models that local models do not accept images", async () => {
      const response = await fetch(`${server.url}/v1/models`);
      const models = ((await response.json()) as { data: Array<{ id: string; accepts_images?: boolean }> })
        .data;
      assert.equal(models.find((model) => model.id === "scripted")?.accepts_images, false);
    });
  });

  describe("the Anthropic Messages API", () => {
    const messages = (url: string) => `${server.url}/anthropic/v1/${url}`;
    const withBlocks = (...blocks: unknown[]) => ({
      model: "scripted",
      max_tokens: 16,
      messages: [{ role: "user", content: [{ type: "text", text: "What is this?" }, ...blocks] }],
    });
    const base64Block = (media_type: string, data: string) => ({
      type: "image",
      source: { type: "base64", media_type, data },
    });

    it("passes base64 and URL image blocks to the engine, which refuses them for a local model", async () => {
      for (const route of ["messages", "messages/count_tokens"]) {
        const response = await postJson(
          messages(route),
          withBlocks(base64Block("image/png", base64Of("png")), base64Block("image/webp", base64Of("webp")), {
            type: "image",
            source: { type: "url", url: "https://example.com/cat.jpg" },
          }),
        );
        assert.equal(response.status, 400, response.text);
        assert.equal(response.json.type, "error");
        assert.equal(response.json.error.type, "invalid_request_error");
        assert.match(response.json.error.message, /The model 'scripted' does not accept images/);
      }
    });

    const refused: Array<{ name: string; block: unknown; says: RegExp }> = [
      {
        name: "an http: URL",
        block: { type: "image", source: { type: "url", url: "http://example.com/a.png" } },
        says: /messages\.0\.content\.1\.source\.url/,
      },
      {
        name: "an unsupported media type",
        block: base64Block("image/svg+xml", Buffer.from("<svg/>").toString("base64")),
        says: /messages\.0\.content\.1\.source\.media_type/,
      },
      {
        name: "data that does not match its media type",
        block: base64Block("image/gif", base64Of("jpeg")),
        says: /messages\.0\.content\.1\.source\.data.*not a GIF/,
      },
      {
        name: "data that is not base64",
        block: base64Block("image/png", "%%%%"),
        says: /messages\.0\.content\.1\.source\.data.*not valid base64/,
      },
      {
        name: "a source of an unknown type",
        block: { type: "image", source: { type: "file", file_id: "f" } },
        says: /source\.type/,
      },
    ];
    for (const { name, block, says } of refused) {
      it(`refuses ${name} with a 400 naming the field`, async () => {
        const response = await postJson(messages("messages"), withBlocks(block));
        assert.equal(response.status, 400, response.text);
        assert.equal(response.json.error.type, "invalid_request_error");
        assert.match(response.json.error.message, says);
      });
    }

    it(`refuses more than ${IMAGE_LIMITS.imagesPerRequest} images`, async () => {
      const blocks = Array.from({ length: IMAGE_LIMITS.imagesPerRequest + 1 }, () =>
        base64Block("image/png", base64Of("png")),
      );
      const response = await postJson(messages("messages"), withBlocks(...blocks));
      assert.equal(response.status, 400, response.text);
      assert.match(response.json.error.message, /at most 20 images.*messages\.0\.content\.21/);
    });

    it("refuses image blocks in assistant turns", async () => {
      const response = await postJson(messages("messages"), {
        model: "scripted",
        max_tokens: 16,
        messages: [
          { role: "user", content: "Hi" },
          { role: "assistant", content: [base64Block("image/png", base64Of("png"))] },
        ],
      });
      assert.equal(response.status, 400, response.text);
      assert.match(response.json.error.message, /taken only in a user message's own content/);
    });
  });

  describe("the chat app", () => {
    let client: AppClient;
    before(() => {
      client = new AppClient(server.url);
    });

    async function newConversation() {
      const created = await client.request("POST", "/api/conversations", {});
      assert.equal(created.status, 201, created.text);
      return created.json as { id: string };
    }

    it("stores an attached image with the message and sends it to the engine, which refuses it", async () => {
      const conversation = await newConversation();
      const image = { url: dataUrl("png"), name: "cat.png" };
      const sent = await client.send(conversation.id, {
        parentId: null,
        content: "What is this?",
        images: [image],
      });
      assert.equal(sent.status, 400, JSON.stringify(sent.json));
      assert.equal(sent.json.error.code, "model_not_multimodal");
      const saved = await client.request("GET", `/api/conversations/${conversation.id}`);
      const user = saved.json.messages.find((message: { role: string }) => message.role === "user");
      assert.deepEqual(user.settings, { images: [image] });
    });

    it("takes a message of only an image", async () => {
      const conversation = await newConversation();
      const sent = await client.send(conversation.id, {
        parentId: null,
        content: "",
        images: [{ url: dataUrl("gif") }],
      });
      assert.equal(sent.status, 400);
      assert.equal(sent.json.error.code, "model_not_multimodal");
    });

    const refused: Array<{ name: string; url: string; code: string }> = [
      {
        name: "an https: URL (the app sends images inline)",
        url: "https://example.com/a.png",
        code: "invalid_image_url",
      },
      { name: "a non-image data URL", url: "data:text/html;base64,PGI+aGk8L2I+", code: "invalid_image_url" },
      {
        name: "bytes that are not the declared type",
        url: `data:image/webp;base64,${base64Of("png")}`,
        code: "invalid_image",
      },
    ];
    for (const { name, url, code } of refused) {
      it(`refuses ${name} before storing anything`, async () => {
        const conversation = await newConversation();
        const sent = await client.send(conversation.id, { parentId: null, content: "?", images: [{ url }] });
        assert.equal(sent.status, 400, JSON.stringify(sent.json));
        assert.equal(sent.json.error.code, code);
        assert.equal(sent.json.error.param, "images.0.url");
        const saved = await client.request("GET", `/api/conversations/${conversation.id}`);
        assert.equal(saved.json.messages.length, 0);
      });
    }

    it("reports acceptsImages with the models", async () => {
      const models = await client.request("GET", "/api/models");
      assert.equal(models.json.data[0].acceptsImages, false);
    });
  });
});

/**
 * An engine whose one model accepts images: it records each request and answers "I see". Served
 * beside the local engine, it shows what reaches an engine that takes images.
 */
class SeeingEngine implements Engine {
  readonly requests: ChatRequest[] = [];
  listModels(): ModelInfo[] {
    return [
      { id: "vision/see", created: 0, ownedBy: "test", state: "ready", pool: "vision", acceptsImages: true },
    ];
  }
  async chat(request: ChatRequest): Promise<AsyncIterable<ChatEvent>> {
    this.requests.push(request);
    return (async function* (): AsyncGenerator<ChatEvent> {
      yield { type: "text-delta", text: "I see" };
      yield {
        type: "finish",
        finishReason: "stop",
        usage: { promptTokens: 1, promptCacheHitTokens: 0, completionTokens: 2, reasoningTokens: 0 },
      };
    })();
  }
  async dispose(): Promise<void> {}
}

describe("images reaching a model that accepts them", () => {
  let server: TestServer;
  const seeing = new SeeingEngine();
  before(async () => {
    server = await startTestServer({ upstreams: [{ name: "vision", engine: seeing }] });
  });
  after(() => server.close());
  const lastUser = () =>
    seeing.requests
      .at(-1)!
      .messages.filter((message) => message.role === "user")
      .at(-1);

  it("lists the model with accepts_images: true", async () => {
    const response = await fetch(`${server.url}/v1/models`);
    const models = ((await response.json()) as { data: Array<{ id: string; accepts_images?: boolean }> })
      .data;
    assert.equal(models.find((model) => model.id === "vision/see")?.accepts_images, true);
  });

  it("passes OpenAI image parts on as images, in order", async () => {
    const response = await postJson(`${server.url}/v1/chat/completions`, {
      ...withImages(imagePart(dataUrl("png")), {
        type: "image_url",
        image_url: { url: "https://example.com/a.jpg", detail: "low" },
      }),
      model: "vision/see",
    });
    assert.equal(response.status, 200, response.text);
    assert.equal(response.json.choices[0].message.content, "I see");
    assert.deepEqual(lastUser(), {
      role: "user",
      content: "What is this?",
      images: [{ url: dataUrl("png") }, { url: "https://example.com/a.jpg", detail: "low" }],
    });
  });

  it("passes Anthropic image blocks on as images, base64 as data: URLs", async () => {
    const response = await postJson(`${server.url}/anthropic/v1/messages`, {
      model: "vision/see",
      max_tokens: 16,
      messages: [
        {
          role: "user",
          content: [
            { type: "image", source: { type: "base64", media_type: "image/jpeg", data: base64Of("jpeg") } },
            { type: "text", text: "What is this?" },
            { type: "image", source: { type: "url", url: "https://example.com/b.png" } },
          ],
        },
      ],
    });
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(lastUser(), {
      role: "user",
      content: "What is this?",
      images: [{ url: dataUrl("jpeg") }, { url: "https://example.com/b.png" }],
    });
  });

  it("sends the app's images with their message, the newest 20 of the branch", async () => {
    const client = new AppClient(server.url);
    const created = await client.request("POST", "/api/conversations", { settings: { model: "vision/see" } });
    assert.equal(created.status, 201, created.text);
    const images = (type: keyof typeof signatures, count: number) =>
      Array.from({ length: count }, (_, index) => ({
        url: dataUrl(type, index + 1),
        name: `${type}-${index}`,
      }));
    const first = await client.send(created.json.id, {
      parentId: null,
      content: "One",
      images: images("png", 12),
    });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.deepEqual(lastUser(), {
      role: "user",
      content: "One",
      images: images("png", 12).map(({ url }) => ({ url })),
    });
    const reply = first.events.find((event) => event.event === "done")!.data;
    const second = await client.send(created.json.id, {
      parentId: reply.id,
      content: "Two",
      images: images("gif", 12),
    });
    assert.equal(second.status, 200, JSON.stringify(second.json));
    const users = seeing.requests.at(-1)!.messages.filter((message) => message.role === "user");
    assert.deepEqual(
      users.map((message) => message.role === "user" && message.images?.map(({ url }) => url)),
      [
        images("png", 12)
          .slice(4)
          .map(({ url }) => url),
        images("gif", 12).map(({ url }) => url),
      ],
    );
  });
});
