import type { FastifyReply, FastifyRequest } from "fastify";
import { isLoopbackHost } from "../config/config.js";

/**
 * Whether a browser origin is one an admin allowed (`--allow-origin`): exact, `*` for any, or a
 * pattern with `*` in the host (`chrome-extension://*`, `https://*.example.com`).
 */
export function originMatcher(allowed: readonly string[]): (origin: string) => boolean {
  const patterns = allowed.map((entry) =>
    entry === "*"
      ? /^.*$/
      : new RegExp(
          `^${entry
            .toLowerCase()
            .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
            .replaceAll("*", "[^/]*")}$`,
        ),
  );
  return (origin) => patterns.some((pattern) => pattern.test(origin.toLowerCase()));
}

/**
 * On a loopback address, only requests addressed to a loopback name are served, and browsers may
 * call only from loopback pages and the origins an admin allowed. This stops a web page, or DNS
 * rebinding, from driving the API.
 */
export function hostGuard(boundHost: string, allowedOrigin: (origin: string) => boolean = () => false) {
  const guard = isLoopbackHost(boundHost);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!guard) return;
    const host = request.headers.host;
    const origin = request.headers.origin;
    const hostOk = host !== undefined && isLoopbackHost(hostName(host));
    const originOk =
      origin === undefined || origin === "null"
        ? origin === undefined
        : originIsLoopback(origin) || allowedOrigin(origin);
    if (hostOk && originOk) return;
    await reply.code(403).send({
      error: {
        message: hostOk
          ? `Requests from the web origin '${origin}' are refused: this server only accepts browsers on localhost (an admin can allow an origin with --allow-origin).`
          : `Requests for host '${host ?? ""}' are refused: this server is bound to ${boundHost} and only answers localhost names.`,
        type: "permission_error",
        param: null,
        code: "forbidden_host",
      },
    });
  };
}

function hostName(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  return host.split(":")[0] ?? host;
}

function originIsLoopback(origin: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && isLoopbackHost(url.hostname);
  } catch {
    return false;
  }
}
