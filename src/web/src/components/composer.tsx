// The message box: Enter sends, Shift+Enter breaks the line, Esc stops; DeepThink, model, files.
import { signal, useSignal } from "@preact/signals";
import { useRef } from "preact/hooks";
import { api } from "../api/client.ts";
import type { AppModel, AttachedFile } from "../api/types.ts";
import { formatBytes, MAX_FILES, readAttachment } from "../files.ts";
import { t } from "../i18n/i18n.ts";
import { busy, notice, openChat, sendMessage, stop, updateSettings } from "../state/chat.ts";
import { deepThink, preferredModel } from "../state/prefs.ts";

export const models = signal<AppModel[]>([]);
let modelsRequested = false;
export function loadModels(force = false): void {
  if (modelsRequested && !force) return;
  modelsRequested = true;
  api.models().then(
    (answer) => (models.value = answer.data),
    () => (modelsRequested = false),
  );
}

function ModelPicker() {
  const chat = openChat.value;
  const value = chat?.conversation.settings.model || preferredModel.value;
  const ids = models.value.map((model) => model.id);
  if (value && !ids.includes(value)) ids.push(value);
  return (
    <select
      class="model-picker"
      aria-label={t("model")}
      value={value}
      onChange={(event) => {
        const model = event.currentTarget.value;
        preferredModel.value = model;
        if (chat) void updateSettings({ model: model || undefined });
      }}
    >
      <option value="">{t("defaultModel")}</option>
      {ids.map((id) => (
        <option value={id} key={id}>
          {id}
        </option>
      ))}
    </select>
  );
}

export function Composer() {
  const text = useSignal("");
  const files = useSignal<AttachedFile[]>([]);
  const reading = useSignal<string | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);

  const submit = () => {
    const content = text.value.trim();
    if (busy.value || reading.value || (!content && files.value.length === 0)) return;
    const attached = files.value;
    text.value = "";
    files.value = [];
    void sendMessage(content, attached);
  };

  const attach = async (list: FileList | null) => {
    if (!list) return;
    for (const file of Array.from(list)) {
      if (files.value.length >= MAX_FILES) {
        notice.value = t("tooManyFiles", { limit: MAX_FILES });
        break;
      }
      reading.value = t("readingFile", { name: file.name });
      const result = await readAttachment(file);
      reading.value = null;
      if ("text" in result) {
        files.value = [...files.value.filter((existing) => existing.name !== result.name), result];
        continue;
      }
      notice.value =
        result.kind === "unsupported"
          ? t("fileUnsupported", { name: result.name })
          : result.kind === "too-large"
            ? t(result.of === "pdf" ? "pdfTooLarge" : "fileTooLarge", {
                name: result.name,
                size: formatBytes(result.size),
                limit: formatBytes(result.limit),
              })
            : t("fileUnreadable", { name: result.name, reason: result.reason });
    }
    if (picker.current) picker.current.value = "";
    input.current?.focus();
  };

  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
    >
      {(files.value.length > 0 || reading.value) && (
        <ul class="file-chips">
          {files.value.map((file) => (
            <li class="file-chip" key={file.name}>
              <span>{file.name}</span>
              <button
                type="button"
                class="icon-button"
                aria-label={t("removeFile", { name: file.name })}
                onClick={() => (files.value = files.value.filter((existing) => existing !== file))}
              >
                ×
              </button>
            </li>
          ))}
          {reading.value && <li class="file-chip reading">{reading.value}</li>}
        </ul>
      )}
      <textarea
        id="composer-input"
        ref={input}
        class="composer-input"
        aria-label={t("messageInput")}
        placeholder={t("placeholder")}
        rows={1}
        value={text.value}
        onInput={(event) => {
          const element = event.currentTarget;
          text.value = element.value;
          element.style.height = "auto";
          element.style.height = `${Math.min(element.scrollHeight, 240)}px`;
        }}
        onKeyDown={(event) => {
          // While an IME is composing, Enter picks a candidate; it must not send.
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            submit();
          }
        }}
      />
      <div class="composer-bar">
        <button
          type="button"
          class={`toggle ${deepThink.value === "on" ? "on" : ""}`}
          aria-pressed={deepThink.value === "on"}
          onClick={() => (deepThink.value = deepThink.value === "on" ? "off" : "on")}
        >
          {t("deepThink")}
        </button>
        <ModelPicker />
        <span class="spacer" />
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          accept=".txt,.md,.markdown,.json,.csv,.yaml,.yml,.xml,.html,.css,.js,.ts,.tsx,.jsx,.py,.go,.rs,.java,.c,.h,.cpp,.cs,.rb,.php,.sh,.sql,.toml,.log,.pdf,text/*,application/pdf"
          onChange={(event) => void attach(event.currentTarget.files)}
          data-testid="file-input"
        />
        <button
          type="button"
          class="icon-button attach"
          aria-label={t("attach")}
          title={t("attach")}
          onClick={() => picker.current?.click()}
        >
          📎
        </button>
        {busy.value ? (
          <button type="button" class="send stop" onClick={stop} aria-label={t("stop")} title={t("stop")}>
            ■
          </button>
        ) : (
          <button
            type="submit"
            class="send"
            aria-label={t("send")}
            title={t("send")}
            disabled={!text.value.trim() && files.value.length === 0}
          >
            ↑
          </button>
        )}
      </div>
    </form>
  );
}
