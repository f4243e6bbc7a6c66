// Who is using the app: local mode needs no login; accounts mode has setup, login and logout.
import { signal } from "@preact/signals";
import { api, setCsrfToken } from "../api/client.ts";
import type { Session, User } from "../api/types.ts";
import { navigate, route } from "./router.ts";

export const session = signal<Session | null>(null);
export const sessionError = signal<string | null>(null);

export async function loadSession(): Promise<void> {
  try {
    const answer = await api.session();
    setCsrfToken(answer.csrfToken);
    session.value = answer;
    guardRoute();
  } catch (error) {
    sessionError.value = (error as Error).message;
  }
}

/** In accounts mode, sends the visitor to setup or login until there is a user; shared pages need none. */
export function guardRoute(): void {
  const current = session.value;
  if (!current || current.mode !== "accounts" || route.value.name === "shared") return;
  if (current.setupRequired) {
    if (route.value.name !== "setup") navigate("/setup", { replace: true });
  } else if (!current.user) {
    if (route.value.name !== "login") navigate("/login", { replace: true });
  } else if (route.value.name === "login" || route.value.name === "setup") navigate("/", { replace: true });
}

export function signedIn(user: User, csrfToken: string): void {
  setCsrfToken(csrfToken);
  session.value = { ...(session.value ?? { mode: "accounts" }), user, csrfToken, setupRequired: false };
  navigate("/", { replace: true });
}

export async function logout(): Promise<void> {
  await api.logout().catch(() => undefined);
  setCsrfToken(null);
  // A fresh page drops every piece of the previous user's state.
  location.assign("/login");
}
