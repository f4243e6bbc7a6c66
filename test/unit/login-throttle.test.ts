import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  LoginThrottle,
  MAX_ADDRESS_FAILURES,
  MAX_FAILURES,
  WINDOW_MS,
} from "../../src/auth/login-throttle.js";

describe("LoginThrottle", () => {
  it("holds a name back at one address after too many failures, until the window has passed", () => {
    const throttle = new LoginThrottle();
    const start = 1_000_000;
    for (let attempt = 0; attempt < MAX_FAILURES - 1; attempt++)
      throttle.recordFailure("eve", "10.0.0.1", start);
    assert.equal(throttle.retryAfterSeconds("eve", "10.0.0.1", start), 0);
    throttle.recordFailure("eve", "10.0.0.1", start + 1000);
    // Held until the oldest failure in the window leaves it.
    assert.equal(throttle.retryAfterSeconds("eve", "10.0.0.1", start + 1000), WINDOW_MS / 1000 - 1);
    assert.equal(
      throttle.retryAfterSeconds("eve", "10.0.0.2", start + 1000),
      0,
      "eve elsewhere is not locked out",
    );
    assert.equal(
      throttle.retryAfterSeconds("frank", "10.0.0.1", start + 1000),
      0,
      "other names are not held",
    );
    assert.equal(throttle.retryAfterSeconds("eve", "10.0.0.1", start + WINDOW_MS + 1000), 0);
  });

  it("holds back an address that guesses many names", () => {
    const throttle = new LoginThrottle();
    for (let attempt = 0; attempt < MAX_ADDRESS_FAILURES; attempt++) {
      throttle.recordFailure(`user${attempt}`, "10.1.1.1", 0);
    }
    assert.ok(throttle.retryAfterSeconds("someone-else", "10.1.1.1", 1) > 0);
    assert.equal(throttle.retryAfterSeconds("someone-else", "10.1.1.2", 1), 0);
  });

  it("forgets a name's failures after a successful login", () => {
    const throttle = new LoginThrottle();
    for (let attempt = 0; attempt < MAX_FAILURES - 1; attempt++)
      throttle.recordFailure("gina", "10.2.0.1", 0);
    throttle.recordSuccess("gina", "10.2.0.1");
    throttle.recordFailure("gina", "10.2.0.1", 1);
    assert.equal(throttle.retryAfterSeconds("gina", "10.2.0.1", 2), 0);
  });
});
