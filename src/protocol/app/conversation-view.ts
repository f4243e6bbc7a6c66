/** A conversation as the chat app's API and qiusuo's export show it. */

/** The fields shown: everything the store keeps but the owner's id. */
export interface ConversationView {
  id: string;
  title: string;
  settings: { model?: string; systemPrompt?: string; temperature?: number };
  currentLeafId: string | null;
  createdAt: number;
  updatedAt: number;
}

/** Picks the shown fields, so a store row's user id never goes out. */
export function conversationView(conversation: ConversationView): ConversationView {
  return {
    id: conversation.id,
    title: conversation.title,
    settings: conversation.settings,
    currentLeafId: conversation.currentLeafId,
    createdAt: conversation.createdAt,
    updatedAt: conversation.updatedAt,
  };
}
