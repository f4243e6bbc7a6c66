/**
 * scrypt password hashes from node:crypto, stored as `scrypt$N$r$p$salt$hash` (base64) so the
 * cost can rise later without breaking hashes already stored.
 *
 * The hashing runs on a worker thread of its own, not on libuv's thread pool: `qiusuo` gives that
 * pool one thread, which llama.cpp's decodes occupy (src/cli/qiusuo.cts), so a login there would
 * wait behind a prompt's read and then stop every stream for the 0.1-0.3 s of its hash.
 */
import { randomBytes, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { RequestThread } from "../core/job-thread.js";

/** OWASP's minimum for scrypt: N=2^17, r=8, p=1 (about 128 MiB and 0.1-0.3 s per hash). */
const COST = { N: 2 ** 17, r: 8, p: 1 };
const KEY_LENGTH = 32;

// The worker hashes with scryptSync: the thread it blocks is its own.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { scryptSync } = require("node:crypto");
parentPort.on("message", (job) => {
  try {
    const key = scryptSync(job.password, Buffer.from(job.salt), ${KEY_LENGTH}, job.options);
    parentPort.postMessage({ id: job.id, result: key });
  } catch (error) {
    parentPort.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

/** One worker for every hash, started on first use; it never keeps the process alive. */
const hashing = new RequestThread<Uint8Array>({ source: WORKER_SOURCE, name: "password" });

async function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  // maxmem must cover 128 * N * r bytes, or scrypt refuses the cost.
  const maxmem = 256 * (options.N ?? 0) * (options.r ?? 0);
  const key = await hashing.request({
    password: password.normalize("NFC"),
    salt,
    options: { N: options.N, r: options.r, p: options.p, maxmem },
  });
  return Buffer.from(key);
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, COST);
  return ["scrypt", COST.N, COST.r, COST.p, salt.toString("base64"), key.toString("base64")].join("$");
}

/** Whether `password` matches `stored`; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !n || !r || !p || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, "base64");
  const key = await derive(password, Buffer.from(salt, "base64"), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}
