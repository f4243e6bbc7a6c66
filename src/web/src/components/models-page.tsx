// Models on the server: size, quantization and context; load, unload and delete; pull with live
// progress. Upstream models show their pool and health, and the pools their replicas (admins).
import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import { api } from "../api/client.ts";
import type { AppModel, AuditReportEntry, UpstreamPool } from "../api/types.ts";
import { formatBytes } from "../files.ts";
import { t } from "../i18n/i18n.ts";
import type { MessageKey } from "../i18n/strings.ts";
import { describeError } from "../state/chat.ts";
import { session } from "../state/session.ts";
import { loadModels, models } from "./composer.tsx";
import { FormError } from "./form-error.tsx";

const STATE_LABELS: Record<AppModel["state"], MessageKey> = {
  available: "stateAvailable",
  loading: "stateLoading",
  ready: "stateReady",
  missing: "stateMissing",
  failed: "stateFailed",
};

/** An upstream model is not loaded here: it is online, still being discovered, or unreachable. */
const UPSTREAM_STATE_LABELS: Record<AppModel["state"], MessageKey> = {
  available: "upstreamReady",
  loading: "upstreamLoading",
  ready: "upstreamReady",
  missing: "upstreamFailed",
  failed: "upstreamFailed",
};

const POOL_STATE_LABELS: Record<UpstreamPool["state"], MessageKey> = {
  ok: "poolOk",
  degraded: "poolDegraded",
  down: "poolDown",
};

const REPLICA_STATE_LABELS: Record<UpstreamPool["replicas"][number]["state"], MessageKey> = {
  healthy: "replicaHealthy",
  ejected: "replicaEjected",
  probing: "replicaProbing",
};

function replaceModel(next: AppModel): void {
  models.value = models.value.some((model) => model.id === next.id)
    ? models.value.map((model) => (model.id === next.id ? next : model))
    : [...models.value, next];
}

/** A trash can, drawn inline so it looks the same on every system and takes the text's colour. */
function TrashIcon() {
  return (
    <svg
      viewBox="0 0 24 24"
      width="16"
      height="16"
      aria-hidden="true"
      fill="none"
      stroke="currentColor"
      stroke-width="2"
      stroke-linecap="round"
      stroke-linejoin="round"
    >
      <path d="M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6M10 11v6M14 11v6" />
    </svg>
  );
}

interface PullState {
  model: string;
  downloadedBytes: number;
  totalBytes: number | null;
}

function PullForm() {
  const name = useSignal("");
  const progress = useSignal<PullState | null>(null);
  const error = useSignal<string | null>(null);
  const done = useSignal<string | null>(null);
  const controller = useRef<AbortController | null>(null);
  // Leaving the page closes the stream; the server keeps pulling (docs/api.md).
  useEffect(() => () => controller.current?.abort(), []);

  const pull = async (model: string) => {
    error.value = null;
    done.value = null;
    progress.value = { model, downloadedBytes: 0, totalBytes: null };
    controller.current = new AbortController();
    try {
      for await (const event of api.pullModel(model, controller.current.signal)) {
        if (event.type === "progress") progress.value = { model, ...event };
        else if (event.type === "error") error.value = event.message;
        else {
          replaceModel(event.model);
          done.value = t("pullDone", { model: event.model.id });
          name.value = "";
        }
      }
    } catch (failure) {
      if ((failure as Error).name !== "AbortError") error.value = describeError(failure);
    } finally {
      progress.value = null;
      controller.current = null;
      loadModels(true);
    }
  };

  const current = progress.value;
  const percent =
    current?.totalBytes && current.totalBytes > 0
      ? Math.floor((current.downloadedBytes / current.totalBytes) * 100)
      : null;
  return (
    <section class="pull" aria-labelledby="pull-title">
      <h2 id="pull-title">{t("pullTitle")}</h2>
      <form
        class="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          const model = name.value.trim();
          if (model && !progress.value) void pull(model);
        }}
      >
        <label>
          {t("pullInput")}
          <input
            required
            spellcheck={false}
            autoComplete="off"
            value={name.value}
            onInput={(event) => (name.value = event.currentTarget.value)}
          />
        </label>
        <button type="submit" class="primary" disabled={progress.value !== null}>
          {t("pull")}
        </button>
      </form>
      {current && (
        <div class="pull-progress" role="status">
          <label>
            {t("pullProgress", { model: current.model })}
            <progress max={100} value={percent ?? undefined} />
          </label>
          <span class="meta">
            {formatBytes(current.downloadedBytes)}
            {current.totalBytes ? ` / ${formatBytes(current.totalBytes)} (${percent}%)` : ""}
          </span>
        </div>
      )}
      <FormError message={error.value} />
      {done.value && (
        <p class="hint" role="status">
          {done.value}
        </p>
      )}
    </section>
  );
}

