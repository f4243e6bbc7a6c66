// A preload (`node --require ./test/support/egress-guard.cjs`, or in NODE_OPTIONS so that child
// node processes carry it too) that records every attempt of the process to reach anything but this
// machine: TCP and TLS connects (net.Socket#connect is where net.connect, http, https, tls and
// undici's fetch all end up), UDP sends, DNS queries for any name but localhost, and the
// http(s).request / fetch calls above them, with the URL. Each attempt is appended as one JSON line
// to the file named by EGRESS_GUARD_LOG before it proceeds; nothing is blocked, so the process
// behaves as it would anywhere (in a network namespace with no route the attempt then fails with
// ENETUNREACH or EAI_AGAIN). Loopback and unix sockets are not egress and are not recorded.
// CommonJS and --require because Node 20 runs --require preloads in worker threads (each with its
// own `net`) and --import preloads only in the main thread. Used by test/integration/no-egress.test.ts.
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload, see above */
/* global require */
"use strict";
const { appendFileSync } = require("node:fs");
const dgram = require("node:dgram");
const dns = require("node:dns");
const http = require("node:http");
const https = require("node:https");
const { syncBuiltinESMExports } = require("node:module");
const net = require("node:net");
const process = require("node:process");
const tls = require("node:tls");
const { URL } = require("node:url");
const { threadId } = require("node:worker_threads");

const logFile = process.env.EGRESS_GUARD_LOG;

/** True for an address or name that stays on this machine. */
function isLocal(host) {
  if (host === undefined || host === null || host === "") return true; // Node's default: localhost
  const name = String(host)
    .toLowerCase()
    .replace(/^\[|\]$/g, "");
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (net.isIPv4(name)) return name.startsWith("127.") || name === "0.0.0.0";
  if (net.isIPv6(name)) {
    return name === "::1" || name === "::" || /^(0+:){7}0*1$/.test(name) || /^::ffff:127\./.test(name);
  }
  return false;
}

/** Appends one attempt to the log (synchronously, so it is on disk before the attempt goes on). */
function record(api, host, port, extra = {}) {
  const stack = (new Error().stack ?? "")
    .split("\n")
    .slice(3, 9)
    .map((line) => line.trim());
  const entry = { pid: process.pid, thread: threadId, api, host: String(host), port, ...extra, stack };
  const line = `${JSON.stringify(entry)}\n`;
  if (logFile) appendFileSync(logFile, line);
  else process.stderr.write(`egress-guard: ${line}`);
}

/** The destination of Socket#connect's arguments: `(options)`, `(port, host)`, `(path)`, or net.connect's normalized `[options, cb]`. */
function socketDestination(args) {
  let [first, second] = args;
  if (Array.isArray(first)) [first, second] = first;
  if (first !== null && typeof first === "object") {
    if (first.path) return undefined; // a unix socket or named pipe (net ignores a null path)
    return { host: first.host ?? first.hostname, port: first.port };
  }
  if (typeof first === "string" && !/^\d+$/.test(first)) return undefined; // a unix socket path
  return { host: typeof second === "string" ? second : undefined, port: first };
}

const socketConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function connect(...args) {
  const destination = socketDestination(args);
  if (destination && !isLocal(destination.host)) {
    record("net.Socket.connect", destination.host, Number(destination.port));
  }
  return socketConnect.apply(this, args);
};

const tlsConnect = tls.connect;
tls.connect = function connect(...args) {
  const destination = socketDestination(args);
  if (destination && !isLocal(destination.host))
    record("tls.connect", destination.host, Number(destination.port));
  return tlsConnect.apply(this, args);
};

/** Wraps http(s).request/get: `(url[, options][, cb])` or `(options[, cb])`. */
function wrapRequest(module, name, protocol) {
  const original = module[name];
  module[name] = function request(...args) {
    const [first, second] = args;
    let url;
    let options = {};
    if (typeof first === "string" || first instanceof URL) {
      url = new URL(first);
      if (second !== null && typeof second === "object") options = second;
    } else if (first !== null && typeof first === "object") {
      options = first;
    }
    if (!options.socketPath) {
      const host = options.hostname ?? options.host?.replace(/:\d+$/, "") ?? url?.hostname;
      if (!isLocal(host)) {
        const port = Number(options.port ?? url?.port ?? "") || (protocol === "https:" ? 443 : 80);
        record(`${protocol.slice(0, -1)}.${name}`, host, port, url ? { url: url.href } : {});
      }
    }
    return original.apply(this, args);
  };
}
wrapRequest(http, "request", "http:");
wrapRequest(http, "get", "http:");
wrapRequest(https, "request", "https:");
wrapRequest(https, "get", "https:");

const originalFetch = globalThis.fetch;
if (typeof originalFetch === "function") {
  globalThis.fetch = function fetch(input, init) {
    let url;
    try {
      url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    } catch {
      url = undefined;
    }
    if (url && !isLocal(url.hostname)) {
      const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
      record("fetch", url.hostname, port, { url: url.href });
    }
    return originalFetch.call(this, input, init);
  };
}

/** Wraps every name-resolving function of `target` (lookup, lookupService, resolve*, reverse). */
function wrapResolvers(target, prefix) {
  for (const name of Object.keys(target)) {
    if (!/^(lookup|lookupService|resolve\w*|reverse)$/.test(name) || typeof target[name] !== "function")
      continue;
    const original = target[name];
    target[name] = function resolve(host, ...rest) {
      if (!isLocal(host)) record(`${prefix}.${name}`, host, undefined);
      return original.call(this, host, ...rest);
    };
  }
}
wrapResolvers(dns, "dns");
wrapResolvers(dns.promises, "dns.promises");
for (const Resolver of [dns.Resolver, dns.promises.Resolver]) {
  for (const name of Object.getOwnPropertyNames(Resolver.prototype)) {
    if (!/^(resolve\w*|reverse)$/.test(name)) continue;
    const original = Resolver.prototype[name];
    Resolver.prototype[name] = function resolve(host, ...rest) {
      if (!isLocal(host)) record(`dns.Resolver.${name}`, host, undefined);
      return original.call(this, host, ...rest);
    };
  }
}

const udpConnect = dgram.Socket.prototype.connect;
dgram.Socket.prototype.connect = function connect(port, address, ...rest) {
  if (!isLocal(typeof address === "string" ? address : undefined)) record("dgram.connect", address, port);
  return udpConnect.call(this, port, address, ...rest);
};
const udpSend = dgram.Socket.prototype.send;
dgram.Socket.prototype.send = function send(...args) {
  // send(msg[, offset, length][, port][, address][, callback]): the address follows the port.
  const portIndex = args.findLastIndex((value, index) => index > 0 && typeof value === "number");
  const address = args[portIndex + 1];
  if (portIndex > 0 && typeof address === "string" && !isLocal(address)) {
    record("dgram.send", address, args[portIndex]);
  }
  return udpSend.apply(this, args);
};

// `import { request } from "node:http"` and the like see the wrappers too.
syncBuiltinESMExports();
