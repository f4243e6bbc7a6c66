// A reply's provenance (weights and template hashes, sampling, seed, engine, time, upstream
// replica, redactions) in a native modal dialog, with a Replay button that re-runs a local reply
// on the server and says whether it came out identical token for token.
import { useSignal } from "@preact/signals";
import { useRef } from "preact/hooks";
import { api } from "../api/client.ts";
import type { Message, Provenance, ReplayReport } from "../api/types.ts";
import { t } from "../i18n/i18n.ts";
import { describeError, openChat } from "../state/chat.ts";

function Row({
  label,
  value,
  code,
}: {
  label: string;
  value: string | number | undefined | null;
  code?: boolean;
}) {
  if (value === undefined || value === null || value === "") return null;
  return (
    <>
      <dt>{label}</dt>
      <dd>{code ? <code class="hash">{value}</code> : value}</dd>
    </>
  );
}

function settingText(value: unknown): string {
  if (value === null || value === undefined) return t("provDefault");
  if (typeof value === "boolean") return value ? t("provOn") : t("provOff");
  return String(value);
}

function ReplayResult({ report }: { report: ReplayReport }) {
  if (report.identical) {
    return <p class="replay-result identical">{t("replayIdentical", { tokens: report.replayedTokens })}</p>;
  }
  return (
    <div class="replay-result different">
      <p>{t("replayDifferent", { index: report.difference?.tokenIndex ?? 0 })}</p>
      {report.difference && (
        <dl class="provenance">
          <dt>{t("replayStored")}</dt>
          <dd>
            <code>{report.difference.stored}</code>
          </dd>
          <dt>{t("replayReplayed")}</dt>
          <dd>
            <code>{report.difference.replayed}</code>
          </dd>
        </dl>
      )}
      {report.notes.length > 0 && (
        <ul class="replay-notes">
          {report.notes.map((note) => (
            <li key={note}>{note}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function ProvenanceButton({ message }: { message: Message }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const replaying = useSignal(false);
  const report = useSignal<ReplayReport | null>(null);
  const error = useSignal<string | null>(null);
  const provenance = (message.provenance ?? {}) as Provenance;
  const settings = (message.settings ?? {}) as {
    temperature?: number;
    topP?: number;
    thinking?: boolean | null;
  };
  const upstream = provenance.pool !== undefined || provenance.servedBy !== undefined;
  const titleId = `provenance-title-${message.id}`;
  const runtime = provenance.runtime;
  const redactions = Object.entries(provenance.redactions ?? {}).filter(([, count]) => count > 0);

  const replay = async () => {
    const chat = openChat.value;
    if (!chat) return;
    replaying.value = true;
    report.value = null;
    error.value = null;
    try {
      report.value = await api.replay(chat.conversation.id, message.id);
    } catch (caught) {
      error.value = describeError(caught);
    } finally {
      replaying.value = false;
    }
  };

  return (
    <>
      <button type="button" class="action" aria-haspopup="dialog" onClick={() => dialog.current?.showModal()}>
        {t("details")}
      </button>
      <dialog ref={dialog} class="dialog provenance-dialog" aria-labelledby={titleId}>
        <h2 id={titleId}>{t("provenanceTitle")}</h2>
        <dl class="provenance">
          <Row label={t("model")} value={provenance.model ?? message.model} />
          <Row label={t("provFile")} value={provenance.modelFile} />
          {!upstream && (
            <Row label={t("provFileSha")} value={provenance.modelSha256 ?? t("provPending")} code />
          )}
          {!upstream && (
            <Row label={t("provTemplateSha")} value={provenance.templateSha256 ?? t("provNone")} code />
          )}
          <Row label={t("provFingerprint")} value={provenance.systemFingerprint} code />
          <Row
            label={t("provSampling")}
            value={t("provSamplingValue", {
              temperature: settingText(settings.temperature),
              topP: settingText(settings.topP),
              thinking: settingText(settings.thinking),
            })}
          />
          <Row label={t("provSeed")} value={provenance.seed} />
          {runtime && (
            <Row
              label={t("provEngine")}
              value={t("provEngineValue", {
                node: runtime.nodeLlamaCpp ?? "?",
                llama: runtime.llamaCpp ?? "?",
                device: runtime.gpu ? String(runtime.gpu) : "CPU",
                threads: runtime.threads ?? "?",
                parallel: runtime.parallel ?? "?",
              })}
            />
          )}
          <Row
            label={t("provTime")}
            value={new Date(provenance.startedAt ?? message.createdAt).toLocaleString()}
          />
          <Row label={t("provPool")} value={provenance.servedBy?.pool ?? provenance.pool} />
          <Row label={t("provReplica")} value={provenance.servedBy?.replica} />
          <Row
            label={t("provUpstreamModel")}
            value={provenance.servedBy?.upstreamModel ?? provenance.upstreamModel}
          />
          <Row label={t("provUpstreamFingerprint")} value={provenance.servedBy?.systemFingerprint} code />
          {redactions.length > 0 && (
            <Row
              label={t("provRedactions")}
              value={redactions.map(([kind, count]) => `${kind} × ${count}`).join(", ")}
            />
          )}
        </dl>
        <div role="status" aria-live="polite">
          {replaying.value && <p>{t("replaying")}</p>}
          {report.value && <ReplayResult report={report.value} />}
          {error.value && <p class="form-error">{error.value}</p>}
        </div>
        {upstream && <p class="hint">{t("replayUpstream")}</p>}
        <div class="dialog-actions">
          {!upstream && message.status === "complete" && (
            <button type="button" class="secondary" disabled={replaying.value} onClick={() => void replay()}>
              {t("replay")}
            </button>
          )}
          <button type="button" class="primary" onClick={() => dialog.current?.close()}>
            {t("close")}
          </button>
        </div>
      </dialog>
    </>
  );
}
