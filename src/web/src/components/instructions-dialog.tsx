// Custom instructions: what qiusuo should know about the user and how it should answer, given
// first in every reply's system prompt while switched on. A native modal dialog (Esc closes).
import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import { PROJECT_LIMITS } from "../../../protocol/app/projects.ts";
import { t } from "../i18n/i18n.ts";
import { customInstructions, instructionsOpen, saveInstructions } from "../state/projects.ts";

export function InstructionsDialog() {
  const dialog = useRef<HTMLDialogElement>(null);
  const aboutUser = useSignal("");
  const responseStyle = useSignal("");
  const enabled = useSignal(true);

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (instructionsOpen.value && !element.open) {
      const current = customInstructions.value;
      aboutUser.value = current?.aboutUser ?? "";
      responseStyle.value = current?.responseStyle ?? "";
      // Never set before: on, so what is typed applies.
      enabled.value = current ? current.enabled || (!current.aboutUser && !current.responseStyle) : true;
      element.showModal();
    }
    if (!instructionsOpen.value && element.open) element.close();
  }, [instructionsOpen.value]);

  const limit = PROJECT_LIMITS.customInstructionsChars;
  return (
    <dialog
      ref={dialog}
      class="dialog instructions-dialog"
      aria-labelledby="instructions-title"
      onClose={() => (instructionsOpen.value = false)}
    >
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          void saveInstructions({
            aboutUser: aboutUser.value,
            responseStyle: responseStyle.value,
            enabled: enabled.value,
          }).then((saved) => {
            if (saved) instructionsOpen.value = false;
          });
        }}
      >
        <h2 id="instructions-title">{t("customInstructions")}</h2>
        <p class="hint">{t("customInstructionsHint")}</p>
        <label>
          {t("instructionsAboutUser")}
          <textarea
            rows={4}
            maxLength={limit}
            value={aboutUser.value}
            onInput={(event) => (aboutUser.value = event.currentTarget.value)}
          />
        </label>
        <label>
          {t("instructionsResponseStyle")}
          <textarea
            rows={4}
            maxLength={limit}
            value={responseStyle.value}
            onInput={(event) => (responseStyle.value = event.currentTarget.value)}
          />
        </label>
        <label class="checkbox">
          <input
            type="checkbox"
            checked={enabled.value}
            onChange={(event) => (enabled.value = event.currentTarget.checked)}
          />
          {t("instructionsEnabled")}
        </label>
        <div class="dialog-actions">
          <button type="button" class="secondary" onClick={() => (instructionsOpen.value = false)}>
            {t("cancel")}
          </button>
          <button type="submit" class="primary">
            {t("save")}
          </button>
        </div>
      </form>
    </dialog>
  );
}