function ModelRow({ model, manage }: { model: AppModel; manage: boolean }) {
  const pending = useSignal(false);
  const error = useSignal<string | null>(null);
  const act = (action: (id: string) => Promise<{ model: AppModel }>, interim: AppModel["state"]) => {
    pending.value = true;
    error.value = null;
    replaceModel({ ...model, state: interim });
    action(model.id)
      .then(
        (answer) => replaceModel(answer.model),
        (failure) => {
          error.value = describeError(failure);
          loadModels(true);
        },
      )
      .finally(() => (pending.value = false));
  };
  const remove = () => {
    if (!confirm(t("confirmDeleteModel", { model: model.id }))) return;
    pending.value = true;
    error.value = null;
    api
      .deleteModel(model.id)
      .then(
        () => (models.value = models.value.filter((other) => other.id !== model.id)),
        (failure) => {
          error.value = describeError(failure);
          loadModels(true);
        },
      )
      .finally(() => (pending.value = false));
  };
  const labels = model.pool ? UPSTREAM_STATE_LABELS : STATE_LABELS;
  return (
    <tr data-model-id={model.id}>
      <th scope="row">
        <strong>{model.id}</strong>
        {model.aliases.length > 0 && <div class="meta">{model.aliases.join(", ")}</div>}
        {model.reasoning && <span class="badge">{t("reasoningModel")}</span>}
        {model.reranker && <span class="badge">{t("rerankerModel")}</span>}
        {model.pool && (
          <span class="badge pool-badge" data-pool={model.pool}>
            {t("sourcePool", { pool: model.pool })}
          </span>
        )}
      </th>
      <td>{model.sizeBytes ? formatBytes(model.sizeBytes) : "—"}</td>
      <td>{model.quantization ?? "—"}</td>
      <td>{model.contextSize ?? model.contextLength ?? "—"}</td>
      <td class="model-state" data-state={model.state}>
        {t(labels[model.state] ?? "stateAvailable")}
        {model.reason && <div class="meta">{model.reason}</div>}
        {error.value && (
          <div class="form-error" role="alert">
            {error.value}
          </div>
        )}
      </td>
      {manage &&
        // An upstream model is loaded, unloaded and deleted on its own server, not from here.
        (model.pool ? (
          <td class="meta">{t("upstreamManaged")}</td>
        ) : (
          <td>
            {model.state === "ready" ? (
              <button
                type="button"
                class="secondary"
                aria-label={`${t("unload")}: ${model.id}`}
                disabled={pending.value}
                onClick={() => act(api.unloadModel, "ready")}
              >
                {t("unload")}
              </button>
            ) : (
              <button
                type="button"
                class="secondary"
                aria-label={`${t("load")}: ${model.id}`}
                disabled={pending.value || model.state === "loading" || model.state === "missing"}
                onClick={() => act(api.loadModel, "loading")}
              >
                {t("load")}
              </button>
            )}
            <button
              type="button"
              class="icon-button"
              aria-label={`${t("delete")}: ${model.id}`}
              title={t("delete")}
              disabled={pending.value || model.state === "loading"}
              onClick={remove}
            >
              <TrashIcon />
            </button>
          </td>
        ))}
    </tr>
  );
}

/** How often the upstreams section rereads the pools while it is shown. */
const UPSTREAMS_REFRESH_MS = 10_000;

