// API keys (create, copy once, revoke) and usage.
import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { api } from "../api/client.ts";
import type { ApiKey, UsageSummaryRow } from "../api/types.ts";
import { t } from "../i18n/i18n.ts";
import type { MessageKey } from "../i18n/strings.ts";
import { describeError } from "../state/chat.ts";
import { CopyButton } from "./copy-button.tsx";
import { FormError } from "./form-error.tsx";

function date(ms: number | null | undefined): string {
  return ms ? new Date(ms).toLocaleString() : "—";
}

export function KeysPage() {
  const keys = useSignal<ApiKey[]>([]);
  const name = useSignal("");
  const created = useSignal<string | null>(null);
  const error = useSignal<string | null>(null);
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
      <FormError message={error.value} />
      {created.value && (
        <div class="new-key" role="status">
          <p>{t("keyCreated")}</p>
          <code class="plaintext-key">{created.value}</code>
          <CopyButton text={created.value} class="secondary" />
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

const USAGE_COLUMNS: Array<{ field: string; label: MessageKey }> = [
  { field: "requests", label: "requests" },
  { field: "promptTokens", label: "promptTokens" },
  { field: "promptCacheHitTokens", label: "cacheHitTokens" },
  { field: "completionTokens", label: "completionTokens" },
  { field: "reasoningTokens", label: "reasoningTokens" },
  { field: "totalTokens", label: "totalTokens" },
];

type UsageGrouping = "day" | "model" | "key";

export function UsagePage() {
  const groupBy = useSignal<UsageGrouping>("day");
  const rows = useSignal<UsageSummaryRow[]>([]);
  const keyNames = useSignal<Map<string, string>>(new Map());
  const error = useSignal<string | null>(null);
  useEffect(() => {
    api.usage(groupBy.value).then(
      (answer) => (rows.value = answer.data),
      (failure) => (error.value = describeError(failure)),
    );
    // Rows grouped by key name the key by id; show the names the keys page shows.
    if (groupBy.value === "key")
      api.keys().then(
        (answer) => (keyNames.value = new Map(answer.data.map((key) => [key.id, key.name]))),
        () => undefined,
      );
  }, [groupBy.value]);
  const groupLabel = (group: UsageSummaryRow[string] | undefined) => {
    if (group === null || group === undefined) return groupBy.value === "key" ? t("noKeyUsage") : "—";
    return groupBy.value === "key" ? (keyNames.value.get(String(group)) ?? String(group)) : String(group);
  };
  return (
    <section class="page" aria-labelledby="usage-title">
      <h1 id="usage-title">{t("usagePage")}</h1>
      <label class="inline-label">
        {t("groupBy")}
        <select
          value={groupBy.value}
          onChange={(event) => (groupBy.value = event.currentTarget.value as UsageGrouping)}
        >
          <option value="day">{t("byDay")}</option>
          <option value="model">{t("byModel")}</option>
          <option value="key">{t("byKey")}</option>
        </select>
      </label>
      <FormError message={error.value} />
      {rows.value.length === 0 ? (
        <p class="empty">{t("noUsage")}</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">{t("usageGroup")}</th>
                {USAGE_COLUMNS.map((column) => (
                  <th scope="col" key={column.field} class="number">
                    {t(column.label)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.value.map((row, index) => (
                <tr key={index}>
                  <th scope="row">{groupLabel(row.group)}</th>
                  {USAGE_COLUMNS.map((column) => (
                    <td key={column.field} class="number">
                      {typeof row[column.field] === "number"
                        ? (row[column.field] as number).toLocaleString()
                        : "—"}
                    </td>
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
