/**
 * Limits on the files attached to one message in the chat app, as DeepSeek's app has them. The
 * server refuses more (requests.ts); the web app checks the same numbers first, so what it lets a
 * user attach is what the server takes. This file imports nothing: the web build imports it too.
 */
export const FILE_LIMITS = {
  /** Files attached to one message. */
  files: 10,
  /** Text of one file after extraction (a PDF's text, not its size), in UTF-8 bytes: 1 MiB. */
  textBytesPerFile: 1024 * 1024,
} as const;
