/**
 * Which auth mode a server runs in, decided once at start:
 * - local: bound to loopback, no `--auth`, and no user with a password. No login; every request
 *   acts as one implicit user (`local`), and the Host/Origin guard keeps web pages out.
 * - accounts: logins, sessions and API keys. Always when bound to a non-loopback address, where
 *   the server refuses to start until an admin exists.
 */
import { randomBytes } from "node:crypto";
import { isLoopbackHost } from "../config/config.js";
import type { Store } from "../store/store.js";
import type { SessionUser } from "../store/sessions.js";
import { StoreError } from "../store/store-error.js";

export type AuthMode = "local" | "accounts";

/** The implicit user of local mode; it has no password, so it can never log in. */
export const LOCAL_USER_NAME = "local";

export interface AuthSetup {
  mode: AuthMode;
  /** Local mode's user. */
  localUser?: SessionUser;
  /** Accounts mode without an admin: the one-time token that `/api/setup` accepts. */
  setupToken?: string;
}

export class AuthStartError extends Error {
  override readonly name = "AuthStartError";
}

export async function prepareAuth(
  store: Store,
  options: { host: string; auth: boolean },
): Promise<AuthSetup> {
  const users = await store.users.list();
  const loginUsers = users.filter((user) => user.hasPassword && !user.disabled);
  const loopback = isLoopbackHost(options.host);
  if (options.auth || !loopback || loginUsers.length > 0) {
    if (loginUsers.some((user) => user.role === "admin")) return { mode: "accounts" };
    if (!loopback) {
      throw new AuthStartError(
        `Refusing to serve on ${options.host} without an admin account: anyone on the network could use it. ` +
          "Create one first with `qiusuo users add NAME --admin --password-stdin`, or bind to 127.0.0.1.",
      );
    }
    return { mode: "accounts", setupToken: randomBytes(24).toString("base64url") };
  }
  const local = users.find((user) => user.name === LOCAL_USER_NAME) ?? (await createLocalUser(store));
  return { mode: "local", localUser: { id: local.id, name: local.name, role: local.role } };
}

/** Creates the local user; another instance starting at the same moment may win the race. */
async function createLocalUser(store: Store) {
  try {
    return await store.users.create({ name: LOCAL_USER_NAME, role: "admin" });
  } catch (error) {
    const winner = error instanceof StoreError ? await store.users.findByName(LOCAL_USER_NAME) : undefined;
    if (!winner) throw error;
    return winner;
  }
}
