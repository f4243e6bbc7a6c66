/**
 * Bounded HTTP to one upstream: every wait has a timeout and every body a size cap, so a broken
 * or hostile upstream costs one request an error and never a hang or the process's memory.
 * Node's global fetch (undici) with its default keep-alive pool: the `undici` package is not a
 * dependency, and one process-wide pool serves a few replicas well.
 */
import {
  Redactor,
  bodyError,
  errorDetails,
  errorFromStatus,
  headersTimeoutError,
  idleTimeoutError,
  malformedError,
  networkCode,
  networkError,
  redirectError,
  retryAfterSeconds,
  tooLargeError,
  type RequestContext,
  type UpstreamLabel,
} from "./upstream-error.js";
import { ModelUnavailableError, type QiusuoError } from "../../core/errors.js";

export interface UpstreamTimeouts {
  /** From sending the request to the response headers (connecting included). Default 10 000 ms. */
  connectMs: number;
  /** The longest silence between two body chunks once the headers came. Default 120 000 ms. */
  idleMs: number;
}

export interface UpstreamLimits {
  /** The largest JSON response body read whole (models, embeddings, a non-stream reply). Default 32 MiB. */
  jsonBytes: number;
  /** The largest single SSE event. Default 1 MiB. */
  eventBytes: number;
  /** The most bytes of one streamed reply. Default 64 MiB. */
  streamBytes: number;
}

export const DEFAULT_TIMEOUTS: UpstreamTimeouts = { connectMs: 10_000, idleMs: 120_000 };

export const DEFAULT_LIMITS: UpstreamLimits = {
  jsonBytes: 32 * 1024 * 1024,
  eventBytes: 1024 * 1024,
  streamBytes: 64 * 1024 * 1024,
};

/** How much of an error body is read to quote from (the quote itself is shorter still). */
const ERROR_BODY_BYTES = 64 * 1024;

export interface UpstreamHttpOptions {
  label: UpstreamLabel;
  apiKey?: string;
  timeouts: UpstreamTimeouts;
  limits: UpstreamLimits;
}

export interface UpstreamCall extends RequestContext {
  method: "GET" | "POST";
  url: string;
  /** Sent as JSON. */
  body?: unknown;
  signal: AbortSignal;
}

/** The thrown error when the caller's signal aborts; the pool must not fail over on it. */
export function abortedError(): QiusuoError {
  return new ModelUnavailableError("request_aborted", "The request was cancelled.");
}

export class UpstreamHttp {
  readonly label: UpstreamLabel;
  readonly redactor: Redactor;
  private readonly apiKey: string | undefined;
  readonly timeouts: UpstreamTimeouts;
  readonly limits: UpstreamLimits;

  constructor(options: UpstreamHttpOptions) {
    this.label = options.label;
    this.apiKey = options.apiKey;
    this.redactor = new Redactor(options.apiKey);
    this.timeouts = options.timeouts;
    this.limits = options.limits;
  }

  /**
   * Sends the request and waits for a 2xx's headers. A network failure, a redirect, a timeout or
   * a non-2xx answer throws the mapped QiusuoError here, before the caller reads anything.
   */
  async send(call: UpstreamCall): Promise<UpstreamResponse> {
    const started = performance.now();
    try {
      return await this.attempt(call, this.timeouts.connectMs);
    } catch (error) {
      // A pooled keep-alive connection the upstream closed as we reused it fails at once with
      // one of these; that is no news about the upstream, so one fresh connection is tried.
      const remaining = this.timeouts.connectMs - (performance.now() - started);
      if (!(error instanceof StaleConnection) || remaining <= 0) throw unwrap(error);
      return this.attempt(call, remaining).catch((retryError: unknown) => {
        throw unwrap(retryError);
      });
    }
  }

