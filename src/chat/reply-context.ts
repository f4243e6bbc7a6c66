/**
 * What an app reply is given beyond its conversation: the user's custom instructions and the
 * conversation's project (instructions and files), and how a reply records them so replay can
 * give the same again after they change: the instructions' text, and each file's name and
 * SHA-256 (a file's text is found again by its hash, or replay is refused).
 */
import type { Conversation, JsonObject } from "../store/conversations.js";
import type { CustomInstructions } from "../store/projects.js";
import type { Store } from "../store/store.js";
import type { PromptContext } from "./reply-request.js";

/** `provenance.context` of a reply: what it was given ahead of the conversation's system prompt. */
export interface RecordedContext {
  /** The custom instructions as applied; null when none were. */
  customInstructions: string | null;
  projectId: string | null;
  projectInstructions: string | null;
  projectFiles: Array<{ name: string; sha256: string }>;
}

/** The context of a reply in `conversation`, and its record for the reply's provenance. */
export async function loadReplyContext(
  store: Pick<Store, "projects">,
  userId: string,
  conversation: Conversation,
): Promise<{ context: PromptContext; recorded: RecordedContext }> {
  const [instructions, project] = await Promise.all([
    store.projects.instructions(userId),
    conversation.projectId === null ? undefined : store.projects.context(userId, conversation.projectId),
  ]);
  const customInstructions = customInstructionsText(instructions);
  const context: PromptContext = {
    customInstructions,
    projectInstructions: project?.instructions || undefined,
    projectFiles: project?.files,
  };
  return {
    context,
    recorded: {
      customInstructions: customInstructions ?? null,
      projectId: project?.id ?? null,
      projectInstructions: project?.instructions || null,
      projectFiles: (project?.files ?? []).map((file) => ({ name: file.name, sha256: file.sha256 })),
    },
  };
}

/**
 * The custom instructions as the model reads them: each field under a heading, as ChatGPT
 * sends its two; undefined when they are off or empty.
 */
export function customInstructionsText(instructions: CustomInstructions): string | undefined {
  if (!instructions.enabled) return undefined;
  const parts = [
    instructions.aboutUser.trim() && `About the user:\n${instructions.aboutUser.trim()}`,
    instructions.responseStyle.trim() && `How to respond:\n${instructions.responseStyle.trim()}`,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join("\n\n") : undefined;
}

/**
 * The context a reply recorded, rebuilt for replay: the recorded instructions' text, and each
 * file's text found by its SHA-256 through `fileText`. Undefined for `missing` when a file's text
 * is gone (its name is given), and an empty context for replies that recorded none.
 */
export async function recordedReplyContext(
  provenance: JsonObject,
  fileText: ((sha256: string) => Promise<string | undefined>) | undefined,
): Promise<{ context: PromptContext; missing?: { name: string; sha256: string } }> {
  const recorded = provenance.context as RecordedContext | undefined;
  if (!recorded) return { context: {} };
  const files: Array<{ name: string; text: string }> = [];
  for (const file of recorded.projectFiles ?? []) {
    const text = await fileText?.(file.sha256);
    if (text === undefined) return { context: {}, missing: file };
    files.push({ name: file.name, text });
  }
  return {
    context: {
      customInstructions: recorded.customInstructions ?? undefined,
      projectInstructions: recorded.projectInstructions ?? undefined,
      projectFiles: files,
    },
  };
}
