/**
 * Fetches a URL's readable text for a search answer or a fetch tool, safely: the SSRF guard
 * (address-policy.ts, guarded-request.ts) checks the URL and every address of every redirect hop,
 * and the fetch is bounded in redirects, time (connect, and the whole fetch) and bytes (read as a
 * stream and stopped at the limit, decompressed bytes counted). A page that never ends stops at a
 * limit and gives back what was read, marked `truncated`.
 */
import type { IncomingMessage } from "node:http";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { QIUSUO_VERSION } from "../../core/version.js";
import { ExtractionError } from "../../knowledge/extract/errors.js";
import { ExtractionThread } from "../../knowledge/extract/extract-document.js";
import { DEFAULT_EXTRACTION_LIMITS } from "../../knowledge/extract/limits.js";
import { AddressPolicy, type AllowPrivate } from "./address-policy.js";
import { abortReason, PageFetchError } from "./errors.js";
import { checkUrl, requestPinned, resolveAllowed, systemResolver, type Resolver } from "./guarded-request.js";

export interface FetchPageOptions {
  /** Private, loopback and link-local addresses the admin allows (see AllowPrivate). Default false. */
  allowPrivate?: AllowPrivate;
  /** Most body bytes read (after decompression); the rest is left unread. Default 2 MiB. */
  maxBytes?: number;
  /** Most time for each TCP/TLS connect. Default 5 s. */
  connectTimeoutMs?: number;
  /** Most time for the whole fetch, redirects and body included. Default 10 s. */
  timeoutMs?: number;
  /** Most redirects followed. Default 5. */
  maxRedirects?: number;
  /** Host name resolution; default node:dns `lookup` (all addresses). Tests pass their own. */
  resolve?: Resolver;
}

/** A fetched page's text. */
export interface FetchedPage {
  /** The URL the text came from, after redirects. */
  url: string;
  title: string;
  text: string;
  byline?: string;
  siteName?: string;
  /** The body was cut at the size or time limit; the text is from the part that was read. */
  truncated: boolean;
}

const DEFAULTS = { maxBytes: 2 * 1024 * 1024, connectTimeoutMs: 5_000, timeoutMs: 10_000, maxRedirects: 5 };
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const HTML_TYPES = new Set(["text/html", "application/xhtml+xml"]);
const TEXT_TYPES = new Set(["text/plain", "text/markdown"]);
const HEADERS = {
  "user-agent": `qiusuo/${QIUSUO_VERSION} (web page fetch for a search answer)`,
  accept: "text/html,application/xhtml+xml,text/plain;q=0.9,text/markdown;q=0.9",
  "accept-encoding": "gzip, deflate, br",
};

/** Fetches `address` and returns its readable text; throws PageFetchError, or the abort reason when `signal` stops it. */
export async function fetchPage(
  address: string,
  options: FetchPageOptions = {},
  signal?: AbortSignal,
): Promise<FetchedPage> {
  const limits = {
    maxBytes: options.maxBytes ?? DEFAULTS.maxBytes,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
    maxRedirects: options.maxRedirects ?? DEFAULTS.maxRedirects,
  };
  const policy = new AddressPolicy(options.allowPrivate ?? false);
  const resolve = options.resolve ?? systemResolver;
  const deadlineAt = Date.now() + limits.timeoutMs;
  const deadline = AbortSignal.timeout(limits.timeoutMs);
  const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
  const stopped = () => {
    if (signal?.aborted) return abortReason(signal);
    return new PageFetchError("timeout", `The page did not arrive within ${limits.timeoutMs / 1000} s.`);
  };

  let url = parseUrl(address);
  for (let hop = 0; ; hop++) {
    checkUrl(url);
    const target = await withSignal(resolveAllowed(url, policy, resolve), combined, stopped);
    let response: IncomingMessage;
    try {
      response = await requestPinned(url, target, {
        headers: HEADERS,
        signal: combined,
        connectTimeoutMs: limits.connectTimeoutMs,
      });
    } catch (error) {
      if (combined.aborted) throw stopped();
      if (error instanceof PageFetchError) throw error;
      throw new PageFetchError("unreachable", `${url.host} could not be reached (${describe(error)}).`, {
        cause: error,
      });
    }
    const status = response.statusCode ?? 0;
    if (REDIRECTS.has(status) && response.headers.location !== undefined) {
      response.destroy();
      if (hop >= limits.maxRedirects) {
        throw new PageFetchError(
          "too_many_redirects",
          `${address} redirected more than ${limits.maxRedirects} times.`,
        );
      }
      url = parseUrl(response.headers.location, url);
      continue;
    }
    if (status < 200 || status >= 300) {
      response.destroy();
      throw new PageFetchError(
        "http_status",
        `${url.host} answered ${status} ${response.statusMessage ?? ""}`.trim() + ".",
      );
    }
    const contentType = response.headers["content-type"] ?? "";
    const mediaType = contentType.split(";")[0]!.trim().toLowerCase();
    if (!HTML_TYPES.has(mediaType) && !TEXT_TYPES.has(mediaType)) {
      response.destroy();
      throw new PageFetchError(
        "unsupported_type",
        `${url.href} is ${mediaType || "of no stated type"}; only HTML and plain-text pages are read.`,
      );
    }
    const body = await readBody(response, limits.maxBytes, combined, signal, stopped);
    const html = HTML_TYPES.has(mediaType);
    const text = decodeText(body.bytes, contentType, html);
    const page = html
      ? await readablePage(text, url.host, deadlineAt - Date.now(), signal)
      : { title: "", text: text.trim() };
    return { url: url.href, ...page, truncated: body.truncated };
  }
}

