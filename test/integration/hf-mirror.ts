// A local stand-in for the Hugging Face file endpoints qiusuo pulls from, for tests in this process
// and for `qiusuo serve` / `qiusuo pull` child processes (point QIUSUO_HF_ENDPOINT at `endpoint`).
//
// It answers as huggingface.co does for an LFS file: the hub's GET or HEAD
// `/{owner}/{repo}/resolve/{revision}/{file}` is a 302 to a CDN on another origin, carrying
// `X-Linked-Size`, `X-Linked-Etag` (the file's SHA-256 in quotes), the hub's own `ETag` (a git blob
// id, not a digest) and `X-Repo-Commit`; the CDN answers 200 or 206 with `Content-Length`,
// `Accept-Ranges: bytes`, `Content-Range` for `Range: bytes=N-` / `bytes=N-M`, 416 past the end, and
// an S3-style `ETag`. Each file has switches for the faults a real download meets.

import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface MirrorFile {
  body: Buffer;
  /** The hub's answer instead of a redirect (401 for a gated repository, 429...). */
  hubStatus?: number;
  /** Sent as X-Linked-Etag: default the body's SHA-256; another digest for a wrong checksum; null for none. */
  linkedEtag?: string | null;
  /** No X-Linked-Size and no Content-Length (a chunked body): the size is unknown until the end. */
  hideSize?: boolean;
  /**
   * The first CDN answer stops after this many body bytes and its socket is destroyed; a list
   * cuts the first answers in turn, and the answers after them are whole.
   */
  dropAfterBytes?: number | readonly number[];
  /** The first CDN response sends this many body bytes and then nothing, keeping the socket open. */
  stallAfterBytes?: number;
  /** The CDN answers every request with the whole file, as a server without Range support does. */
  ignoreRange?: boolean;
  /** The CDN sends at most this many bytes a second (in 16 KiB slices); default as fast as it can. */
  bytesPerSecond?: number;
}

export interface MirrorRequest {
  server: "hub" | "cdn";
  method: string;
  /** The path and query asked for. */
  path: string;
  range: string | undefined;
  authorization: string | undefined;
  /** The CDN's answer status (the hub's too). */
  status: number;
  /** Body bytes the CDN has sent in answer, so far. */
  sentBytes: number;
}

const SLICE_BYTES = 16 * 1024;

