import { hermesCalls } from "./families/call-syntaxes.js";
import { ToolCallScanner } from "./families/tool-call-scanner.js";

export { TOOL_CALL_CLOSE, TOOL_CALL_OPEN } from "./families/call-syntaxes.js";
export { newToolCallId, type ToolCallPart } from "./families/json-call.js";

/**
 * Finds tool calls in a model's answer as it streams, written the way Qwen, Hermes and most open
 * models write them, and the way qiusuo's grammars make any model write them:
 *
 *   <tool_call>
 *   {"name": "get_weather", "arguments": {"city": "Paris"}}
 *   </tool_call>
 *
 * Once `"arguments":` is seen the arguments are passed on as they grow (OpenAI's
 * `tool_calls[].function.arguments` deltas). Text outside calls stays text; a call that cannot be
 * read is given back as text rather than lost. Other families' syntaxes: `families/`.
 */
export class ToolCallParser extends ToolCallScanner {
  constructor() {
    super([hermesCalls]);
  }
}
