import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { scryptSync } from "node:crypto";
import { describe, it } from "node:test";
import { hashPassword, verifyPassword } from "../../src/store/password-hash.js";

describe("password hashes", () => {
  it("hash and verify on a worker thread, never on libuv's pool (which llama.cpp decodes on)", async () => {
    const queued: string[] = [];
    const hook = createHook({
      init(_id, type) {
        if (type === "SCRYPTREQUEST") queued.push(type);
      },
    }).enable();
    let stored: string;
    try {
      stored = await hashPassword("correct horse 电池");
      assert.equal(await verifyPassword("correct horse 电池", stored), true);
      assert.equal(await verifyPassword("correct horse", stored), false);
    } finally {
      hook.disable();
    }
    assert.deepEqual(queued, []);

    // The stored form is scrypt's own: the same key from node:crypto directly.
    const [scheme, n, r, p, salt, hash] = stored.split("$");
    assert.equal(scheme, "scrypt");
    const key = scryptSync("correct horse 电池".normalize("NFC"), Buffer.from(salt!, "base64"), 32, {
      N: Number(n),
      r: Number(r),
      p: Number(p),
      maxmem: 256 * Number(n) * Number(r),
    });
    assert.equal(key.toString("base64"), hash);
  });

  it("answers hashes asked for together, each with its own result", async () => {
    const passwords = ["a", "b", "c"];
    const hashes = await Promise.all(passwords.map((password) => hashPassword(password)));
    const checks = await Promise.all(
      passwords.flatMap((password, index) => [
        verifyPassword(password, hashes[index]!),
        verifyPassword(`${password}!`, hashes[index]!),
      ]),
    );
    assert.deepEqual(checks, [true, false, true, false, true, false]);
    assert.equal(await verifyPassword("a", "not$a$hash"), false);
  });
});
