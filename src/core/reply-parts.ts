import type { ChatEvent, ToolCall } from "./chat.js";

/** A reply's text, reasoning, tool calls and finish, gathered from its events as they come. */
export class ReplyParts {
  content = "";
  reasoning = "";
  readonly toolCalls: ToolCall[] = [];
  finish: Extract<ChatEvent, { type: "finish" }> | undefined;

  add(event: ChatEvent): void {
    switch (event.type) {
      case "text-delta":
        this.content += event.text;
        break;
      case "reasoning-delta":
        this.reasoning += event.text;
        break;
      case "tool-call-start":
        this.toolCalls[event.index] = { id: event.id, name: event.name, arguments: "" };
        break;
      case "tool-call-delta": {
        const call = this.toolCalls[event.index];
        if (call) call.arguments += event.argumentsDelta;
        break;
      }
      case "finish":
        this.finish = event;
        break;
      case "prompt-counted":
        break; // the finish event's usage counts the prompt too
    }
  }
}

/** A tool call in DeepSeek's (OpenAI's) wire shape, as replies and stored messages carry it. */
export function wireToolCall(call: ToolCall) {
  return { id: call.id, type: "function" as const, function: { name: call.name, arguments: call.arguments } };
}
