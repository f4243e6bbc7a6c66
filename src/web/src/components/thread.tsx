// The visible branch of the open conversation. Long chats render their last messages first and
// earlier ones on demand, so a 1,000-message conversation opens as fast as a short one.
import { useComputed, useSignal } from "@preact/signals";
import { useEffect, useLayoutEffect, useMemo, useRef } from "preact/hooks";
import { t } from "../i18n/i18n.ts";
import { chatLoading, live, openChat } from "../state/chat.ts";
import { buildTree, siblingsOf, threadTo } from "../state/tree.ts";
import { MessageView, type Branches } from "./message-view.tsx";

const PAGE = 40;

export function Thread() {
  const chat = openChat.value;
  const liveId = useComputed(() => live.value?.messageId ?? null).value;
  const shown = useSignal(PAGE);
  const scroller = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  const conversationId = chat?.conversation.id ?? null;

  const tree = useMemo(() => buildTree(chat?.messages ?? []), [chat?.messages]);
  const thread = useMemo(() => threadTo(tree, chat?.leafId ?? null), [tree, chat?.leafId]);

  useLayoutEffect(() => {
    shown.value = PAGE;
    pinned.current = true;
  }, [conversationId]);

  // New messages, and each streamed token, keep the view at the bottom unless the reader scrolled up.
  useLayoutEffect(() => {
    if (pinned.current && scroller.current) scroller.current.scrollTop = scroller.current.scrollHeight;
  }, [thread, conversationId]);
  useEffect(
    () =>
      live.subscribe(() => {
        requestAnimationFrame(() => {
          const element = scroller.current;
          if (pinned.current && element) element.scrollTop = element.scrollHeight;
        });
      }),
    [],
  );

  if (!chat) return null;
  const start = Math.max(0, thread.length - shown.value);
  const visible = thread.slice(start);

  const showEarlier = () => {
    const element = scroller.current;
    const before = element ? element.scrollHeight - element.scrollTop : 0;
    shown.value += PAGE * 2;
    // Keep the reader's place: restore the distance from the bottom after the earlier messages appear.
    requestAnimationFrame(() => {
      if (element) element.scrollTop = element.scrollHeight - before;
    });
  };

  return (
    <div
      class="thread-scroll"
      ref={scroller}
      onScroll={(event) => {
        const element = event.currentTarget;
        pinned.current = element.scrollHeight - element.scrollTop - element.clientHeight < 80;
      }}
    >
      <div class="thread" aria-live="off" aria-busy={chatLoading.value ? "true" : "false"}>
        {start > 0 && (
          <button type="button" class="secondary show-earlier" onClick={showEarlier}>
            {t("showEarlier")}
          </button>
        )}
        {visible.map((message) => {
          const { siblings, index } = siblingsOf(tree, message);
          const branches: Branches = {
            index,
            count: siblings.length,
            previous: siblings[index - 1]?.id ?? null,
            next: siblings[index + 1]?.id ?? null,
          };
          return (
            <MessageView
              key={message.id}
              message={message}
              branches={branches}
              isLive={message.id === liveId}
            />
          );
        })}
      </div>
    </div>
  );
}
