/**
 * Projects and custom instructions in the chat app's API: their limits and the shapes the API
 * shows. The server refuses more than the limits (requests.ts); the web app checks the same
 * numbers first. This file imports nothing: the web build imports it too.
 */
export const PROJECT_LIMITS = {
  /** Characters of a project's name. */
  nameChars: 100,
  /** Characters of a project's instructions. */
  instructionsChars: 8_000,
  /** Characters of each of the two custom instruction fields (ChatGPT allows 1,500). */
  customInstructionsChars: 4_000,
  /** Files in one project. */
  files: 20,
  /** Text of one file after extraction, in UTF-8 bytes: as for a message's attachment, 1 MiB. */
  textBytesPerFile: 1024 * 1024,
  /**
   * Text of all of a project's files together, in UTF-8 bytes: 2 MiB, several times what a
   * 128k-token context holds, since every reply in the project is given all of it.
   */
  totalTextBytes: 2 * 1024 * 1024,
} as const;

export interface ProjectView {
  id: string;
  name: string;
  instructions: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
}

export interface ProjectFileView {
  id: string;
  name: string;
  /** The extracted text's size in UTF-8 bytes. */
  bytes: number;
  sha256: string;
  createdAt: number;
}

export interface ProjectDetailView extends ProjectView {
  files: ProjectFileView[];
  /** How many conversations are in the project. */
  conversations: number;
}

export interface CustomInstructionsView {
  /** What qiusuo should know about the user. */
  aboutUser: string;
  /** How qiusuo should answer. */
  responseStyle: string;
  /** Whether replies get them. */
  enabled: boolean;
}

/** A conversation's place in the app beyond the exported fields: its project and pin. */
export interface ConversationPlacement {
  projectId: string | null;
  /** When it was pinned, in ms; null when not pinned. */
  pinnedAt: number | null;
}
