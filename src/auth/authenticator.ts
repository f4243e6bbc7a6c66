/**
 * Who a request acts for, and whether it may run. API requests present a key (`Authorization:
 * Bearer sk-...` or `x-api-key`); the chat app presents a session cookie. Keyed requests that
 * generate are admitted against the key's quota and limits, and metered when they end.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { QiusuoError } from "../core/errors.js";
import type { ApiKey } from "../store/api-keys.js";
import type { Refusal } from "../store/key-admissions.js";
import type { Session, SessionUser } from "../store/sessions.js";
import type { Store } from "../store/store.js";
import type { AuthMode, AuthSetup } from "./auth-mode.js";
import { LoginThrottle } from "./login-throttle.js";

export interface Principal {
  user: SessionUser;
  /** The key the request presented, when it presented a known one (as it was when presented). */
  apiKey: ApiKey | null;
}

/** The request headers auth reads (lower-case names, as Node gives them). */
export type AuthHeaders = Record<string, string | string[] | undefined>;

export class Authenticator {
  readonly mode: AuthMode;
  private readonly localUser: SessionUser | undefined;
  private pendingSetupToken: string | undefined;
  private readonly loginThrottle: LoginThrottle;

  constructor(
    private readonly store: Store,
    setup: AuthSetup,
  ) {
    this.mode = setup.mode;
    this.localUser = setup.localUser;
    this.pendingSetupToken = setup.setupToken;
    this.loginThrottle = new LoginThrottle(store.loginAttempts);
  }

  /** The one-time token of first-run setup while no admin exists (print it as a link). */
  get setupToken(): string | undefined {
    return this.pendingSetupToken;
  }

  /**
   * The principal of an API request. In accounts mode a valid key is required (401 otherwise).
   * In local mode a request without a key, or with one this server never issued (clients send
   * placeholders such as `sk-local`), acts as the local user; a known key still counts, so its
   * owner, limits and revocation apply.
   */
  async apiPrincipal(headers: AuthHeaders): Promise<Principal> {
    const presented = presentedKey(headers);
    const key = presented === undefined ? undefined : await this.store.apiKeys.findByPlaintext(presented);
    if (!key) {
      if (this.mode === "local" && this.localUser) return { user: this.localUser, apiKey: null };
      throw presented === undefined
        ? new QiusuoError(
            "authentication",
            "missing_api_key",
            "Authentication Fails (no API key). Send `Authorization: Bearer sk-...` with a key from " +
              "`qiusuo keys create` or the API keys page.",
          )
        : new QiusuoError(
            "authentication",
            "invalid_api_key",
            `Authentication Fails, Your api key: ****${presented.slice(-4)} is invalid.`,
          );
    }
    if (key.revokedAt !== null) {
      throw new QiusuoError(
        "authentication",
        "api_key_revoked",
        `Authentication Fails, Your api key: ${key.prefix}**** was revoked. Create a new one.`,
      );
    }
    const user = await this.store.users.findById(key.userId);
    if (!user || user.disabled) {
      throw new QiusuoError(
        "authentication",
        "user_disabled",
        "Authentication Fails: the account that owns this API key is disabled.",
      );
    }
    return { user: { id: user.id, name: user.name, role: user.role }, apiKey: key };
  }

  /**
   * Admits a generating request of a keyed principal, or throws the 401/402/429 that says why
   * not. Returns the admission id to hand to `settle`; keyless principals need no admission.
   */
  async admit(principal: Principal): Promise<string | undefined> {
    if (principal.apiKey === null) return undefined;
    const admission = await this.store.keyAdmissions.admit(principal.apiKey.id);
    if (admission.admitted) return admission.requestId;
    throw refusalError(admission);
  }

  /** The user of an app request: the local user, or the session's (undefined: not logged in). */
  async sessionUser(sessionToken: string | undefined): Promise<Session | { user: SessionUser } | undefined> {
    if (this.mode === "local") return this.localUser && { user: this.localUser };
    if (sessionToken === undefined || sessionToken.length === 0) return undefined;
    return this.store.sessions.find(sessionToken);
  }