/**
 * Pages are read on a worker thread of their own (the knowledge extractor's, with Readability over
 * linkedom): a 1 MiB page holds the parser most of a second, which must not stall the server, and
 * a search turn must not queue behind a knowledge base's 2,000-page PDF on the other one.
 */
const pageThread = new ExtractionThread();

/** A page's readable article as text, read on the page worker within the fetch's remaining time. */
export async function readablePage(
  html: string,
  host: string,
  timeLeftMs: number,
  signal?: AbortSignal,
): Promise<Pick<FetchedPage, "title" | "text" | "byline" | "siteName">> {
  try {
    const document = await pageThread.run(
      {
        bytes: new TextEncoder().encode(html.replaceAll("\0", "")),
        kind: "web-page",
        fileName: host,
        limits: { ...DEFAULT_EXTRACTION_LIMITS, timeoutMs: Math.max(1_000, timeLeftMs) },
      },
      signal,
    );
    return {
      title: document.title ?? "",
      text: document.text,
      ...(document.byline === undefined ? {} : { byline: document.byline }),
      ...(document.siteName === undefined ? {} : { siteName: document.siteName }),
    };
  } catch (error) {
    if (!(error instanceof ExtractionError)) throw error;
    if (error.code === "no_text") return { title: "", text: "" };
    const reason = error.code === "extraction_timeout" ? "timeout" : "unsupported_type";
    throw new PageFetchError(reason, `The page at ${host} could not be read: ${error.message}`, {
      cause: error,
    });
  }
}

function parseUrl(text: string, base?: URL): URL {
  try {
    return new URL(text, base);
  } catch {
    throw new PageFetchError("url_not_allowed", `'${text.slice(0, 200)}' is not a URL.`);
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : error instanceof Error ? error.message : String(error);
}

/** `promise`, or `stopped()` as soon as `signal` aborts (DNS lookups take no signal). */
function withSignal<T>(promise: Promise<T>, signal: AbortSignal, stopped: () => unknown): Promise<T> {
  if (signal.aborted) return Promise.reject(stopped());
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(stopped());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * The body, decompressed, up to `maxBytes`. Hitting the byte limit, or the deadline once some of
 * the body is in, ends the read with what arrived (`truncated`); the caller's own stop rethrows.
 */
async function readBody(
  response: IncomingMessage,
  maxBytes: number,
  combined: AbortSignal,
  signal: AbortSignal | undefined,
  stopped: () => unknown,
): Promise<{ bytes: Buffer; truncated: boolean }> {
  const encoding = String(response.headers["content-encoding"] ?? "")
    .trim()
    .toLowerCase();
  const decoder =
    encoding === "gzip" || encoding === "x-gzip"
      ? createGunzip()
      : encoding === "deflate"
        ? createInflate()
        : encoding === "br"
          ? createBrotliDecompress()
          : undefined;
  const stream = decoder ? response.pipe(decoder) : response;
  if (decoder) response.once("error", (error) => decoder.destroy(error));
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const room = maxBytes - size;
      if (chunk.length > room) {
        chunks.push(chunk.subarray(0, room));
        size = maxBytes;
        truncated = true;
        break;
      }
      chunks.push(chunk);
      size += chunk.length;
    }
  } catch (error) {
    if (signal?.aborted) throw abortReason(signal);
    if (size === 0) {
      if (combined.aborted) throw stopped();
      throw new PageFetchError(
        "unreachable",
        `The page broke off before any of it arrived (${describe(error)}).`,
        {
          cause: error,
        },
      );
    }
    truncated = true;
  } finally {
    response.destroy();
    decoder?.destroy();
  }
  return { bytes: Buffer.concat(chunks), truncated };
}

/**
 * The body as text: the charset the header names, else (HTML) the one a `<meta>` in the first
 * 2 KB names, else UTF-8. Chinese sites still serve GBK and Big5; TextDecoder knows them.
 */
function decodeText(bytes: Buffer, contentType: string, html: boolean): string {
  const fromHeader = /charset\s*=\s*"?([\w.:-]+)/i.exec(contentType)?.[1];
  const fromMeta = html
    ? /<meta[^>]+charset\s*=\s*["']?([\w.:-]+)/i.exec(bytes.subarray(0, 2048).toString("latin1"))?.[1]
    : undefined;
  const label = fromHeader ?? fromMeta ?? "utf-8";
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    return new TextDecoder("utf-8").decode(bytes);
  }
}
