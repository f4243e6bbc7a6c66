// Models (read-only for now), API keys (create, copy once, revoke) and usage.
import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { api } from "../api/client.ts";
import type { ApiKey, UsageSummaryRow } from "../api/types.ts";
import { formatBytes } from "../files.ts";
import { t } from "../i18n/i18n.ts";
import { describeError } from "../state/chat.ts";
import { loadModels, models } from "./composer.tsx";

function date(ms: number | null | undefined): string {
  return ms ? new Date(ms).toLocaleString() : "—";
}

export function ModelsPage() {
  useEffect(() => loadModels(true), []);
  return (
    <section class="page" aria-labelledby="models-title">
      <h1 id="models-title">{t("models")}</h1>
      <p class="hint">{t("modelsHelp")}</p>
      {models.value.length === 0 ? (
        <p class="empty">{t("noModels")}</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">{t("modelId")}</th>
                <th scope="col">{t("size")}</th>
                <th scope="col">{t("quantization")}</th>
                <th scope="col">{t("context")}</th>
                <th scope="col">{t("state")}</th>
              </tr>
            </thead>
            <tbody>
              {models.value.map((model) => (
                <tr key={model.id}>
                  <td>
                    <strong>{model.id}</strong>
                    {model.aliases.length > 0 && <div class="meta">{model.aliases.join(", ")}</div>}
                    {model.reasoning && <span class="badge">{t("reasoningModel")}</span>}
                  </td>
                  <td>{model.sizeBytes ? formatBytes(model.sizeBytes) : "—"}</td>
                  <td>{model.quantization ?? "—"}</td>
                  <td>{model.contextLength ?? "—"}</td>
                  <td>{model.state}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function KeysPage() {
  const keys = useSignal<ApiKey[]>([]);
  const name = useSignal("");
  const created = useSignal<string | null>(null);
  const error = useSignal<string | null>(null);
  const copied = useSignal(false);
  const refresh = () =>
    api.keys().then(
      (answer) => (keys.value = answer.data),
      (failure) => (error.value = describeError(failure)),
    );
  useEffect(() => void refresh(), []);

  return (
    <section class="page" aria-labelledby="keys-title">
      <h1 id="keys-title">{t("apiKeys")}</h1>
      <form
        class="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          error.value = null;
          api.createKey(name.value.trim()).then(
            (answer) => {
              created.value = answer.plaintext;
              copied.value = false;
              name.value = "";
              void refresh();
            },
            (failure) => (error.value = describeError(failure)),
          );
        }}
      >
        <label>
          {t("keyName")}
          <input required value={name.value} onInput={(event) => (name.value = event.currentTarget.value)} />
        </label>
        <button type="submit" class="primary">
          {t("createKey")}
        </button>
      </form>
      {error.value && (
        <p class="form-error" role="alert">
          {error.value}
        </p>
      )}
      {created.value && (
        <div class="new-key" role="status">
          <p>{t("keyCreated")}</p>
          <code class="plaintext-key">{created.value}</code>
          <button
            type="button"
            class="secondary"
            onClick={() =>
              void navigator.clipboard.writeText(created.value ?? "").then(
                () => (copied.value = true),
                () => undefined,
              )
            }
          >
            {copied.value ? t("copied") : t("copy")}
          </button>
          <button type="button" class="secondary" onClick={() => (created.value = null)}>
            {t("close")}
          </button>
        </div>
      )}
      {keys.value.length === 0 ? (
        <p class="empty">{t("noKeys")}</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">{t("keyName")}</th>
                <th scope="col">{t("created")}</th>
                <th scope="col">{t("state")}</th>
                <th scope="col">
                  <span class="visually-hidden">{t("revoke")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.value.map((key) => (
                <tr key={key.id} data-key-id={key.id}>
                  <td>
                    {key.name}
                    {key.prefix && <div class="meta">{key.prefix}…</div>}
                  </td>
                  <td>{date(key.createdAt)}</td>
                  <td>{key.revokedAt ? t("revoked") : t("active")}</td>
                  <td>
                    {!key.revokedAt && (
                      <button
                        type="button"
                        class="secondary danger"
                        aria-label={`${t("revoke")}: ${key.name}`}
                        onClick={() => {
                          if (confirm(t("confirmRevoke")))
                            api
                              .revokeKey(key.id)
                              .then(refresh, (failure) => (error.value = describeError(failure)));
                        }}
                      >
                        {t("revoke")}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function UsagePage() {
  const groupBy = useSignal<"day" | "model" | "key">("day");
  const rows = useSignal<UsageSummaryRow[]>([]);
  const error = useSignal<string | null>(null);
  useEffect(() => {
    api.usage(groupBy.value).then(
      (answer) => (rows.value = answer.data),
      (failure) => (error.value = describeError(failure)),
    );
  }, [groupBy.value]);
  const columns = rows.value.length > 0 ? Object.keys(rows.value[0]!) : [];
  return (
    <section class="page" aria-labelledby="usage-title">
      <h1 id="usage-title">{t("usagePage")}</h1>
      <label class="inline-label">
        {t("groupBy")}
        <select
          value={groupBy.value}
          onChange={(event) => (groupBy.value = event.currentTarget.value as "day")}
        >
          <option value="day">{t("byDay")}</option>
          <option value="model">{t("byModel")}</option>
          <option value="key">{t("byKey")}</option>
        </select>
      </label>
      {error.value && (
        <p class="form-error" role="alert">
          {error.value}
        </p>
      )}
      {rows.value.length === 0 ? (
        <p class="empty">{t("noUsage")}</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                {columns.map((column) => (
                  <th scope="col" key={column}>
                    {column}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.value.map((row, index) => (
                <tr key={index}>
                  {columns.map((column) => (
                    <td key={column}>{String(row[column] ?? "—")}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
