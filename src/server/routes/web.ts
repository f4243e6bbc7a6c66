import { existsSync, readFileSync, statSync } from "node:fs";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * Where `vite build` writes the app: dist/web beside the compiled server (dist/server/routes ->
 * dist/web), or, when the server runs from source through tsx, dist/web at the repository root.
 */
const DEFAULT_WEB_DIR = fileURLToPath(
  new URL(import.meta.url.endsWith(".ts") ? "../../../dist/web/" : "../../web/", import.meta.url),
);

/**
 * No inline script, no eval, nothing from another origin. Styles are 'self' only: KaTeX is
 * rendered into the DOM (element.style, which CSP allows), never as HTML with style attributes.
 * Images are same-origin or data: (the renderer drops every other image). pdf.js runs its worker
 * from the same origin.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=()",
};

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".ttf": "font/ttf",
  ".wasm": "application/wasm",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The app's own URLs, answered with index.html so that a reload or a shared link opens the right
 * screen. Listed one by one rather than as a catch-all, so no API route (/v1, /beta, /api, /health,
 * /metrics, /models, /chat, /user, /completions, /embeddings, /anthropic) is ever shadowed and an
 * unknown path keeps its JSON 404.
 */
const APP_PATHS = [
  "/",
  "/c/:id",
  "/p/:id",
  "/knowledge",
  "/knowledge/:id",
  "/login",
  "/setup",
  "/settings",
  "/settings/*",
  "/s/:token",
];

const NOT_BUILT =
  "qiusuo: the chat app has not been built.\n\n" +
  "Run `npm run build` (or `npm run build:web`) and restart the server; the API is available meanwhile.\n";

export interface WebRoutesOptions {
  /** The Vite build to serve. Default: dist/web. */
  webDir?: string;
}

/** The largest file of the build served (the biggest bundle is well under 2 MB). */
const MAX_ASSET_BYTES = 16 * 1024 * 1024;
/** Memory kept for hashed assets read once (the whole build is about 5 MB). */
const ASSET_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * The chat app: the Vite build under dist/web, served at `/`. Hashed files under /assets are cached
 * for a year; index.html is revalidated on every load so a new build shows up at once.
 */
export function registerWebRoutes(app: FastifyInstance, options: WebRoutesOptions = {}): void {
  const webDir = resolve(options.webDir ?? DEFAULT_WEB_DIR);
  const indexPath = join(webDir, "index.html");

  const sendIndex = async (request: FastifyRequest, reply: FastifyReply) => {
    void reply.headers(SECURITY_HEADERS).header("cache-control", "no-cache");
    // A shared conversation is for those given the link, not for search engines.
    if (request.routeOptions.url === "/s/:token") void reply.header("x-robots-tag", "noindex, nofollow");
    // Read per request: a rebuild while the server runs is served without a restart.
    if (!existsSync(indexPath)) return reply.type("text/plain; charset=utf-8").send(NOT_BUILT);
    return reply.type(CONTENT_TYPES[".html"]!).send(readFileSync(indexPath));
  };
  for (const path of APP_PATHS) app.get(path, sendIndex);

  /** Hashed assets never change under their names: each is read once and kept, up to a bound. */
  const assetCache = new Map<string, Buffer>();
  let assetCacheBytes = 0;
  const sendFile = (reply: FastifyReply, relativePath: string, immutable: boolean) => {
    const file = resolve(webDir, relativePath);
    // resolve() folds `..`; anything that lands outside the build is simply not there.
    if (!file.startsWith(webDir + sep)) return reply.callNotFound();
    // Read synchronously (the build's files are small and in the page cache): libuv's one pool
    // thread may be busy with a long llama.cpp decode, and a page load must not wait for it.
    let body = immutable ? assetCache.get(file) : undefined;
    if (!body) {
      try {
        const stat = statSync(file);
        if (!stat.isFile() || stat.size > MAX_ASSET_BYTES) return reply.callNotFound();
        body = readFileSync(file);
      } catch {
        return reply.callNotFound();
      }
      if (immutable && assetCacheBytes + body.length <= ASSET_CACHE_BYTES) {
        assetCache.set(file, body);
        assetCacheBytes += body.length;
      }
    }
    return reply
      .headers(SECURITY_HEADERS)
      .header("content-type", CONTENT_TYPES[extname(file)] ?? "application/octet-stream")
      .header("cache-control", immutable ? "public, max-age=31536000, immutable" : "no-cache")
      .send(body);
  };

  app.get("/assets/*", async (request, reply) => {
    const rest = (request.params as { "*": string })["*"];
    return sendFile(reply, join("assets", rest), true);
  });
  app.get("/favicon.svg", async (_request, reply) => sendFile(reply, "favicon.svg", false));
}