  private async attempt(call: UpstreamCall, connectMs: number): Promise<UpstreamResponse> {
    const exchange = new Exchange(call.signal);
    const headers: Record<string, string> = { accept: "application/json, text/event-stream" };
    if (call.body !== undefined) headers["content-type"] = "application/json";
    if (this.apiKey !== undefined) headers.authorization = `Bearer ${this.apiKey}`;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      exchange.abort();
    }, connectMs);
    let response: Response;
    try {
      response = await fetch(call.url, {
        method: call.method,
        headers,
        ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
        redirect: "manual",
        signal: exchange.controller.signal,
      });
    } catch (error) {
      exchange.close();
      if (call.signal.aborted) throw abortedError();
      if (timedOut) throw headersTimeoutError(this.label, this.timeouts.connectMs);
      const mapped = networkError(this.label, error);
      throw STALE_CODES.has(networkCode(error) ?? "") ? new StaleConnection(mapped) : mapped;
    } finally {
      clearTimeout(timer);
    }
    const upstream = new UpstreamResponse(this, response, exchange);
    if (response.status >= 200 && response.status < 300) return upstream;
    try {
      if (response.status >= 300 && response.status < 400) {
        throw redirectError(this.label, this.redactor, response.status, response.headers.get("location"));
      }
      const text = await upstream.text(ERROR_BODY_BYTES, { truncate: true });
      throw errorFromStatus(
        this.label,
        this.redactor,
        response.status,
        errorDetails(parseOrUndefined(text), text),
        {
          jsonMode: call.jsonMode,
          upstreamModel: call.upstreamModel,
          retryAfterSeconds: retryAfterSeconds(response.headers.get("retry-after")),
        },
      );
    } finally {
      upstream.close();
    }
  }
}

/** Socket errors that a reused keep-alive connection shows when its upstream closed it. */
const STALE_CODES = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"]);

/** A mapped network error that deserves one retry on a fresh connection. */
class StaleConnection extends Error {
  constructor(readonly error: QiusuoError) {
    super(error.message);
  }
}

function unwrap(error: unknown): unknown {
  return error instanceof StaleConnection ? error.error : error;
}

/** One request's abort wiring: the caller's signal and our timers both end the connection. */
class Exchange {
  readonly controller = new AbortController();
  private readonly onAbort = () => this.controller.abort();

  constructor(private readonly signal: AbortSignal) {
    if (signal.aborted) this.controller.abort();
    else signal.addEventListener("abort", this.onAbort, { once: true });
  }

  abort(): void {
    this.controller.abort();
  }

  /** Stops listening to the caller's signal, so a long-lived signal does not collect listeners. */
  close(): void {
    this.signal.removeEventListener("abort", this.onAbort);
  }

  get callerAborted(): boolean {
    return this.signal.aborted;
  }
}

/** A 2xx response whose body is read once, in bounded pieces, under the idle timeout. */
export class UpstreamResponse {
  private consumed = false;
  private finished = false;

  constructor(
    private readonly http: UpstreamHttp,
    readonly response: Response,
    private readonly exchange: Exchange,
  ) {}