export function sha256Of(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export class HuggingFaceMirror {
  /** Files by `owner/repo/path`. */
  readonly files = new Map<string, MirrorFile>();
  readonly requests: MirrorRequest[] = [];
  /** CDN answers (with a body) per file so far. */
  private readonly answers = new Map<string, number>();
  private readonly stalled = new Set<string>();
  private readonly responses = new Set<ServerResponse>();
  private hub: Server | undefined;
  private cdn: Server | undefined;
  /** The hub's origin: QIUSUO_HF_ENDPOINT. */
  endpoint = "";
  private cdnOrigin = "";

  static async start(): Promise<HuggingFaceMirror> {
    const mirror = new HuggingFaceMirror();
    mirror.hub = createServer((request, response) => mirror.serveHub(request, response));
    mirror.cdn = createServer((request, response) => mirror.serveCdn(request, response));
    mirror.endpoint = `http://127.0.0.1:${await listen(mirror.hub)}`;
    mirror.cdnOrigin = `http://127.0.0.1:${await listen(mirror.cdn)}`;
    return mirror;
  }

  async stop(): Promise<void> {
    for (const server of [this.hub, this.cdn]) {
      if (server === undefined) continue;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  /** Serves `file` as `owner/repo/path` and returns its `hf:` reference. */
  serve(key: string, file: MirrorFile): string {
    this.files.set(key, file);
    this.answers.delete(key);
    this.stalled.delete(key);
    return `hf:${key}`;
  }

  reset(): void {
    this.files.clear();
    this.requests.length = 0;
    this.answers.clear();
    this.stalled.clear();
  }

  /** The CDN's answers for `key`, in order. */
  cdnRequests(key?: string): MirrorRequest[] {
    const wanted = key === undefined ? undefined : `/cdn/${encodeURIComponent(key)}?`;
    return this.requests.filter(
      (request) => request.server === "cdn" && (wanted === undefined || request.path.startsWith(wanted)),
    );
  }

  /** Body bytes the CDN sent for `key` over all its answers. */
  sentBytes(key: string): number {
    return this.cdnRequests(key).reduce((sum, request) => sum + request.sentBytes, 0);
  }

  /** Ends every body still being sent (a stalled one), as a server going away does. */
  dropOpenResponses(): void {
    for (const response of this.responses) response.socket?.destroy();
  }

  private log(server: "hub" | "cdn", request: IncomingMessage, status: number): MirrorRequest {
    const entry: MirrorRequest = {
      server,
      method: request.method ?? "GET",
      path: request.url ?? "",
      range: request.headers.range,
      authorization: request.headers.authorization,
      status,
      sentBytes: 0,
    };
    this.requests.push(entry);
    return entry;
  }

  private serveHub(request: IncomingMessage, response: ServerResponse): void {
    const match = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/([^?]+)/.exec(request.url ?? "");
    const key = match === null ? undefined : `${match[1]}/${match[2]}/${decodeURIComponent(match[4] ?? "")}`;
    const file = key === undefined ? undefined : this.files.get(key);
    if (key === undefined || file === undefined) {
      this.log("hub", request, 404);
      response.writeHead(404, { "x-error-code": "EntryNotFound" }).end("Entry not found");
      return;
    }
    if (file.hubStatus !== undefined) {
      this.log("hub", request, file.hubStatus);
      response.writeHead(file.hubStatus, { "x-error-code": "GatedRepo" }).end("Access denied");
      return;
    }
    this.log("hub", request, 302);
    const location = `${this.cdnOrigin}/cdn/${encodeURIComponent(key)}?X-Amz-Signature=abc&X-Amz-Expires=3600`;
    const headers: Record<string, string> = {
      location,
      "x-repo-commit": "0123456789abcdef0123456789abcdef01234567",
      "accept-ranges": "bytes",
      // For an LFS file the hub's own ETag is the pointer's git blob id, not a SHA-256.
      etag: `"${createHash("sha1").update(key).digest("hex")}"`,
      "content-type": "text/plain; charset=utf-8",
    };
    if (file.hideSize !== true) headers["x-linked-size"] = String(file.body.length);
    const linked = file.linkedEtag === undefined ? sha256Of(file.body) : file.linkedEtag;
    if (linked !== null) headers["x-linked-etag"] = `"${linked}"`;
    const text = `Found. Redirecting to ${location}`;
    response.writeHead(302, { ...headers, "content-length": String(Buffer.byteLength(text)) });
    response.end(request.method === "HEAD" ? undefined : text);
  }

  private serveCdn(request: IncomingMessage, response: ServerResponse): void {
    const key = decodeURIComponent((request.url ?? "").replace(/^\/cdn\//, "").replace(/\?.*$/, ""));
    const file = this.files.get(key);
    if (file === undefined) {
      this.log("cdn", request, 404);
      response.writeHead(404).end();
      return;
    }
    const { body } = file;
    const headers: Record<string, string> = {
      "accept-ranges": "bytes",
      "content-type": "application/octet-stream",
      etag: `"${createHash("md5").update(body).digest("hex")}-2"`,
    };
    let start = 0;
    let end = body.length - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? "");
    let status = 200;
    if (range !== null && file.ignoreRange !== true) {
      start = Number(range[1]);
      end = range[2] === "" ? body.length - 1 : Math.min(Number(range[2]), body.length - 1);
      if (start >= body.length || start > end) {
        this.log("cdn", request, 416);
        response.writeHead(416, { ...headers, "content-range": `bytes */${body.length}` }).end();
        return;
      }
      status = 206;
      headers["content-range"] = `bytes ${start}-${end}/${body.length}`;
    }
    const rest = body.subarray(start, end + 1);
    if (file.hideSize !== true) headers["content-length"] = String(rest.length);
    const entry = this.log("cdn", request, status);
    response.writeHead(status, headers);
    if (request.method === "HEAD") {
      response.end();
      return;
    }

    let limit = rest.length;
    let afterLimit: "drop" | "stall" | "end" = "end";
    const answer = this.answers.get(key) ?? 0;
    this.answers.set(key, answer + 1);
    const cut = [file.dropAfterBytes ?? []].flat()[answer];
    if (cut !== undefined) {
      limit = Math.min(limit, cut);
      afterLimit = "drop";
    } else if (file.stallAfterBytes !== undefined && !this.stalled.has(key)) {
      this.stalled.add(key);
      limit = Math.min(limit, file.stallAfterBytes);
      afterLimit = "stall";
    }
    this.responses.add(response);
    response.on("close", () => this.responses.delete(response));
    // The status line and headers go out even when the body is cut before its first byte.
    response.flushHeaders();
    void this.send(response, rest.subarray(0, limit), file.bytesPerSecond, entry).then((sent) => {
      if (!sent) return;
      if (afterLimit === "drop") response.socket?.destroy();
      else if (afterLimit === "end") response.end();
      // "stall": the socket stays open with nothing more on it.
    });
  }

  /** Writes `data` in slices at the file's pace; false when the client went away first. */
  private async send(
    response: ServerResponse,
    data: Buffer,
    bytesPerSecond: number | undefined,
    entry: MirrorRequest,
  ): Promise<boolean> {
    const closed = new Promise<void>((resolve) => response.once("close", resolve));
    for (let offset = 0; offset < data.length; offset += SLICE_BYTES) {
      if (response.destroyed) return false;
      const slice = data.subarray(offset, offset + SLICE_BYTES);
      const flushed = new Promise<void>((resolve) => response.write(slice, () => resolve()));
      entry.sentBytes += slice.length;
      await Promise.race([flushed, closed]);
      if (bytesPerSecond !== undefined) {
        await new Promise((resolve) => setTimeout(resolve, (1000 * slice.length) / bytesPerSecond));
      }
    }
    return !response.destroyed;
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}
