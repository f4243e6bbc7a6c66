/**
 * One HTTP(S) GET to a URL the SSRF guard has checked, connected to the very address it checked.
 * The host is resolved here (every address it has), each address is judged by the AddressPolicy,
 * and the socket is pinned to the first one through a `lookup` override: Node never resolves the
 * name a second time, so a rebinding DNS server cannot swap in 127.0.0.1 between check and
 * connect. TLS still verifies the certificate against the host name (SNI and checks use it).
 */
import { lookup as dnsLookup } from "node:dns/promises";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import type { AddressPolicy } from "./address-policy.js";
import { PageFetchError } from "./errors.js";

/** One address a host name resolves to. */
export interface ResolvedAddress {
  address: string;
  /** 4 or 6. */
  family: number;
}

/** Resolves a host name to all its addresses (node:dns `lookup` with `all: true` by default). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** The host as Node's socket APIs want it: no IPv6 brackets, no trailing dot. */
export function bareHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "");
}

/** Refuses what no address check can make safe: other schemes, and user:password@ in the URL. */
export function checkUrl(url: URL): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new PageFetchError(
      "url_not_allowed",
      `Only http and https pages can be fetched, not ${url.protocol}.`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new PageFetchError("url_not_allowed", "URLs with a user name or password are not fetched.");
  }
}

/**
 * The address to connect to for `url`, after the policy has judged every address the host has.
 * `localhost` and `*.localhost` are loopback by definition (RFC 6761) and are not sent to DNS.
 * One refused address refuses the host: a name that mixes public and private records is not
 * fetched at all.
 */
export async function resolveAllowed(
  url: URL,
  policy: AddressPolicy,
  resolve: Resolver,
): Promise<ResolvedAddress> {
  const host = bareHost(url);
  const literal = isIP(host);
  let addresses: ResolvedAddress[];
  if (literal !== 0) addresses = [{ address: host, family: literal }];
  else if (host === "localhost" || host.endsWith(".localhost")) {
    addresses = [
      { address: "127.0.0.1", family: 4 },
      { address: "::1", family: 6 },
    ];
  } else {
    try {
      addresses = await resolve(host);
    } catch (error) {
      throw new PageFetchError("unreachable", `The host ${host} could not be resolved.`, { cause: error });
    }
  }
  if (addresses.length === 0) throw new PageFetchError("unreachable", `The host ${host} has no address.`);
  for (const { address } of addresses) {
    const refusal = policy.refusal(address);
    if (refusal !== undefined) {
      throw new PageFetchError(
        "address_not_allowed",
        `${host} resolves to ${address}, a ${refusal} address; pages on such addresses are not fetched ` +
          "(an admin can allow them).",
      );
    }
  }
  return addresses[0]!;
}

/** A `lookup` that always answers with the address already checked, in both of Node's call shapes. */
function pinnedLookup(target: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
}

export interface PinnedRequestOptions {
  headers: Record<string, string>;
  /** Aborts the request and its response (the caller's deadline and stop, combined). */
  signal: AbortSignal;
  /** How long the TCP (and TLS) connect may take. */
  connectTimeoutMs: number;
}

/** GET `url` on `target`, resolving with the response once its headers are in. */
export function requestPinned(
  url: URL,
  target: ResolvedAddress,
  options: PinnedRequestOptions,
): Promise<IncomingMessage> {
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      {
        protocol: url.protocol,
        hostname: bareHost(url),
        port: url.port === "" ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method: "GET",
        headers: options.headers,
        lookup: pinnedLookup(target),
        // A fresh socket per hop: a pooled keep-alive socket would skip the pinned lookup.
        agent: false,
        signal: options.signal,
      },
      resolve,
    );
    request.once("socket", (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => {
        request.destroy(
          new PageFetchError(
            "timeout",
            `Connecting to ${url.host} took longer than ${options.connectTimeoutMs / 1000} s.`,
          ),
        );
      }, options.connectTimeoutMs);
      socket.once(url.protocol === "https:" ? "secureConnect" : "connect", () => clearTimeout(timer));
      socket.once("close", () => clearTimeout(timer));
    });
    request.on("error", reject);
    request.end();
  });
}
