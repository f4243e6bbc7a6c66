/**
 * Slows password guessing: after `MAX_FAILURES` failed logins for one name from one client
 * address, or `MAX_ADDRESS_FAILURES` for any names from one address, within `WINDOW_MS`, further
 * attempts are refused (429) until the window has passed. A name alone is never locked, so
 * nobody can lock a user out from elsewhere; the address limit is high because a reverse proxy
 * makes many users one address. The attempts live in the store, so the limits hold across every
 * instance sharing the database; scrypt already makes each guess cost ~0.1 s of CPU.
 */
import type { LoginAdmission, LoginAttemptRepository, LoginLimits } from "../store/login-attempts.js";

export const MAX_FAILURES = 10;
export const MAX_ADDRESS_FAILURES = 100;
export const WINDOW_MS = 15 * 60_000;

const limits: LoginLimits = { perName: MAX_FAILURES, perAddress: MAX_ADDRESS_FAILURES, windowMs: WINDOW_MS };

export class LoginThrottle {
  constructor(private readonly attempts: LoginAttemptRepository) {}

  /**
   * Admits an attempt to log in as `name` from `address`, or says how many seconds it must wait.
   * An admitted attempt counts as a failure until `succeeded`, so concurrent guesses, on this
   * instance or another, are counted before any of them is checked.
   */
  admit(name: string, address: string, now = Date.now()): Promise<LoginAdmission> {
    return this.attempts.admit(name, address, limits, now);
  }

  /** The attempt logged in: it and the name's earlier failures at `address` stop holding it back. */
  succeeded(attemptId: string, name: string, address: string, now = Date.now()): Promise<void> {
    return this.attempts.succeeded(attemptId, name, address, limits, now);
  }
}
