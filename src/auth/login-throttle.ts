/**
 * Slows password guessing: after `MAX_FAILURES` failed logins for one name from one client
 * address, or `MAX_ADDRESS_FAILURES` for any names from one address, within `WINDOW_MS`, further
 * attempts are refused (429) until the window has passed. A name alone is never locked, so
 * nobody can lock a user out from elsewhere; the address limit is high because a reverse proxy
 * makes many users one address. Kept in memory, per instance; scrypt already makes each guess
 * cost ~0.1 s of CPU.
 */
export const MAX_FAILURES = 10;
export const MAX_ADDRESS_FAILURES = 100;
export const WINDOW_MS = 15 * 60_000;

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  /** Seconds to wait before `name` may try again from `address`; 0 when it may now. */
  retryAfterSeconds(name: string, address: string, now = Date.now()): number {
    let wait = 0;
    for (const [key, limit] of keys(name, address)) {
      const recent = this.recent(key, now);
      if (recent.length >= limit) wait = Math.max(wait, recent[0]! + WINDOW_MS - now);
    }
    return Math.ceil(wait / 1000);
  }

  recordFailure(name: string, address: string, now = Date.now()): void {
    for (const [key] of keys(name, address)) this.failures.set(key, [...this.recent(key, now), now]);
    // Forget old entries now and then, so the map stays bounded by recent activity.
    if (this.failures.size > 10_000) {
      for (const key of this.failures.keys())
        if (this.recent(key, now).length === 0) this.failures.delete(key);
    }
  }

  recordSuccess(name: string, address: string): void {
    this.failures.delete(keys(name, address)[0][0]);
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((time) => time > now - WINDOW_MS);
  }
}

function keys(name: string, address: string): [[string, number], [string, number]] {
  return [
    [`name:${address}:${name}`, MAX_FAILURES],
    [`address:${address}`, MAX_ADDRESS_FAILURES],
  ];
}
