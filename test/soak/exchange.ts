// One HTTP exchange over node:http, which never throws: it gives back the status, the body (also
// the part read before a failure) and how it ended, so the caller classifies every end the same way.
// node:http rather than fetch: the soak needs its own keep-alive agent, to close every client
// socket before it counts the server's open files.
import http, { type IncomingHttpHeaders } from "node:http";

export interface ExchangeRequest {
  method: "GET" | "POST";
  path: string;
  body?: unknown;
  /** Ends the exchange from our side once the body read so far satisfies it (a client that stops). */
  abortWhen?: (body: string) => boolean;
  /** Ends the exchange from our side after this long, whatever it has read (may be before headers). */
  abortAfterMs?: number;
  timeoutMs: number;
}

export interface Exchange {
  /** Undefined when no response head arrived. */
  status: number | undefined;
  headers: IncomingHttpHeaders;
  body: string;
  /** How it ended if not with the whole body: our abort, our timeout, or a socket that failed. */
  failure?: { reason: "aborted" | "timeout" | "connection"; message: string };
  ms: number;
}

export function exchange(agent: http.Agent, baseUrl: string, request: ExchangeRequest): Promise<Exchange> {
  const url = new URL(request.path, baseUrl);
  const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
  const started = performance.now();
  return new Promise((resolve) => {
    let status: number | undefined;
    let headers: IncomingHttpHeaders = {};
    let body = "";
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (failure?: Exchange["failure"]) => {
      if (settled) return;
      settled = true;
      timers.forEach(clearTimeout);
      resolve({ status, headers, body, ms: performance.now() - started, ...(failure ? { failure } : {}) });
    };
    const stop = (reason: "aborted" | "timeout", message: string) => {
      finish({ reason, message });
      outgoing.destroy();
    };
    const outgoing = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: request.method,
        path: url.pathname + url.search,
        headers: payload === undefined ? {} : { "content-type": "application/json" },
      },
      (response) => {
        status = response.statusCode;
        headers = response.headers;
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          body += chunk;
          if (request.abortWhen?.(body)) stop("aborted", "the client stopped reading");
        });
        response.on("end", () => finish());
        response.on("error", (error) => finish({ reason: "connection", message: error.message }));
        response.on("close", () => {
          if (!response.complete) finish({ reason: "connection", message: "the response ended early" });
        });
      },
    );
    outgoing.on("error", (error) => finish({ reason: "connection", message: describe(error) }));
    timers.push(setTimeout(() => stop("timeout", `no end after ${request.timeoutMs} ms`), request.timeoutMs));
    const abortAfterMs = request.abortAfterMs;
    if (abortAfterMs !== undefined) {
      timers.push(setTimeout(() => stop("aborted", `aborted after ${abortAfterMs} ms`), abortAfterMs));
    }
    outgoing.end(payload);
  });
}

function describe(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
}

/** The `data:` payloads of an SSE body, complete events only (a cut-off last event is dropped). */
export function sseEvents(body: string): Array<{ event: string | undefined; data: string }> {
  const blocks = body.split("\n\n");
  blocks.pop(); // after the last "\n\n": empty, or an event cut off mid-way
  const events: Array<{ event: string | undefined; data: string }> = [];
  for (const block of blocks) {
    const data = /^data: ?(.*)$/m.exec(block)?.[1];
    if (data === undefined) continue; // keep-alive comments
    events.push({ event: /^event: ?(.*)$/m.exec(block)?.[1], data });
  }
  return events;
}

/** JSON.parse that answers undefined instead of throwing. */
export function parseJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
