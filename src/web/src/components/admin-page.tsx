// The admin panel (/settings/admin): users, everyone's API keys, usage over time and MCP servers. Models and
// upstream pools stay on the models page, linked from here. Each table's box is focusable, so a
// keyboard can scroll a table wider than a phone.
import { useSignal } from "@preact/signals";
import { useEffect, useMemo } from "preact/hooks";
import { adminApi } from "../api/client.ts";
import type { AdminApiKey, AdminUser, DailyUsageRow, NewKeyLimits, UsageSeries } from "../api/types.ts";
import { t } from "../i18n/i18n.ts";
import type { MessageKey } from "../i18n/strings.ts";
import { describeError } from "../state/chat.ts";
import { navigate } from "../state/router.ts";
import { session } from "../state/session.ts";
import { UsageChart, type ChartSeries } from "./admin-usage-chart.tsx";
import { CopyButton } from "./copy-button.tsx";
import { FormError } from "./form-error.tsx";
import { McpServersTab } from "./mcp-admin.tsx";

const TABS = [
  { id: "users", label: "adminTabUsers" },
  { id: "keys", label: "adminTabKeys" },
  { id: "usage", label: "adminTabUsage" },
  { id: "mcp", label: "mcpTab" },
] as const satisfies ReadonlyArray<{ id: string; label: MessageKey }>;
type Tab = (typeof TABS)[number]["id"];

const DAY_MS = 24 * 60 * 60 * 1000;

function date(ms: number | null | undefined): string {
  return ms ? new Date(ms).toLocaleString() : "—";
}

function number(value: number | null | undefined): string {
  return typeof value === "number" ? value.toLocaleString() : "—";
}

export function AdminPage() {
  const tab = useSignal<Tab>("users");
  const user = session.value?.user;
  if (user?.role !== "admin")
    return (
      <section class="page" aria-labelledby="admin-title">
        <h1 id="admin-title">{t("adminOnly")}</h1>
        <p>{t("adminOnlyHint")}</p>
      </section>
    );

  const select = (next: Tab) => {
    tab.value = next;
    document.getElementById(`admin-tab-${next}`)?.focus();
  };
  return (
    <section class="page admin-page" aria-labelledby="admin-title">
      <h1 id="admin-title">{t("adminPanel")}</h1>
      <p>
        <a
          href="/settings/models"
          onClick={(event) => {
            event.preventDefault();
            navigate("/settings/models");
          }}
        >
          {t("adminModelsLink")}
        </a>
      </p>
      <div class="admin-tabs" role="tablist" aria-label={t("adminSections")}>
        {TABS.map((item, index) => (
          <button
            key={item.id}
            type="button"
            role="tab"
            id={`admin-tab-${item.id}`}
            aria-selected={tab.value === item.id}
            aria-controls={`admin-panel-${item.id}`}
            tabIndex={tab.value === item.id ? 0 : -1}
            onClick={() => (tab.value = item.id)}
            onKeyDown={(event) => {
              const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
              if (step === undefined) return;
              event.preventDefault();
              select(TABS[(index + step + TABS.length) % TABS.length]!.id);
            }}
          >
            {t(item.label)}
          </button>
        ))}
      </div>
      <div
        class="admin-panel"
        role="tabpanel"
        id={`admin-panel-${tab.value}`}
        aria-labelledby={`admin-tab-${tab.value}`}
      >
        {tab.value === "users" && <UsersTab selfId={user.id} />}
        {tab.value === "keys" && <KeysTab />}
        {tab.value === "usage" && <UsageTab />}
        {tab.value === "mcp" && <McpServersTab />}
      </div>
    </section>
  );
}