  /** Logs in by password; `address` is the client's, for the throttle on guessing. */
  async login(name: string, password: string, address: string): Promise<Session> {
    const attempt = await this.loginThrottle.admit(name, address);
    if (!attempt.admitted) {
      const wait = attempt.retryAfterSeconds;
      throw new QiusuoError(
        "rate_limit",
        "too_many_login_attempts",
        `Too many failed logins; try again in ${Math.ceil(wait / 60)} minute(s).`,
        { retryAfterSeconds: wait },
      );
    }
    const user = await this.store.users.findByPassword(name, password);
    // A wrong password, or a disabled account, leaves the attempt counted as a failure.
    if (!user) throw new QiusuoError("authentication", "invalid_credentials", "Wrong user name or password.");
    if (user.disabled) {
      throw new QiusuoError(
        "authentication",
        "user_disabled",
        "This account is disabled; ask an admin to enable it.",
      );
    }
    await this.loginThrottle.succeeded(attempt.attemptId, name, address);
    return this.store.sessions.create({ id: user.id, name: user.name, role: user.role });
  }

  /** Makes the first admin with the one-time token printed at start, and logs them in. */
  async setup(token: string, name: string, password: string): Promise<Session> {
    const expected = this.pendingSetupToken;
    if (expected === undefined) {
      throw new QiusuoError("permission", "setup_done", "Setup is already done; log in instead.");
    }
    if (!sameSecret(token, expected)) {
      throw new QiusuoError(
        "permission",
        "invalid_setup_token",
        "The setup token is wrong. Use the setup link the server printed in its terminal.",
      );
    }
    // Closed before the first await, so two browsers racing cannot both make an admin.
    this.pendingSetupToken = undefined;
    let user;
    try {
      user = await this.store.users.create({ name, password, role: "admin" });
    } catch (error) {
      this.pendingSetupToken = expected;
      throw error;
    }
    return this.store.sessions.create({ id: user.id, name: user.name, role: user.role });
  }
}

/** The CSRF token of a session: derived from its secret token, so only its holder can know it. */
export function csrfToken(sessionToken: string): string {
  return createHash("sha256").update(`csrf:${sessionToken}`).digest("base64url");
}

export function csrfTokenMatches(sessionToken: string, presented: string | undefined): boolean {
  return presented !== undefined && sameSecret(presented, csrfToken(sessionToken));
}

function sameSecret(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function presentedKey(headers: AuthHeaders): string | undefined {
  const authorization = single(headers.authorization);
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  const apiKey = single(headers["x-api-key"])?.trim();
  return apiKey ? apiKey : undefined;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function refusalError(refusal: Refusal): QiusuoError {
  switch (refusal.reason) {
    case "invalid_key":
    case "revoked":
      return new QiusuoError(
        "authentication",
        "api_key_revoked",
        "Authentication Fails: this API key was revoked.",
      );
    case "user_disabled":
      return new QiusuoError(
        "authentication",
        "user_disabled",
        "Authentication Fails: the account that owns this API key is disabled.",
      );
    case "quota_tokens":
      return new QiusuoError(
        "insufficient_balance",
        "quota_exhausted",
        `Insufficient Balance: this API key has used its quota of ${refusal.limit} tokens. Ask an admin to raise it or use another key.`,
      );
    case "quota_requests":
      return new QiusuoError(
        "insufficient_balance",
        "quota_exhausted",
        `Insufficient Balance: this API key has used its quota of ${refusal.limit} requests. Ask an admin to raise it or use another key.`,
      );
    case "rpm":
    case "tpm":
    case "concurrency": {
      const what = {
        rpm: `${refusal.limit} requests per minute`,
        tpm: `${refusal.limit} tokens per minute`,
        concurrency: `${refusal.limit} concurrent requests`,
      }[refusal.reason];
      return new QiusuoError(
        "rate_limit",
        "rate_limit_exceeded",
        `Rate Limit Reached: this API key allows ${what}. Retry after ${refusal.retryAfterSeconds} s.`,
        { retryAfterSeconds: refusal.retryAfterSeconds },
      );
    }
  }
}
