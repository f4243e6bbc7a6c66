// Upstreams that misbehave: each is a real little HTTP server on loopback doing one wrong thing,
// and each must end in the right QiusuoError (kind, status class, retryable or not) for that
// request only, without the upstream key in any message.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import type { ChatEvent, ChatRequest } from "../../src/core/chat.js";
import { QiusuoError } from "../../src/core/errors.js";
import { UpstreamClient, type UpstreamClientOptions } from "../../src/engines/remote/upstream-client.js";
import { waitFor } from "./harness.js";
import { freePort } from "./upstream-servers.js";
import { chatRequest as baseChatRequest } from "../support/chat-request.js";

const KEY = "sk-qiusuo-TOP-SECRET-0123456789";

type Handler = (request: IncomingMessage, response: ServerResponse, body: string) => void;

interface BadServer {
  url: string;
  server: Server;
  /** Requests seen: method, path, headers and body. */
  seen: Array<{ method: string; path: string; headers: IncomingMessage["headers"]; body: string }>;
  /** Requests whose connection closed (the client went away or the reply ended). */
  closed: number;
}

const servers: Server[] = [];
after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function badServer(handler: Handler): Promise<BadServer> {
  const state: BadServer = { url: "", server: undefined as unknown as Server, seen: [], closed: 0 };
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      state.seen.push({
        method: request.method ?? "",
        path: request.url ?? "",
        headers: request.headers,
        body,
      });
      response.on("close", () => state.closed++);
      handler(request, response, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  state.server = server;
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

function client(url: string, options: Partial<UpstreamClientOptions> = {}): UpstreamClient {
  return new UpstreamClient({ pool: "edge", baseUrl: url, apiKey: KEY, ...options });
}

function chatRequest(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return baseChatRequest({ model: "edge/m", ...overrides });
}

async function collect(events: AsyncIterable<ChatEvent>): Promise<ChatEvent[]> {
  const out: ChatEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

/** Runs a whole chat (start and read) and returns the error it ends in. */
async function chatError(
  upstream: UpstreamClient,
  request = chatRequest(),
  signal = new AbortController().signal,
) {
  try {
    await collect(await upstream.chat("m", request, signal));
  } catch (error) {
    return checked(error);
  }
  assert.fail("the chat should have failed");
}

/** Every error checked here is a QiusuoError whose text holds no trace of the key. */
function checked(error: unknown): QiusuoError {
  assert.ok(error instanceof QiusuoError, `not a QiusuoError: ${String(error)}`);
  assert.ok(!error.message.includes(KEY), `the key leaked into: ${error.message}`);
  assert.ok(!String(error.stack).includes(KEY), "the key leaked into the stack");
  assert.ok(!JSON.stringify(error).includes(KEY), "the key leaked into the error's fields");
  assert.ok(!error.message.includes("TOP-SECRET"), `part of the key leaked into: ${error.message}`);
  return error;
}

function sse(response: ServerResponse, events: unknown[], end = true): void {
  response.writeHead(200, { "content-type": "text/event-stream" });
  for (const event of events)
    response.write(`data: ${typeof event === "string" ? event : JSON.stringify(event)}\n\n`);
  if (end) response.end();
}

const chunk = (content: string) => ({ choices: [{ index: 0, delta: { content } }] });
const stopChunk = { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] };

describe("bad upstreams", () => {
  it("connection refused: 503-class, retryable, before the chat resolves", async () => {
    const port = await freePort();
    const upstream = client(`http://127.0.0.1:${port}`);
    const error = checked(
      await upstream.chat("m", chatRequest(), new AbortController().signal).catch((e) => e),
    );
    assert.equal(error.kind, "unavailable");
    assert.equal(error.code, "upstream_unreachable");
    assert.ok(error.isRetryable);
    assert.match(error.message, /'edge'/);
    assert.match(error.message, /ECONNREFUSED/);
    const probe = checked(await upstream.probe(new AbortController().signal).catch((e) => e));
    assert.equal(probe.kind, "unavailable");
  });

  it("sends the key as a Bearer header and asks for a stream with usage", async () => {
    const bad = await badServer((_request, response) => sse(response, [chunk("ok"), stopChunk, "[DONE]"]));
    const events = await collect(
      await client(bad.url).chat("m", chatRequest(), new AbortController().signal),
    );
    assert.equal(bad.seen[0]!.path, "/v1/chat/completions");
    assert.equal(bad.seen[0]!.headers.authorization, `Bearer ${KEY}`);
    const body = JSON.parse(bad.seen[0]!.body);
    assert.equal(body.stream, true);
    assert.deepEqual(body.stream_options, { include_usage: true });
    assert.equal(events.at(-1)!.type, "finish");
  });

  it("a connection reset before any answer is tried once more on a fresh connection", async () => {
    let requests = 0;
    const flaky = await badServer((request, response) => {
      if (++requests === 1) request.socket.destroy();
      else sse(response, [chunk("ok"), stopChunk, "[DONE]"]);
    });
    const events = await collect(
      await client(flaky.url).chat("m", chatRequest(), new AbortController().signal),
    );
    assert.equal(events.at(-1)!.type, "finish");
    assert.equal(flaky.seen.length, 2);
    const dead = await badServer((request) => request.socket.destroy());
    const error = checked(
      await client(dead.url)
        .chat("m", chatRequest(), new AbortController().signal)
        .catch((e) => e),
    );
    assert.equal(error.kind, "unavailable");
    assert.equal(dead.seen.length, 2);
  });

  it("a body held open after [DONE] does not hold the reply: the finish comes, the connection goes", async () => {
    const lingering = await badServer((_request, response) =>
      sse(response, [chunk("ok"), stopChunk, "[DONE]"], false),
    );
    const started = Date.now();
    const events = await collect(
      await client(lingering.url).chat("m", chatRequest(), new AbortController().signal),
    );
    assert.equal(events.at(-1)!.type, "finish");
    assert.ok(Date.now() - started < 3_000);
    await waitFor(() => lingering.closed === 1, "the connection was dropped", 2_000);
  });

  it("malformed JSON: 502", async () => {
    const bad = await badServer((_request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end('{"data": [ oops');
    });
    const models = checked(
      await client(bad.url)
        .listModels(new AbortController().signal)
        .catch((e) => e),
    );
    assert.equal(models.kind, "bad_gateway");
    assert.equal(models.code, "upstream_bad_response");
    const chat = checked(
      await client(bad.url)
        .chat("m", chatRequest(), new AbortController().signal)
        .catch((e) => e),
    );
    assert.equal(chat.kind, "bad_gateway");
  });

  it("malformed SSE: 502 from the iterator", async () => {
    const bad = await badServer((_request, response) => sse(response, [chunk("Hel"), "{not json"]));
    const error = await chatError(client(bad.url));
    assert.equal(error.kind, "bad_gateway");
    assert.equal(error.code, "upstream_bad_response");
    assert.match(error.message, /not JSON/);
  });

  it("a body that never ends: the idle timeout ends it with a 504 and drops the connection", async () => {
    const bad = await badServer((_request, response) => sse(response, [chunk("Hel")], false));
    const started = Date.now();
    const error = await chatError(client(bad.url, { timeouts: { idleMs: 300 } }));
    assert.equal(error.kind, "gateway_timeout");
    assert.equal(error.code, "upstream_idle_timeout");
    assert.ok(Date.now() - started < 5_000);
    await waitFor(() => bad.closed === 1, "the upstream saw the connection close");
  });

  it("headers that never come: 504 before the chat resolves", async () => {
    const silent = await badServer(() => {});
    const error = checked(
      await client(silent.url, { timeouts: { connectMs: 300 } })
        .chat("m", chatRequest(), new AbortController().signal)
        .catch((e) => e),
    );
    assert.equal(error.kind, "gateway_timeout");
    assert.ok(error.isRetryable);
  });

  it("a 200 with an error inside: as a JSON body (before resolving) and as an SSE event", async () => {
    const json = await badServer((_request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { message: "engine died", type: "server_error", code: 500 } }));
    });
    const early = checked(
      await client(json.url)
        .chat("m", chatRequest(), new AbortController().signal)
        .catch((e) => e),
    );
    assert.equal(early.kind, "bad_gateway");
    assert.match(early.message, /engine died/);
    const stream = await badServer((_request, response) =>
      sse(response, [chunk("Hel"), { error: { message: "out of memory", code: 503 } }]),
    );
    const late = await chatError(client(stream.url));
    assert.equal(late.kind, "unavailable");
    assert.match(late.message, /out of memory/);
  });

  it("a redirect: 502 naming the target, which is never contacted", async () => {
    const target = await badServer((_request, response) => sse(response, [chunk("x"), stopChunk]));
    const redirecting = await badServer((_request, response) => {
      response.writeHead(302, { location: `${target.url}/v1/chat/completions` });
      response.end();
    });
    const error = checked(
      await client(redirecting.url)
        .chat("m", chatRequest(), new AbortController().signal)
        .catch((e) => e),
    );
    assert.equal(error.kind, "bad_gateway");
    assert.equal(error.code, "upstream_redirect");
    assert.ok(error.message.includes(`${target.url}/v1/chat/completions`));
    assert.match(error.message, /point the pool at the final URL/);
    assert.equal(target.seen.length, 0);
  });

  it("an enormous response: 502 over the JSON cap, the event cap and the stream cap", async () => {
    const huge = await badServer((_request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      const piece = "x".repeat(64 * 1024);
      let sent = 0;
      const more = () => {
        while (sent < 64 && response.write(piece)) sent++;
        if (sent < 64) response.once("drain", more);
        else response.end();
      };
      response.write('{"data":"');
      more();
    });
    const models = checked(
      await client(huge.url, { limits: { jsonBytes: 1024 * 1024 } })
        .listModels(new AbortController().signal)
        .catch((e) => e),
    );
    assert.equal(models.code, "upstream_response_too_large");
    assert.match(models.message, /over 1 MiB/);

    const bigEvent = await badServer((_request, response) =>
      sse(response, [chunk("a".repeat(200 * 1024)), stopChunk]),
    );
    const event = await chatError(client(bigEvent.url, { limits: { eventBytes: 100 * 1024 } }));
    assert.equal(event.code, "upstream_response_too_large");
    assert.match(event.message, /one event/);

    const longStream = await badServer((_request, response) =>
      sse(response, [...Array.from({ length: 100 }, () => chunk("b".repeat(1024))), stopChunk]),
    );
    const stream = await chatError(client(longStream.url, { limits: { streamBytes: 50 * 1024 } }));
    assert.equal(stream.code, "upstream_response_too_large");
    assert.match(stream.message, /the stream/);
  });

  it("a 500: 502, retryable, quoting the upstream", async () => {
    const bad = await badServer((_request, response) => {
      response.writeHead(500, { "content-type": "application/json" });
      response.end(
        JSON.stringify({ error: { code: 500, message: "CUDA error: out of memory", type: "server_error" } }),
      );
    });
    const error = checked(
      await client(bad.url)
        .chat("m", chatRequest(), new AbortController().signal)
        .catch((e) => e),
    );
    assert.equal(error.kind, "bad_gateway");
    assert.ok(error.isRetryable);
    assert.match(error.message, /CUDA error: out of memory/);
  });

  it("a 503 is unavailable and a 429 is a rate limit, both with Retry-After", async () => {
    const busy = await badServer((_request, response) => {
      response.writeHead(503, { "retry-after": "3", "content-type": "application/json" });
      response.end(
        JSON.stringify({ error: { code: 503, message: "Loading model", type: "unavailable_error" } }),
      );
    });
    const unavailable = checked(
      await client(busy.url)
        .probe(new AbortController().signal)
        .catch((e) => e),
    );
    assert.equal(unavailable.kind, "unavailable");
    assert.equal(unavailable.retryAfterSeconds, 3);
    const limited = await badServer((_request, response) => {
      response.writeHead(429, { "retry-after": "7", "content-type": "application/json" });
      response.end(JSON.stringify({ error: { message: "Rate limit reached", type: "rate_limit_exceeded" } }));
    });
    const error = checked(
      await client(limited.url)
        .chat("m", chatRequest(), new AbortController().signal)
        .catch((e) => e),
    );
    assert.equal(error.kind, "rate_limit");
    assert.equal(error.retryAfterSeconds, 7);
    assert.ok(error.isRetryable);
  });

  it("a stream cut mid-reply, by a reset or a clean close: 502, never a short reply", async () => {
    const reset = await badServer((request, response) => {
      sse(response, [chunk("The answer"), chunk(" is")], false);
      setTimeout(() => request.socket.destroy(), 50);
    });
    const events: ChatEvent[] = [];
    let caught: unknown;
    try {
      for await (const event of await client(reset.url).chat(
        "m",
        chatRequest(),
        new AbortController().signal,
      )) {
        events.push(event);
      }
    } catch (error) {
      caught = error;
    }
    const error = checked(caught);
    assert.equal(error.code, "upstream_stream_cut");
    assert.match(error.message, /closed the stream before the reply ended/);
    assert.equal(events.filter((event) => event.type === "text-delta").length, 2);
    assert.equal(
      events.some((event) => event.type === "finish"),
      false,
    );

    const closed = await badServer((_request, response) => sse(response, [chunk("The answer")]));
    assert.equal((await chatError(client(closed.url))).code, "upstream_stream_cut");
  });

  it("an upstream that echoes our headers in its error never gets the key into our message", async () => {
    for (const status of [400, 401, 403, 500]) {
      const echo = await badServer((request, response) => {
        response.writeHead(status, { "content-type": "application/json" });
        response.end(
          JSON.stringify({ error: { message: `bad request, headers: ${JSON.stringify(request.headers)}` } }),
        );
      });
      const error = checked(
        await client(echo.url)
          .chat("m", chatRequest(), new AbortController().signal)
          .catch((e) => e),
      );
      assert.match(error.message, /\[redacted\]/);
      if (status === 401 || status === 403) {
        assert.equal(error.code, "upstream_auth");
        assert.match(error.message, /QIUSUO_UPSTREAM_EDGE_KEY/);
      }
    }
    const plain = await badServer((request, response) => {
      response.writeHead(502, { "content-type": "text/plain" });
      response.end(`upstream proxy error; you sent ${request.headers.authorization}`);
    });
    checked(
      await client(plain.url)
        .chat("m", chatRequest(), new AbortController().signal)
        .catch((e) => e),
    );
  });

  it("refusals on the request's merits are not retried: 400, 404 model, 422 and JSON mode", async () => {
    const refusing = await badServer((_request, response, body) => {
      const request = JSON.parse(body) as { model: string; response_format?: unknown };
      if (request.model === "missing") {
        response.writeHead(404, { "content-type": "application/json" });
        response.end(
          JSON.stringify({ error: { message: "The model `missing` does not exist.", code: 404 } }),
        );
      } else if (request.response_format) {
        response.writeHead(400, { "content-type": "application/json" });
        response.end(
          JSON.stringify({
            error: { message: "response_format json_schema is not supported by this model" },
          }),
        );
      } else {
        response.writeHead(400, { "content-type": "application/json" });
        response.end(
          JSON.stringify({
            error: { message: "This model's maximum context length is 512 tokens", code: 400 },
          }),
        );
      }
    });
    const upstream = client(refusing.url);
    const signal = new AbortController().signal;
    const missing = checked(await upstream.chat("missing", chatRequest(), signal).catch((e) => e));
    assert.equal(missing.code, "model_not_found");
    assert.equal(missing.isRetryable, false);
    const json = checked(
      await upstream
        .chat(
          "m",
          chatRequest({ responseFormat: { type: "json_schema", name: "x", schema: { type: "object" } } }),
          signal,
        )
        .catch((e) => e),
    );
    assert.equal(json.kind, "invalid_parameter");
    assert.equal(json.code, "response_format_unsupported");
    assert.equal(json.param, "response_format");
    assert.match(json.message, /model 'm' cannot produce this response_format/);
    const tooLong = checked(await upstream.chat("m", chatRequest(), signal).catch((e) => e));
    assert.equal(tooLong.code, "context_length_exceeded");
    assert.equal(tooLong.isRetryable, false);
  });

  it("probe falls back to /v1/models where there is no /health", async () => {
    const ollamaLike = await badServer((request, response) => {
      if (request.url === "/v1/models") {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(
          JSON.stringify({ object: "list", data: [{ id: "llama3", owned_by: "library", created: 1 }] }),
        );
      } else {
        response.writeHead(404, { "content-type": "text/plain" });
        response.end("404 page not found");
      }
    });
    await client(`${ollamaLike.url}/v1`).probe(new AbortController().signal);
    assert.deepEqual(
      ollamaLike.seen.map((seen) => seen.path),
      ["/health", "/v1/models"],
    );
  });

  it("aborting mid-stream closes the upstream connection at once and ends the events quietly", async () => {
    const slow = await badServer((_request, response) => sse(response, [chunk("Hel")], false));
    const controller = new AbortController();
    const events = await client(slow.url).chat("m", chatRequest(), controller.signal);
    const iterator = events[Symbol.asyncIterator]();
    assert.deepEqual((await iterator.next()).value, { type: "text-delta", text: "Hel" });
    const pending = iterator.next();
    controller.abort();
    assert.equal((await pending).done, true);
    await waitFor(() => slow.closed === 1, "the upstream saw the connection close", 2_000);

    const aborted = new AbortController();
    aborted.abort();
    const before = checked(
      await client(slow.url)
        .chat("m", chatRequest(), aborted.signal)
        .catch((e) => e),
    );
    assert.equal(before.code, "request_aborted");
  });
});
