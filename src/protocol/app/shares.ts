/** Share links on the wire: the request bodies, and what the owner and a visitor are shown. */
import { z } from "zod";
import { optional, parseWith } from "../validation.js";

/** `POST /api/conversations/:id/shares`: up to which message (default the branch shown), and whether to show the sharer's name. */
export const parseNewShare = (body: unknown) =>
  parseWith(
    z
      .object({
        messageId: optional(z.string().min(1).max(100)),
        showName: optional(z.boolean()),
      })
      .strict(),
    body ?? {},
  );

/** A message as the store keeps it: the fields a share reads. */
interface SourceMessage {
  role: string;
  content: string;
  reasoning: string | null;
  settings: Record<string, unknown> | null;
  usage: Record<string, unknown> | null;
}

/** A message as a shared page shows it (store/shares.ts keeps this shape). */
export interface SharedMessageView {
  role: "user" | "assistant";
  content: string;
  reasoning: string | null;
  reasoningMs: number | null;
  files: Array<{ name: string }>;
  images: Array<{ url: string; name?: string }>;
}

/**
 * The branch as a share copies it: user and assistant messages only, each without its id, model,
 * usage or provenance; attached files by name only (their text is not shown in the thread either).
 */
export function sharedMessages(branch: readonly SourceMessage[]): SharedMessageView[] {
  return branch.flatMap((message) => {
    if (message.role !== "user" && message.role !== "assistant") return [];
    const reasoningMs = message.usage?.reasoningMs;
    return [
      {
        role: message.role,
        content: message.content,
        reasoning: message.reasoning,
        reasoningMs: typeof reasoningMs === "number" ? reasoningMs : null,
        files: attachments(message.settings?.files).flatMap((file) =>
          typeof file.name === "string" ? [{ name: file.name }] : [],
        ),
        images: attachments(message.settings?.images).flatMap((image) =>
          typeof image.url === "string"
            ? [{ url: image.url, ...(typeof image.name === "string" ? { name: image.name } : {}) }]
            : [],
        ),
      },
    ];
  });
}

function attachments(value: unknown): Array<Record<string, unknown>> {
  return Array.isArray(value)
    ? value.filter((item): item is Record<string, unknown> => typeof item === "object" && item !== null)
    : [];
}

/** A link as its owner lists it. */
export interface ShareView {
  token: string;
  /** The page's path on this server: `/s/<token>`. */
  path: string;
  conversationId: string;
  messageId: string;
  title: string;
  showName: boolean;
  messageCount: number;
  createdAt: number;
}

export function shareView(share: {
  token: string;
  conversationId: string;
  messageId: string;
  title: string;
  authorName: string | null;
  messageCount: number;
  createdAt: number;
}): ShareView {
  return {
    token: share.token,
    path: `/s/${share.token}`,
    conversationId: share.conversationId,
    messageId: share.messageId,
    title: share.title,
    showName: share.authorName !== null,
    messageCount: share.messageCount,
    createdAt: share.createdAt,
  };
}

/** What anyone with the link reads: the snapshot, and the sharer's name only if they chose to show it. */
export interface PublicShareView {
  title: string;
  author: string | null;
  createdAt: number;
  messages: SharedMessageView[];
}

export function publicShareView(share: {
  title: string;
  authorName: string | null;
  createdAt: number;
  messages: SharedMessageView[];
}): PublicShareView {
  return {
    title: share.title,
    author: share.authorName,
    createdAt: share.createdAt,
    messages: share.messages,
  };
}
