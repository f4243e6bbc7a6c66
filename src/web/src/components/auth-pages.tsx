// Accounts mode: first-run setup and login.
import { useSignal, type Signal } from "@preact/signals";
import { api, ApiError } from "../api/client.ts";
import { t } from "../i18n/i18n.ts";
import { signedIn } from "../state/session.ts";

function errorText(error: unknown): string {
  if (error instanceof ApiError && error.code === "invalid_credentials") return t("invalidCredentials");
  // The server's own words say what to do (a wrong setup token, a name taken).
  if (error instanceof ApiError && error.status >= 400) return error.message;
  return t("errorGeneric", { message: (error as Error).message });
}

/** The name and password fields of both forms, and the form's error. */
function CredentialFields(props: {
  name: Signal<string>;
  password: Signal<string>;
  error: Signal<string | null>;
  passwordAutoComplete: "current-password" | "new-password";
}) {
  const { name, password, error } = props;
  return (
    <>
      <label>
        {t("username")}
        <input
          autoComplete="username"
          required
          value={name.value}
          onInput={(event) => (name.value = event.currentTarget.value)}
        />
      </label>
      <label>
        {t("password")}
        <input
          type="password"
          autoComplete={props.passwordAutoComplete}
          required
          value={password.value}
          onInput={(event) => (password.value = event.currentTarget.value)}
        />
      </label>
      {error.value && (
        <p class="form-error" role="alert">
          {error.value}
        </p>
      )}
    </>
  );
}

export function LoginPage() {
  const name = useSignal("");
  const password = useSignal("");
  const error = useSignal<string | null>(null);
  const pending = useSignal(false);
  return (
    <main class="auth-page">
      <form
        class="auth-card"
        onSubmit={(event) => {
          event.preventDefault();
          pending.value = true;
          error.value = null;
          api.login(name.value, password.value).then(
            (answer) => signedIn(answer.user, answer.csrfToken),
            (failure) => {
              error.value = errorText(failure);
              pending.value = false;
            },
          );
        }}
      >
        <h1>{t("loginTitle")}</h1>
        <CredentialFields
          name={name}
          password={password}
          error={error}
          passwordAutoComplete="current-password"
        />
        <button type="submit" class="primary" disabled={pending.value}>
          {t("login")}
        </button>
      </form>
    </main>
  );
}

export function SetupPage() {
  // The terminal prints the setup link as /setup?token=...; the field is for a token pasted by hand.
  const linked = new URLSearchParams(location.search).get("token") ?? "";
  const token = useSignal(linked);
  const name = useSignal("");
  const password = useSignal("");
  const error = useSignal<string | null>(null);
  return (
    <main class="auth-page">
      <form
        class="auth-card"
        onSubmit={(event) => {
          event.preventDefault();
          error.value = null;
          api.setup(token.value.trim(), name.value, password.value).then(
            (answer) => signedIn(answer.user, answer.csrfToken),
            (failure) => (error.value = errorText(failure)),
          );
        }}
      >
        <h1>{t("setupTitle")}</h1>
        <p>{t("setupHelp")}</p>
        <label>
          {t("setupToken")}
          <input
            required
            autoComplete="off"
            value={token.value}
            onInput={(event) => (token.value = event.currentTarget.value)}
          />
        </label>
        <CredentialFields name={name} password={password} error={error} passwordAutoComplete="new-password" />
        <button type="submit" class="primary">
          {t("createAdmin")}
        </button>
      </form>
    </main>
  );
}