  get contentType(): string {
    return (this.response.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  }

  get isEventStream(): boolean {
    return this.contentType === "text/event-stream";
  }

  /** Drops the connection unless the body was read to its end (then it goes back to the pool). */
  close(): void {
    if (!this.finished) this.exchange.abort();
    this.exchange.close();
  }

  /** The body's raw chunks; throws on idle timeout, over `maxBytes`, or a broken connection. */
  async *chunks(maxBytes: number, what: string): AsyncGenerator<Uint8Array> {
    if (this.consumed) throw new Error("an upstream body is read once");
    this.consumed = true;
    const body = this.response.body;
    if (body === null) {
      this.finished = true;
      return;
    }
    const reader = body.getReader();
    const { label, timeouts } = this.http;
    let total = 0;
    try {
      for (;;) {
        let idle = false;
        const timer = setTimeout(() => {
          idle = true;
          this.exchange.abort();
        }, timeouts.idleMs);
        let result: Awaited<ReturnType<typeof reader.read>>;
        try {
          result = await reader.read();
        } catch (error) {
          if (this.exchange.callerAborted) throw abortedError();
          if (idle) throw idleTimeoutError(label, timeouts.idleMs);
          throw bodyError(label, error);
        } finally {
          clearTimeout(timer);
        }
        if (result.done) {
          this.finished = true;
          return;
        }
        total += result.value.byteLength;
        if (total > maxBytes) throw tooLargeError(label, what, maxBytes);
        yield result.value;
      }
    } finally {
      this.close();
      reader.releaseLock();
    }
  }

  /** The body as text, at most `maxBytes` (over it: an error, or with `truncate` the first part). */
  async text(maxBytes: number, options: { truncate?: boolean } = {}): Promise<string> {
    const decoder = new TextDecoder();
    let text = "";
    let size = 0;
    try {
      for await (const chunk of this.chunks(
        options.truncate ? Number.POSITIVE_INFINITY : maxBytes,
        "the body",
      )) {
        text += decoder.decode(chunk, { stream: true });
        size += chunk.byteLength;
        if (options.truncate && size >= maxBytes) break;
      }
    } catch (error) {
      // An error body that breaks off is still worth quoting up to where it broke.
      if (!options.truncate || this.exchange.callerAborted) throw error;
    }
    return text + decoder.decode();
  }

  /** The body parsed as JSON, at most `limits.jsonBytes`; a body that does not parse is a 502. */
  async json(): Promise<unknown> {
    const text = await this.text(this.http.limits.jsonBytes);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw malformedError(
        this.http.label,
        `a body that is not JSON (${this.http.redactor.quote(text.slice(0, 200))})`,
      );
    }
  }

  /**
   * The `data:` payloads of a `text/event-stream` body, one string per event (multi-line data
   * joined with "\n"); comments (`: keep-alive`) and other fields are skipped. An event over
   * `limits.eventBytes` or a stream over `limits.streamBytes` throws a 502.
   */
  async *events(): AsyncGenerator<string> {
    const { limits, label } = this.http;
    const parser = new SseParser(limits.eventBytes, () =>
      tooLargeError(label, "one event", limits.eventBytes),
    );
    const decoder = new TextDecoder();
    for await (const chunk of this.chunks(limits.streamBytes, "the stream")) {
      yield* parser.push(decoder.decode(chunk, { stream: true }));
    }
    yield* parser.push(decoder.decode());
    yield* parser.end();
  }
}

/** A minimal `text/event-stream` reader: only `data` matters for OpenAI-style streams. */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private dataLength = 0;

  constructor(
    private readonly maxEventChars: number,
    private readonly tooLarge: () => Error,
  ) {}

  /** Feeds decoded text; returns the events it completed. */
  push(text: string): string[] {
    this.buffer += text;
    const events: string[] = [];
    let start = 0;
    for (;;) {
      const newline = this.nextLineEnd(start);
      if (newline < 0) break;
      const line = this.buffer.slice(start, newline);
      start = newline + (this.buffer[newline] === "\r" && this.buffer[newline + 1] === "\n" ? 2 : 1);
      this.line(line, events);
    }
    this.buffer = this.buffer.slice(start);
    // A line that never ends is an event that never ends.
    if (this.buffer.length + this.dataLength > this.maxEventChars) throw this.tooLarge();
    return events;
  }

  /** At the end of the body: a last event without its blank line still counts. */
  end(): string[] {
    const events: string[] = [];
    const last = this.buffer.endsWith("\r") ? this.buffer.slice(0, -1) : this.buffer;
    if (last.length > 0) this.line(last, events);
    this.buffer = "";
    this.line("", events);
    return events;
  }

  private nextLineEnd(from: number): number {
    for (let index = from; index < this.buffer.length; index++) {
      const char = this.buffer[index];
      if (char === "\n") return index;
      // A lone "\r" ends a line too, but one at the very end may be half of "\r\n".
      if (char === "\r") return index + 1 < this.buffer.length ? index : -1;
    }
    return -1;
  }

  private line(line: string, events: string[]): void {
    if (line === "") {
      if (this.data.length > 0) events.push(this.data.join("\n"));
      this.data = [];
      this.dataLength = 0;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    if (field !== "data") return;
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    this.dataLength += value.length + 1;
    if (this.dataLength > this.maxEventChars) throw this.tooLarge();
    this.data.push(value);
  }
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
