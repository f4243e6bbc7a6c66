import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StopMatcher } from "../../src/core/stop-matcher.js";

function run(stops: string[], chunks: string[]) {
  const matcher = new StopMatcher(stops);
  let text = "";
  let stopped = false;
  for (const chunk of chunks) {
    const result = matcher.push(chunk);
    text += result.text;
    if (result.stopped) {
      stopped = true;
      break;
    }
  }
  if (!stopped) text += matcher.flush();
  return { text, stopped };
}

describe("StopMatcher", () => {
  it("cuts before the stop text, split across chunks", () => {
    assert.deepEqual(run(["END"], ["abc E", "N", "D more"]), { text: "abc ", stopped: true });
    assert.deepEqual(run(["END"], [..."xyENDz"]), { text: "xy", stopped: true });
  });

  it("releases held text that turned out not to be a stop", () => {
    const matcher = new StopMatcher(["END"]);
    assert.deepEqual(matcher.push("abc EN"), { text: "abc ", stopped: false });
    assert.deepEqual(matcher.push("X"), { text: "ENX", stopped: false });
  });

  it("picks the earliest of several stops", () => {
    assert.deepEqual(run(["world", "lo"], ["hello world"]), { text: "hel", stopped: true });
  });

  it("flushes held text when generation ends without a match", () => {
    assert.deepEqual(run(["END"], ["the E"]), { text: "the E", stopped: false });
  });

  it("passes everything through without stops", () => {
    assert.deepEqual(run([], ["a", "b"]), { text: "ab", stopped: false });
  });
});
