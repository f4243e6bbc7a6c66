// Per-conversation system prompt and temperature, in a native modal dialog (focus kept inside, Esc closes).
import { useSignal } from "@preact/signals";
import { useRef } from "preact/hooks";
import { t } from "../i18n/i18n.ts";
import { openChat, updateSettings } from "../state/chat.ts";

export function ChatSettingsButton() {
  const dialog = useRef<HTMLDialogElement>(null);
  const systemPrompt = useSignal("");
  const temperature = useSignal("");
  const chat = openChat.value;
  if (!chat) return null;

  const open = () => {
    systemPrompt.value = chat.conversation.settings.systemPrompt ?? "";
    const value = chat.conversation.settings.temperature;
    temperature.value = value === undefined ? "" : String(value);
    dialog.current?.showModal();
  };

  return (
    <>
      <button type="button" class="secondary" onClick={open}>
        {t("chatSettings")}
      </button>
      <dialog ref={dialog} class="dialog" aria-labelledby="chat-settings-title">
        <form
          method="dialog"
          onSubmit={() => {
            const number = temperature.value.trim() === "" ? undefined : Number(temperature.value);
            void updateSettings({
              systemPrompt: systemPrompt.value,
              temperature: number !== undefined && Number.isFinite(number) ? number : undefined,
            });
          }}
        >
          <h2 id="chat-settings-title">{t("chatSettings")}</h2>
          <label>
            {t("systemPrompt")}
            <textarea
              rows={5}
              value={systemPrompt.value}
              onInput={(event) => (systemPrompt.value = event.currentTarget.value)}
            />
          </label>
          <label>
            {t("temperature")}
            <input
              type="number"
              min={0}
              max={2}
              step={0.1}
              value={temperature.value}
              aria-describedby="temperature-hint"
              onInput={(event) => (temperature.value = event.currentTarget.value)}
            />
          </label>
          <p id="temperature-hint" class="hint">
            {t("temperatureHint")}
          </p>
          <div class="dialog-actions">
            <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
              {t("cancel")}
            </button>
            <button type="submit" class="primary">
              {t("save")}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
