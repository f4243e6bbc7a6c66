// The login throttle's rules, over its real store (SQLite in a temp dir) with the clock given.
// Two instances on one database, on both engines: test/integration/login-throttle-instances.test.ts.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  LoginThrottle,
  MAX_ADDRESS_FAILURES,
  MAX_FAILURES,
  WINDOW_MS,
} from "../../src/auth/login-throttle.js";
import { openStore, type Store } from "../../src/store/store.js";

describe("LoginThrottle", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "qiusuo-login-throttle-"));
  let store: Store;
  let throttle: LoginThrottle;
  before(async () => {
    store = await openStore({ dataDir });
    throttle = new LoginThrottle(store.loginAttempts);
  });
  after(async () => {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Seconds `name` must wait at `address` (0: admitted, and the attempt counts as a failure). */
  const attempt = async (name: string, address: string, now: number) => {
    const admission = await throttle.admit(name, address, now);
    return admission.admitted ? 0 : admission.retryAfterSeconds;
  };

  it("holds a name back at one address after too many failures, until the window has passed", async () => {
    const start = 1_000_000;
    for (let index = 0; index < MAX_FAILURES - 1; index++)
      assert.equal(await attempt("eve", "10.0.0.1", start), 0);
    assert.equal(await attempt("eve", "10.0.0.1", start + 1000), 0, "the last one allowed");
    // Held until the oldest failure in the window leaves it.
    assert.equal(await attempt("eve", "10.0.0.1", start + 1000), WINDOW_MS / 1000 - 1);
    assert.equal(await attempt("eve", "10.0.0.1", start + WINDOW_MS - 1), 1, "rounded up");
    assert.equal(await attempt("eve", "10.0.0.2", start + 1000), 0, "eve elsewhere is not locked out");
    assert.equal(await attempt("frank", "10.0.0.1", start + 1000), 0, "other names are not held");
    assert.equal(await attempt("eve", "10.0.0.1", start + WINDOW_MS), 0, "the window has passed");
  });

  it("holds back an address that guesses many names", async () => {
    for (let index = 0; index < MAX_ADDRESS_FAILURES; index++) {
      assert.equal(await attempt(`user${index}`, "10.1.1.1", 0), 0);
    }
    assert.ok((await attempt("someone-else", "10.1.1.1", 1)) > 0);
    assert.equal(await attempt("someone-else", "10.1.1.2", 1), 0);
  });

  it("forgets a name's failures after a successful login, but not the address's", async () => {
    for (let index = 0; index < MAX_FAILURES - 1; index++) await attempt("gina", "10.2.0.1", 0);
    const success = await throttle.admit("gina", "10.2.0.1", 1);
    assert.ok(success.admitted);
    await throttle.succeeded(success.attemptId, "gina", "10.2.0.1", 1);
    for (let index = 0; index < MAX_FAILURES - 1; index++)
      assert.equal(await attempt("gina", "10.2.0.1", 2), 0);
    // 18 failures in all still count towards the address's 100: 82 more names, and it is held.
    for (let index = 0; index < MAX_ADDRESS_FAILURES - 2 * (MAX_FAILURES - 1); index++) {
      assert.equal(await attempt(`other${index}`, "10.2.0.1", 3), 0);
    }
    assert.ok((await attempt("hal", "10.2.0.1", 4)) > 0);
  });

  it("counts concurrent attempts one after another", async () => {
    const results = await Promise.all(
      Array.from({ length: 3 * MAX_FAILURES }, () => attempt("ivan", "10.3.0.1", 0)),
    );
    assert.equal(results.filter((wait) => wait === 0).length, MAX_FAILURES);
  });

  it("stores no names, and prunes attempts two windows old", async () => {
    const later = 10 * WINDOW_MS;
    await attempt("my secret typed as a name", "10.4.0.1", later);
    const stored = JSON.stringify(await store.db.selectFrom("login_attempts").selectAll().execute());
    assert.ok(!stored.includes("secret"), stored.slice(0, 200));
    await attempt("late", "10.4.0.2", later + 2 * WINDOW_MS + 1);
    const left = await store.db.selectFrom("login_attempts").select("attempted_at").execute();
    assert.deepEqual(
      left.map((row) => Number(row.attempted_at)),
      [later + 2 * WINDOW_MS + 1],
      "older attempts are gone",
    );
    const addresses = await store.db.selectFrom("login_addresses").select("address").execute();
    assert.deepEqual(
      addresses.map((row) => row.address),
      ["10.4.0.2"],
    );
  });
});