function UsersTab({ selfId }: { selfId: string }) {
  const users = useSignal<AdminUser[]>([]);
  const error = useSignal<string | null>(null);
  const status = useSignal<string | null>(null);
  const form = useSignal({ name: "", password: "", role: "user" as AdminUser["role"] });
  const resetting = useSignal<AdminUser | null>(null);
  const newPassword = useSignal("");
  const refresh = () =>
    adminApi.users().then(
      (answer) => (users.value = answer.data),
      (failure) => (error.value = describeError(failure)),
    );
  useEffect(() => void refresh(), []);
  /** Runs a change, then shows `done` (or the server's refusal) and the list as it is now. */
  const act = (change: Promise<unknown>, done?: string) => {
    error.value = null;
    status.value = null;
    change.then(
      () => {
        if (done) status.value = done;
        void refresh();
      },
      (failure) => {
        error.value = describeError(failure);
        void refresh();
      },
    );
  };

  return (
    <>
      <h2>{t("adminNewUser")}</h2>
      <form
        class="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          const { name, password, role } = form.value;
          act(
            adminApi.createUser({ name: name.trim(), password, role }).then(() => {
              form.value = { name: "", password: "", role: "user" };
            }),
            t("adminUserCreated", { name: name.trim() }),
          );
        }}
      >
        <label>
          {t("adminUserName")}
          <input
            required
            autocomplete="off"
            value={form.value.name}
            onInput={(event) => (form.value = { ...form.value, name: event.currentTarget.value })}
          />
        </label>
        <label>
          {t("adminPassword")}
          <input
            required
            type="password"
            autocomplete="new-password"
            minLength={8}
            value={form.value.password}
            onInput={(event) => (form.value = { ...form.value, password: event.currentTarget.value })}
          />
        </label>
        <label>
          {t("adminRole")}
          <select
            value={form.value.role}
            onChange={(event) =>
              (form.value = { ...form.value, role: event.currentTarget.value as AdminUser["role"] })
            }
          >
            <option value="user">{t("adminRoleUser")}</option>
            <option value="admin">{t("adminRoleAdmin")}</option>
          </select>
        </label>
        <button type="submit" class="primary">
          {t("adminCreateUser")}
        </button>
      </form>
      <FormError message={error.value} />
      {status.value && (
        <p class="admin-status" role="status">
          {status.value}
        </p>
      )}
      {resetting.value && (
        <form
          class="inline-form"
          onSubmit={(event) => {
            event.preventDefault();
            const target = resetting.value!;
            act(
              adminApi.resetPassword(target.id, newPassword.value).then(() => {
                resetting.value = null;
                newPassword.value = "";
              }),
              t("adminPasswordReset", { name: target.name }),
            );
          }}
        >
          <label>
            {t("adminNewPasswordFor", { name: resetting.value.name })}
            <input
              required
              type="password"
              autocomplete="new-password"
              minLength={8}
              value={newPassword.value}
              onInput={(event) => (newPassword.value = event.currentTarget.value)}
            />
          </label>
          <button type="submit" class="primary">
            {t("save")}
          </button>
          <button type="button" class="secondary" onClick={() => (resetting.value = null)}>
            {t("cancel")}
          </button>
        </form>
      )}
      <h2>{t("adminTabUsers")}</h2>
      <div class="table-wrap" tabIndex={0} role="region" aria-label={t("adminTabUsers")}>
        <table class="admin-table">
          <thead>
            <tr>
              <th scope="col">{t("adminUserName")}</th>
              <th scope="col">{t("adminRole")}</th>
              <th scope="col">{t("adminState")}</th>
              <th scope="col">{t("adminCreated")}</th>
              <th scope="col">{t("adminLastActive")}</th>
              <th scope="col" class="number">
                {t("adminKeyCount")}
              </th>
              <th scope="col" class="number">
                {t("requests")}
              </th>
              <th scope="col" class="number">
                {t("totalTokens")}
              </th>
              <th scope="col">{t("actions")}</th>
            </tr>
          </thead>
          <tbody>
            {users.value.map((row) => (
              <tr key={row.id} data-user={row.name}>
                <th scope="row">
                  {row.name}
                  {row.id === selfId && <span class="meta"> {t("adminYou")}</span>}
                </th>
                <td>
                  <select
                    aria-label={t("adminRoleOf", { name: row.name })}
                    value={row.role}
                    onChange={(event) =>
                      act(
                        adminApi.updateUser(row.id, { role: event.currentTarget.value as AdminUser["role"] }),
                      )
                    }
                  >
                    <option value="user">{t("adminRoleUser")}</option>
                    <option value="admin">{t("adminRoleAdmin")}</option>
                  </select>
                </td>
                <td>{row.disabled ? t("adminDisabled") : t("adminActive")}</td>
                <td>{date(row.createdAt)}</td>
                <td>{date(row.lastActiveAt)}</td>
                <td class="number">{number(row.activeKeys)}</td>
                <td class="number">{number(row.requests)}</td>
                <td class="number">{number(row.totalTokens)}</td>
                <td class="admin-actions">
                  <button
                    type="button"
                    class={row.disabled ? "secondary" : "secondary danger"}
                    aria-label={`${row.disabled ? t("adminEnable") : t("adminDisable")}: ${row.name}`}
                    onClick={() => {
                      if (row.disabled) act(adminApi.updateUser(row.id, { disabled: false }));
                      else if (confirm(t("adminConfirmDisable", { name: row.name })))
                        act(adminApi.updateUser(row.id, { disabled: true }));
                    }}
                  >
                    {row.disabled ? t("adminEnable") : t("adminDisable")}
                  </button>
                  <button
                    type="button"
                    class="secondary"
                    aria-label={`${t("adminResetPassword")}: ${row.name}`}
                    onClick={() => {
                      newPassword.value = "";
                      resetting.value = row;
                    }}
                  >
                    {t("adminResetPassword")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

const LIMITS = [
  { field: "rpm", label: "adminRpm" },
  { field: "tpm", label: "adminTpm" },
  { field: "maxConcurrent", label: "adminMaxConcurrent" },
  { field: "quotaTokens", label: "adminQuotaTokens" },
  { field: "quotaRequests", label: "adminQuotaRequests" },
] as const satisfies ReadonlyArray<{ field: keyof NewKeyLimits; label: MessageKey }>;

function KeysTab() {
  const keys = useSignal<AdminApiKey[]>([]);
  const users = useSignal<AdminUser[]>([]);
  const owner = useSignal("");
  const name = useSignal("");
  const limits = useSignal<Record<string, string>>({});
  const created = useSignal<{ plaintext: string; userName: string } | null>(null);
  const error = useSignal<string | null>(null);
  const refresh = () =>
    adminApi.keys().then(
      (answer) => (keys.value = answer.data),
      (failure) => (error.value = describeError(failure)),
    );
  useEffect(() => {
    void refresh();
    adminApi.users().then(
      (answer) => {
        users.value = answer.data;
        owner.value ||= answer.data[0]?.id ?? "";
      },
      (failure) => (error.value = describeError(failure)),
    );
  }, []);
  const limitsSummary = (key: AdminApiKey) => {
    const set = LIMITS.filter(({ field }) => typeof key[field] === "number");
    if (set.length === 0) return t("adminNoLimits");
    return set.map(({ field, label }) => `${t(label)}: ${number(key[field])}`).join(" · ");
  };

  return (
    <>
      <h2>{t("adminCreateKey")}</h2>
      <form
        class="admin-key-form"
        onSubmit={(event) => {
          event.preventDefault();
          error.value = null;
          const chosen: NewKeyLimits = {};
          for (const { field } of LIMITS) {
            const value = limits.value[field]?.trim();
            if (value) chosen[field] = Number(value);
          }
          adminApi.createKey(owner.value, name.value.trim(), chosen).then(
            (answer) => {
              created.value = { plaintext: answer.plaintext, userName: answer.key.userName };
              name.value = "";
              limits.value = {};
              void refresh();
            },
            (failure) => (error.value = describeError(failure)),
          );
        }}
      >
        <label>
          {t("adminKeyOwner")}
          <select
            required
            value={owner.value}
            onChange={(event) => (owner.value = event.currentTarget.value)}
          >
            {users.value.map((user) => (
              <option key={user.id} value={user.id}>
                {user.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("adminKeyName")}
          <input required value={name.value} onInput={(event) => (name.value = event.currentTarget.value)} />
        </label>
        <fieldset>
          <legend>{t("adminLimits")}</legend>
          <p class="meta">{t("adminLimitsHint")}</p>
          {LIMITS.map(({ field, label }) => (
            <label key={field}>
              {t(label)}
              <input
                type="number"
                min={1}
                step={1}
                inputMode="numeric"
                value={limits.value[field] ?? ""}
                onInput={(event) => (limits.value = { ...limits.value, [field]: event.currentTarget.value })}
              />
            </label>
          ))}
        </fieldset>
        <button type="submit" class="primary">
          {t("adminCreateKey")}
        </button>
      </form>
      <FormError message={error.value} />
      {created.value && (
        <div class="new-key" role="status">
          <p>{t("adminKeyCreated", { name: created.value.userName })}</p>
          <code class="plaintext-key">{created.value.plaintext}</code>
          <CopyButton text={created.value.plaintext} class="secondary" />
          <button type="button" class="secondary" onClick={() => (created.value = null)}>
            {t("close")}
          </button>
        </div>
      )}
      <h2>{t("adminTabKeys")}</h2>
      {keys.value.length === 0 ? (
        <p class="empty">{t("adminNoKeys")}</p>
      ) : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label={t("adminTabKeys")}>
          <table class="admin-table">
            <thead>
              <tr>
                <th scope="col">{t("adminKeyName")}</th>
                <th scope="col">{t("adminKeyOwner")}</th>
                <th scope="col">{t("adminLimits")}</th>
                <th scope="col">{t("adminUsed")}</th>
                <th scope="col">{t("adminCreated")}</th>
                <th scope="col">{t("adminState")}</th>
                <th scope="col">{t("actions")}</th>
              </tr>
            </thead>
            <tbody>
              {keys.value.map((key) => (
                <tr key={key.id} data-key-id={key.id}>
                  <th scope="row">
                    {key.name}
                    {key.prefix && <div class="meta">{key.prefix}…</div>}
                  </th>
                  <td>{key.userName}</td>
                  <td>{limitsSummary(key)}</td>
                  <td>
                    {t("adminUsedValue", {
                      tokens: number(key.usedTokens),
                      requests: number(key.usedRequests),
                    })}
                  </td>
                  <td>{date(key.createdAt)}</td>
                  <td>{key.revokedAt ? t("adminRevoked") : t("adminActive")}</td>
                  <td>
                    {!key.revokedAt && (
                      <button
                        type="button"
                        class="secondary danger"
                        aria-label={`${t("adminRevoke")}: ${key.name} (${key.userName})`}
                        onClick={() => {
                          if (!confirm(t("adminConfirmRevoke"))) return;
                          adminApi
                            .revokeKey(key.id)
                            .then(refresh, (failure) => (error.value = describeError(failure)));
                        }}
                      >
                        {t("adminRevoke")}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

type Metric = "totalTokens" | "requests";

/** The UTC days from `days - 1` days ago to today, oldest first (`YYYY-MM-DD`). */
function lastDays(days: number): string[] {
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  return Array.from({ length: days }, (_, index) =>
    new Date(today - (days - 1 - index) * DAY_MS).toISOString().slice(0, 10),
  );
}

function UsageTab() {
  const series = useSignal<UsageSeries>("none");
  const metric = useSignal<Metric>("totalTokens");
  const range = useSignal(30);
  const userId = useSignal("");
  const model = useSignal("");
  const rows = useSignal<DailyUsageRow[] | null>(null);
  const users = useSignal<AdminUser[]>([]);
  const keys = useSignal<AdminApiKey[]>([]);
  const models = useSignal<string[]>([]);
  const error = useSignal<string | null>(null);

  useEffect(() => {
    adminApi.users().then(
      (answer) => (users.value = answer.data),
      () => undefined,
    );
    adminApi.keys().then(
      (answer) => (keys.value = answer.data),
      () => undefined,
    );
    adminApi.models({}).then(
      (answer) => (models.value = answer.data.map((row) => String(row.group))),
      () => undefined,
    );
  }, []);
  const days = useMemo(() => lastDays(range.value), [range.value]);
  useEffect(() => {
    error.value = null;
    const filters = {
      since: Date.parse(`${days[0]!}T00:00:00Z`),
      ...(userId.value ? { userId: userId.value } : {}),
      ...(model.value ? { model: model.value } : {}),
    };
    adminApi.daily(series.value, filters).then(
      (answer) => (rows.value = answer.data),
      (failure) => (error.value = describeError(failure)),
    );
  }, [series.value, days, userId.value, model.value]);

  const seriesName = (value: string | null): string => {
    if (series.value === "none") return t("adminAll");
    if (value === null) return series.value === "key" ? t("noKeyUsage") : "—";
    if (series.value === "user") return users.value.find((user) => user.id === value)?.name ?? value;
    if (series.value === "key") return keys.value.find((key) => key.id === value)?.name ?? value;
    return value;
  };
  const chart = useMemo((): ChartSeries[] => {
    const lines = new Map<string | null, number[]>();
    for (const row of rows.value ?? []) {
      const values = lines.get(row.series) ?? days.map(() => 0);
      const index = days.indexOf(row.day);
      if (index >= 0) values[index] = row[metric.value];
      lines.set(row.series, values);
    }
    return [...lines].map(([key, values]) => ({ label: seriesName(key), values }));
  }, [rows.value, metric.value, days, users.value, keys.value]);

  return (
    <>
      <div class="admin-usage-controls">
        <label>
          {t("adminSeries")}
          <select
            value={series.value}
            onChange={(event) => (series.value = event.currentTarget.value as UsageSeries)}
          >
            <option value="none">{t("adminSeriesNone")}</option>
            <option value="user">{t("adminSeriesUser")}</option>
            <option value="key">{t("adminSeriesKey")}</option>
            <option value="model">{t("adminSeriesModel")}</option>
          </select>
        </label>
        <label>
          {t("adminSeriesUser")}
          <select value={userId.value} onChange={(event) => (userId.value = event.currentTarget.value)}>
            <option value="">{t("adminAllUsers")}</option>
            {users.value.map((user) => (
              <option key={user.id} value={user.id}>
                {user.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("adminSeriesModel")}
          <select value={model.value} onChange={(event) => (model.value = event.currentTarget.value)}>
            <option value="">{t("adminAllModels")}</option>
            {models.value.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("adminMetric")}
          <select
            value={metric.value}
            onChange={(event) => (metric.value = event.currentTarget.value as Metric)}
          >
            <option value="totalTokens">{t("totalTokens")}</option>
            <option value="requests">{t("requests")}</option>
          </select>
        </label>
        <label>
          {t("adminRange")}
          <select value={range.value} onChange={(event) => (range.value = Number(event.currentTarget.value))}>
            {[7, 30, 90].map((count) => (
              <option key={count} value={count}>
                {t("adminLastDays", { days: count })}
              </option>
            ))}
          </select>
        </label>
      </div>
      <FormError message={error.value} />
      {rows.value === null ? (
        <p class="empty">{t("loading")}</p>
      ) : rows.value.length === 0 ? (
        <p class="empty">{t("adminNoUsage")}</p>
      ) : (
        <>
          <UsageChart days={days} series={chart} />
          <div class="table-wrap" tabIndex={0} role="region" aria-label={t("adminUsageTable")}>
            <table class="admin-table admin-usage-table">
              <caption>{t("adminUsageTable")}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("adminDay")}</th>
                  {series.value !== "none" && (
                    <th scope="col">{t(`adminSeries${capitalised(series.value)}`)}</th>
                  )}
                  <th scope="col" class="number">
                    {t("requests")}
                  </th>
                  <th scope="col" class="number">
                    {t("totalTokens")}
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.value.map((row) => (
                  <tr key={`${row.day} ${row.series}`}>
                    <th scope="row">{row.day}</th>
                    {series.value !== "none" && <td>{seriesName(row.series)}</td>}
                    <td class="number">{number(row.requests)}</td>
                    <td class="number">{number(row.totalTokens)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </>
  );
}

function capitalised(series: Exclude<UsageSeries, "none">): "User" | "Key" | "Model" {
  return ({ user: "User", key: "Key", model: "Model" } as const)[series];
}
