// A button that copies a text to the clipboard and says "Copied" for a moment.
import { useSignal } from "@preact/signals";
import { t } from "../i18n/i18n.ts";

export function CopyButton({ text, class: className }: { text: string; class: string }) {
  const copied = useSignal(false);
  return (
    <button
      type="button"
      class={className}
      onClick={() =>
        void navigator.clipboard.writeText(text).then(
          () => {
            copied.value = true;
            setTimeout(() => (copied.value = false), 1500);
          },
          () => undefined,
        )
      }
    >
      {copied.value ? t("copied") : t("copy")}
    </button>
  );
}
