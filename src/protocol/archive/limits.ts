/**
 * What one import may hold. Each limit bounds the work an import costs (which is linear in each
 * of them) and is far above what a real export holds; past any of them the file is refused with
 * `import_too_large`, naming the limit, before the work it would cost is done.
 */
import { MAX_JSON_DEPTH } from "../validation.js";
import { ArchiveError } from "./archive-error.js";
import type { ImportedConversation } from "./imported-conversation.js";

export interface ImportLimits {
  /** Conversations in one import. Default 10,000. */
  conversations: number;
  /** Messages kept, over all conversations. Default 100,000. */
  messages: number;
  /**
   * Source nodes, kept or dropped, over all conversations. ChatGPT's tree holds a few hidden,
   * tool and thinking nodes per message, each read and then dropped. Default 400,000.
   */
  nodes: number;
  /**
   * Source nodes in one conversation. Listing the keys of a `mapping` is one call that cannot
   * share the event loop, and it grows faster than the mapping: 100,000 keys take tens of ms,
   * 400,000 a few hundred. Default 100,000.
   */
  conversationNodes: number;
  /**
   * Characters (UTF-16 units) of content and reasoning over all messages. Reasoning that
   * ChatGPT's thoughts hand to every reply below them counts once per reply, so a file cannot
   * make the store write far more than it sent. Default 64 Mi, twice the 32 MB body limit.
   */
  textLength: number;
  /**
   * Nesting of arrays and objects in what is kept as it is (a message's settings, usage,
   * provenance, tool-call arguments), which is later walked by recursion (`JSON.stringify`, chat
   * templates). The rest of the file is read at fixed depths. Default 64, as for requests.
   */
  jsonDepth: number;
}

export const IMPORT_LIMITS: Readonly<ImportLimits> = {
  conversations: 10_000,
  messages: 100_000,
  nodes: 400_000,
  conversationNodes: 100_000,
  textLength: 64 * 1024 * 1024,
  jsonDepth: MAX_JSON_DEPTH,
};

const SPLIT = "Split the file and import the parts.";

/** Counts what an import has read so far and throws `import_too_large` past a limit. */
export class ImportBudget {
  private nodes = 0;
  private messages = 0;
  private textLength = 0;

  constructor(readonly limits: Readonly<ImportLimits>) {}

  /** Before reading the conversations: how many there are. */
  checkConversations(count: number): void {
    if (count > this.limits.conversations) {
      throw tooLarge(
        `The file holds ${count} conversations; an import takes at most ${this.limits.conversations}.`,
      );
    }
  }

  /** Before reading a conversation: its source nodes, kept or not. */
  addNodes(count: number, where: string): void {
    if (count > this.limits.conversationNodes) {
      throw tooLarge(
        `${where} holds ${count} message-tree nodes; a conversation can have at most ${this.limits.conversationNodes}.`,
      );
    }
    this.nodes += count;
    if (this.nodes > this.limits.nodes) {
      throw tooLarge(
        `The file holds more than ${this.limits.nodes} message-tree nodes (messages and the hidden, tool ` +
          `and thinking nodes around them); an import takes at most ${this.limits.nodes}. ${SPLIT}`,
      );
    }
  }

  /** After reading a conversation: its messages and their text. */
  addConversation(conversation: ImportedConversation): void {
    this.messages += conversation.messages.length;
    if (this.messages > this.limits.messages) {
      throw tooLarge(
        `The file holds more than ${this.limits.messages} messages; an import takes at most ${this.limits.messages}. ${SPLIT}`,
      );
    }
    for (const message of conversation.messages) {
      this.textLength += message.content.length + (message.reasoning?.length ?? 0);
    }
    if (this.textLength > this.limits.textLength) {
      throw tooLarge(
        `The messages hold more than ${this.limits.textLength} characters of text; an import takes at most ` +
          `${this.limits.textLength}. ${SPLIT}`,
      );
    }
  }
}

function tooLarge(message: string): ArchiveError {
  return new ArchiveError("import_too_large", message);
}
