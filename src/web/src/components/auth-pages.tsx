// Accounts mode: first-run setup and login.
import { useSignal, type Signal } from "@preact/signals";
import { api, ApiError } from "../api/client.ts";
import type { User } from "../api/types.ts";
import { t } from "../i18n/i18n.ts";
import { signedIn } from "../state/session.ts";
import { FormError } from "./form-error.tsx";

function errorText(error: unknown): string {
  if (error instanceof ApiError && error.code === "invalid_credentials") return t("invalidCredentials");
  // The server's own words say what to do (a wrong setup token, a name taken).
  if (error instanceof ApiError && error.status >= 400) return error.message;
  return t("errorGeneric", { message: (error as Error).message });
}

interface CredentialsForm {
  name: Signal<string>;
  password: Signal<string>;
  error: Signal<string | null>;
  pending: Signal<boolean>;
  /** The form's submit handler: sends `request`, then signs in or shows the error. */
  onSubmit: (request: () => Promise<{ user: User; csrfToken: string }>) => (event: Event) => void;
}

/** The state both forms share, and their submission. */
function useCredentialsForm(): CredentialsForm {
  const name = useSignal("");
  const password = useSignal("");
  const error = useSignal<string | null>(null);
  const pending = useSignal(false);
  return {
    name,
    password,
    error,
    pending,
    onSubmit: (request) => (event) => {
      event.preventDefault();
      pending.value = true;
      error.value = null;
      request().then(
        (answer) => signedIn(answer.user, answer.csrfToken),
        (failure) => {
          error.value = errorText(failure);
          pending.value = false;
        },
      );
    },
  };
}

/** The name and password fields of both forms, the form's error and its submit button. */
function CredentialFields(props: {
  form: CredentialsForm;
  passwordAutoComplete: "current-password" | "new-password";
  submitLabel: string;
}) {
  const { name, password, error, pending } = props.form;
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
      <FormError message={error.value} />
      <button type="submit" class="primary" disabled={pending.value}>
        {props.submitLabel}
      </button>
    </>
  );
}

export function LoginPage() {
  const form = useCredentialsForm();
  return (
    <main class="auth-page">
      <form class="auth-card" onSubmit={form.onSubmit(() => api.login(form.name.value, form.password.value))}>
        <h1>{t("loginTitle")}</h1>
        <CredentialFields form={form} passwordAutoComplete="current-password" submitLabel={t("login")} />
      </form>
    </main>
  );
}

export function SetupPage() {
  // The terminal prints the setup link as /setup?token=...; the field is for a token pasted by hand.
  const linked = new URLSearchParams(location.search).get("token") ?? "";
  const token = useSignal(linked);
  const form = useCredentialsForm();
  return (
    <main class="auth-page">
      <form
        class="auth-card"
        onSubmit={form.onSubmit(() => api.setup(token.value.trim(), form.name.value, form.password.value))}
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
        <CredentialFields form={form} passwordAutoComplete="new-password" submitLabel={t("createAdmin")} />
      </form>
    </main>
  );
}