/** The upstream pools and their replicas (admins only): which are in service, busy, failing. */
function UpstreamsSection() {
  const pools = useSignal<UpstreamPool[]>([]);
  const error = useSignal<string | null>(null);
  const refresh = () => {
    api.upstreams().then(
      (answer) => {
        pools.value = answer.data;
        error.value = null;
      },
      (failure) => (error.value = describeError(failure)),
    );
  };
  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, UPSTREAMS_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  if (pools.value.length === 0 && !error.value) return null;
  return (
    <section class="upstreams" aria-labelledby="upstreams-title">
      <div class="section-head">
        <h2 id="upstreams-title">{t("upstreamsTitle")}</h2>
        <button type="button" class="secondary" onClick={refresh}>
          {t("refresh")}
        </button>
      </div>
      <p class="hint">{t("upstreamsHelp")}</p>
      <FormError message={error.value} />
      {pools.value.map((pool) => (
        <section
          class="upstream-pool"
          key={pool.name}
          data-pool={pool.name}
          aria-labelledby={`pool-${pool.name}`}
        >
          <h3 id={`pool-${pool.name}`}>
            {pool.name}{" "}
            <span class="badge pool-state" data-state={pool.state}>
              {t(POOL_STATE_LABELS[pool.state] ?? "poolDown")}
            </span>
          </h3>
          <p class="meta">
            {t("poolSummary", {
              healthy: pool.healthyReplicas,
              total: pool.totalReplicas,
              models: pool.models,
              queued: pool.queued,
            })}
          </p>
          {pool.reason && <p class="meta pool-reason">{pool.reason}</p>}
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t("replica")}</th>
                  <th scope="col">{t("state")}</th>
                  <th scope="col">{t("inFlight")}</th>
                  <th scope="col">{t("lastError")}</th>
                </tr>
              </thead>
              <tbody>
                {pool.replicas.map((replica) => (
                  <tr key={replica.url} data-replica={replica.url}>
                    <th scope="row">
                      <code>{replica.url}</code>
                    </th>
                    <td class="replica-state" data-state={replica.state}>
                      {t(REPLICA_STATE_LABELS[replica.state] ?? "replicaEjected")}
                    </td>
                    <td>{replica.inFlight}</td>
                    <td class="meta">{replica.lastError ?? "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      ))}
    </section>
  );
}

/** Reports of `qiusuo audit A B` (admins only), each opened as its own page in a new tab. */
function AuditsSection() {
  const reports = useSignal<AuditReportEntry[] | null>(null);
  const error = useSignal<string | null>(null);
  useEffect(() => {
    api.audits().then(
      (answer) => (reports.value = answer.data),
      (failure) => (error.value = describeError(failure)),
    );
  }, []);
  return (
    <section class="audits" aria-labelledby="audits-title">
      <h2 id="audits-title">{t("auditsTitle")}</h2>
      <p class="hint">{t("auditsHelp")}</p>
      <FormError message={error.value} />
      {reports.value?.length === 0 && <p class="empty">{t("auditsEmpty")}</p>}
      {reports.value && reports.value.length > 0 && (
        <ul class="audit-list">
          {reports.value.map((report) => (
            <li key={report.name}>
              <a
                href={`/api/audits/${encodeURIComponent(report.name)}`}
                target="_blank"
                rel="noopener noreferrer"
              >
                {report.a && report.b ? t("auditVersus", { a: report.a, b: report.b }) : report.name}
              </a>{" "}
              <time class="meta" dateTime={report.createdAt}>
                {new Date(report.createdAt).toLocaleString()}
              </time>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function ModelsPage() {
  useEffect(() => loadModels(true), []);
  // Managing models is for admins; the local user is one.
  const manage = session.value?.mode !== "accounts" || session.value.user?.role === "admin";
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
                {manage && <th scope="col">{t("actions")}</th>}
              </tr>
            </thead>
            <tbody>
              {models.value.map((model) => (
                <ModelRow key={model.id} model={model} manage={manage} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {manage && <UpstreamsSection />}
      {manage && <AuditsSection />}
      {manage && <PullForm />}
    </section>
  );
}
