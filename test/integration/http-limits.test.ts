// The limits a request meets before any route sees it: the body's size, the time to send it, and
// the size of its head. Each answers in DeepSeek's error envelope, never in Fastify's own shape.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { ConfigError, loadServeConfig } from "../../src/config/config.js";
import type { ChatEvent } from "../../src/core/chat.js";
import { postJson, readSse, startTestServer, type TestServer } from "./harness.js";

const messages = [{ role: "user", content: "Q" }];

interface RawExchange {
  /** Everything the server wrote before it closed the connection. */
  response: string;
  /** Milliseconds from connecting to the server closing the connection. */
  elapsedMs: number;
}

/**
 * Writes `head` to the server, then one byte of `dribble` per `everyMs` until the server closes
 * the connection (or `giveUpMs` passes).
 */
function rawExchange(
  url: string,
  head: string,
  options: { dribble?: string; everyMs?: number; giveUpMs?: number } = {},
): Promise<RawExchange> {
  const { port } = new URL(url);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1");
    let response = "";
    let sent = 0;
    const dribble = options.dribble ?? "";
    const timer = setInterval(() => {
      if (sent < dribble.length && socket.writable) socket.write(dribble[sent++]!);
    }, options.everyMs ?? 1000);
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open; it wrote: ${JSON.stringify(response)}`));
    }, options.giveUpMs ?? 10_000);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (response += chunk));
    socket.on("error", () => {}); // a reset after the answer is the server closing, as it should
    socket.on("close", () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ response, elapsedMs: Date.now() - started });
    });
    socket.write(head);
  });
}

/** The status and the JSON body of a raw HTTP/1.1 response. */
function parseRaw(response: string): { status: number; json: any } {
  const [head, body = ""] = response.split("\r\n\r\n");
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head ?? "")?.[1]), json: JSON.parse(body) };
}

describe("HTTP limits", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ app: { bodyLimit: 4096, requestTimeoutSeconds: 1 } });
  });
  after(() => server.close());

  it("answers a body over the limit with 413 body_too_large", async () => {
    const reply = await postJson(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages: [{ role: "user", content: "x".repeat(8192) }],
    });
    assert.equal(reply.status, 413);
    assert.deepEqual(Object.keys(reply.json.error), ["message", "type", "param", "code"]);
    assert.equal(reply.json.error.type, "invalid_request_error");
    assert.equal(reply.json.error.code, "body_too_large");
    assert.match(reply.json.error.message, /too large/);
  });

  it("answers a body over the limit on the Anthropic routes with Anthropic's 413", async () => {
    const reply = await postJson(`${server.url}/anthropic/v1/messages`, {
      model: "scripted",
      max_tokens: 8,
      messages: [{ role: "user", content: "x".repeat(8192) }],
    });
    assert.equal(reply.status, 413);
    assert.equal(reply.json.type, "error");
    assert.equal(reply.json.error.type, "request_too_large");
  });

  it("still serves a body under the limit", async () => {
    const reply = await postJson(`${server.url}/v1/chat/completions`, { model: "scripted", messages });
    assert.equal(reply.status, 200);
  });

  it("answers a URL over Node's 16 KiB head limit with 431 headers_too_large", async () => {
    const response = await fetch(`${server.url}/v1/models?q=${"a".repeat(17 * 1024)}`);
    assert.equal(response.status, 431);
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(await response.json(), {
      error: {
        message:
          "The request line and headers are over this server's limit of 16384 bytes; send long " +
          "values in the JSON body, not in the URL.",
        type: "invalid_request_error",
        param: null,
        code: "headers_too_large",
      },
    });
  });

  it("answers an id of any length in the path like any unknown id: 404 in our envelope", async () => {
    // Fastify would answer a path parameter over 100 characters itself, with its own 414 body.
    const long = "a".repeat(4000);
    for (const path of [`/v1/responses/${long}`, `/api/shared/${long}`]) {
      const response = await fetch(server.url + path);
      assert.equal(response.status, 404, path.slice(0, 20));
      const body = (await response.json()) as { error: Record<string, unknown> };
      assert.deepEqual(Object.keys(body.error), ["message", "type", "param", "code"]);
    }
  });

  it("answers bytes that are not HTTP with 400 in our envelope", async () => {
    const { response } = await rawExchange(server.url, "NOT-HTTP\r\n\r\n");
    const { status, json } = parseRaw(response);
    assert.equal(status, 400);
    assert.equal(json.error.code, "malformed_request");
  });

  it("answers a client that dribbles its body with 408 once the request timeout passes", async () => {
    const body = JSON.stringify({ model: "scripted", messages });
    const { response, elapsedMs } = await rawExchange(
      server.url,
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
        `content-length: ${body.length}\r\n\r\n`,
      { dribble: body, everyMs: 1000 },
    );
    const { status, json } = parseRaw(response);
    assert.equal(status, 408);
    assert.deepEqual(json, {
      error: {
        message:
          "The request did not arrive in time: this server waits 1 s for a request's headers and body.",
        type: "invalid_request_error",
        param: null,
        code: "request_timeout",
      },
    });
    // 1 s of timeout, checked every 250 ms; far less than the body would take at a byte a second.
    assert.ok(elapsedMs >= 1000 && elapsedMs < 4000, `closed after ${elapsedMs} ms`);
  });

  it("answers a client that dribbles its headers with 408 too", async () => {
    const { response } = await rawExchange(server.url, "GET /health HTTP/1.1\r\n", {
      dribble: "Host: 127.0.0.1\r\nx-slow: yes\r\n\r\n",
      everyMs: 1000,
    });
    assert.equal(parseRaw(response).status, 408);
  });

  it("does not cut a reply that takes longer than the request timeout", async () => {
    // Each event of the engine comes a second late, so the stream lasts well past the 1 s timeout.
    const engine = server.engine;
    const chat = engine.chat.bind(engine);
    engine.chat = async (...args) => {
      const events = await chat(...args);
      return (async function* slowly(): AsyncGenerator<ChatEvent> {
        for await (const event of events) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          yield event;
        }
      })();
    };
    try {
      const started = Date.now();
      const response = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "scripted", messages, stream: true }),
      });
      const events = await readSse(response);
      assert.ok(Date.now() - started > 2000, "the reply took longer than the timeout");
      assert.equal(events.at(-1), "[DONE]");
      const text = events
        .slice(0, -1)
        .map((event) => (event as any).choices[0]?.delta?.content ?? "")
        .join("");
      assert.equal(text, "The answer is 42");
    } finally {
      engine.chat = chat;
    }
  });
});

describe("the request timeout's configuration", () => {
  const env = { HOME: "/nonexistent" };

  it("defaults to 30 s and comes from --request-timeout or QIUSUO_REQUEST_TIMEOUT", () => {
    assert.equal(loadServeConfig({}, env).requestTimeoutSeconds, 30);
    assert.equal(loadServeConfig({}, { ...env, QIUSUO_REQUEST_TIMEOUT: "2.5" }).requestTimeoutSeconds, 2.5);
    const flag = loadServeConfig({ requestTimeout: "5" }, { ...env, QIUSUO_REQUEST_TIMEOUT: "2.5" });
    assert.equal(flag.requestTimeoutSeconds, 5);
  });

  it("names the flag and the variable when the value is wrong", () => {
    assert.throws(
      () => loadServeConfig({ requestTimeout: "0" }, env),
      (error: unknown) =>
        error instanceof ConfigError &&
        /requestTimeoutSeconds \(--request-timeout or QIUSUO_REQUEST_TIMEOUT\)/.test(error.message),
    );
  });
});
