// Per-conversation system prompt and temperature, in a native modal dialog (focus kept inside, Esc
// closes), below what else every reply gets: the custom instructions and the chat's project.
import { useSignal } from "@preact/signals";
import { useRef } from "preact/hooks";
import { displayChinese, t } from "../i18n/i18n.ts";
import { openChat, updateSettings } from "../state/chat.ts";
import { customInstructions, instructionsOpen, projects } from "../state/projects.ts";
import { navigate } from "../state/router.ts";

/** What replies get before the system prompt, read-only, with links to where each is edited. */
function AppliedContext({ onLeave }: { onLeave: () => void }) {
  const instructions = customInstructions.value;
  const projectId = openChat.value?.conversation.projectId;
  const project = projectId ? projects.value.find((entry) => entry.id === projectId) : undefined;
  const applied =
    instructions?.enabled && (instructions.aboutUser.trim() || instructions.responseStyle.trim());
  return (
    <section class="applied-context" aria-labelledby="applied-instructions-title">
      <h3 id="applied-instructions-title">{t("customInstructions")}</h3>
      {applied ? (
        <dl class="applied-instructions">
          {instructions.aboutUser.trim() && (
            <>
              <dt>{t("instructionsAboutUser")}</dt>
              <dd>{instructions.aboutUser}</dd>
            </>
          )}
          {instructions.responseStyle.trim() && (
            <>
              <dt>{t("instructionsResponseStyle")}</dt>
              <dd>{instructions.responseStyle}</dd>
            </>
          )}
        </dl>
      ) : (
        <p class="hint">{t("instructionsNoneApplied")}</p>
      )}
      <button
        type="button"
        class="link-button"
        onClick={() => {
          onLeave();
          instructionsOpen.value = true;
        }}
      >
        {t("editCustomInstructions")}
      </button>
      {project && (
        <p class="hint">
          {t("projectAppliesHint")}{" "}
          <a
            href={`/p/${encodeURIComponent(project.id)}`}
            onClick={(event) => {
              event.preventDefault();
              onLeave();
              navigate(`/p/${encodeURIComponent(project.id)}`);
            }}
          >
            {displayChinese(project.name)}
          </a>
        </p>
      )}
    </section>
  );
}

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
          <AppliedContext onLeave={() => dialog.current?.close()} />
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
