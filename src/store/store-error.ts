/** Errors the store throws, each with a stable `code`; the layers above map them to their own. */
export type StoreErrorCode =
  /** A user with that name already exists. */
  | "user_exists"
  /** No user has that id or name. */
  | "user_not_found"
  /** The change would leave no active admin. */
  | "last_admin"
  /** A key name matches more than one active key; revoke it by id. */
  | "api_key_ambiguous"
  /** A message's parent is not a message of the same conversation. */
  | "message_parent_invalid"
  /** A list cursor is not one the list handed out. */
  | "cursor_invalid"
  /** An MCP server with that name is already registered. */
  | "mcp_server_exists";

export class StoreError extends Error {
  override readonly name = "StoreError";
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
  }
}
