/**
 * PII redaction before remote models (src/privacy/): each detector with its positives and
 * near-misses, placeholders stable within a request, streaming restoration, and properties
 * (fast-check): generated valid cards, IDs and IBANs in random Chinese/English text are always
 * redacted and restored exactly; streaming restoration equals whole restoration for every
 * chunking; random digit strings that fail Luhn are never read as cards.
 *
 * The standing run is a few hundred cases per property. To run more by hand:
 *   QIUSUO_FUZZ_RUNS=20000 node --import tsx --test test/unit/redaction.test.ts
 * sets the runs of every property; QIUSUO_FUZZ_SEED replays the seed a failure printed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ChatEvent, ChatRequest } from "../../src/core/chat.js";
import { findPii, isValidCnId, isValidIban, luhnValid, type PiiKind } from "../../src/privacy/detectors.js";
import { redactChatRequest, redactCompletionRequest, RedactionSession } from "../../src/privacy/redaction.js";
import { PlaceholderRestorer, restoreEvents } from "../../src/privacy/restore-stream.js";
import {
  badIbanChecksum,
  formatCard,
  formatIban,
  invalidDateId,
  luhnFailing,
  seededRandom,
  validCard,
  validCnId,
  validEmail,
  validIban,
  validMobile,
  wrongIdCheck,
  type Random,
} from "../support/pii-values.js";
import { chatRequest as baseChatRequest } from "../support/chat-request.js";

const RUNS_OVERRIDE = process.env.QIUSUO_FUZZ_RUNS ? Number(process.env.QIUSUO_FUZZ_RUNS) : undefined;
const SEED = process.env.QIUSUO_FUZZ_SEED ? Number(process.env.QIUSUO_FUZZ_SEED) : undefined;

/** fast-check's options for a property run `standing` times unless QIUSUO_FUZZ_RUNS says otherwise. */
const runs = (standing: number) => ({
  numRuns: RUNS_OVERRIDE ?? standing,
  ...(SEED === undefined ? {} : { seed: SEED }),
});

/** What `findPii` finds in `text`, as `[kind, text]` pairs. */
function found(text: string): Array<[PiiKind, string]> {
  return findPii(text).map((match) => [match.kind, text.slice(match.start, match.end)]);
}

const random = seededRandom(14);

function chatRequest(messages: ChatRequest["messages"], extra: Partial<ChatRequest> = {}): ChatRequest {
  return baseChatRequest({ model: "pool/model", messages, ...extra });
}

describe("detectors", () => {
  it("bank cards: Luhn-valid 13-19 digits, compact or grouped; Luhn failures and longer runs are left alone", () => {
    assert.deepEqual(found("卡号 4111 1111 1111 1111，有效期 12/26"), [["card", "4111 1111 1111 1111"]]);
    assert.deepEqual(found("card 5500-0000-0000-0004 paid 2025"), [["card", "5500-0000-0000-0004"]]);
    assert.deepEqual(found("银联卡6222021234567890128结尾"), found("银联卡6222021234567890128结尾"));
    assert.deepEqual(found("Amex 378282246310005."), [["card", "378282246310005"]]);
    assert.deepEqual(found("card 4111111111111112 (a typo)"), []);
    assert.deepEqual(found("serial 41111111111111110000 and ORD4111111111111111 and 4111111111111111a"), []);
    // Timestamps in milliseconds and ISBNs are not cards even when Luhn happens to pass.
    const timestamp = "170406720012";
    const luhnTimestamp = timestamp + [..."0123456789"].find((digit) => luhnValid(timestamp + digit))!;
    assert.deepEqual(found(`at ${luhnTimestamp} ms`), []);
    assert.deepEqual(found("ISBN 978-7-111-54742-6, 9787111547426"), []);
    assert.deepEqual(found("pi = 3.1415926535897932384"), []);
  });

  it("mainland ID numbers: region, birth date and check digit (X included)", () => {
    assert.deepEqual(found("身份证号11010519491231002X谢谢"), [["cn_id", "11010519491231002X"]]);
    assert.deepEqual(found("ID: 11010519491231002x."), [["cn_id", "11010519491231002x"]]);
    assert.ok(isValidCnId("11010519491231002X"));
    assert.equal(isValidCnId("110105194912310021"), false, "wrong check digit");
    assert.equal(isValidCnId(invalidDateId(random)), false, "February 30th");
    assert.equal(isValidCnId("991050194912310027"), false, "no such province");
    assert.deepEqual(found("身份证110105194912310021"), [], "wrong check digit in text");
    const id = validCnId(random);
    assert.deepEqual(found(`编号A${id}`), [], "glued to a word");
    assert.deepEqual(found(`编号${id}7`), [], "inside a longer run");
  });

  it("phones: CN mobiles with +86/0086 and separators, E.164", () => {
    assert.deepEqual(found("电话13800138000或139-0013-9000"), [
      ["phone", "13800138000"],
      ["phone", "139-0013-9000"],
    ]);
    assert.deepEqual(found("call +86 138 0013 8000 or 0086 13900139000"), [
      ["phone", "+86 138 0013 8000"],
      ["phone", "0086 13900139000"],
    ]);
    assert.deepEqual(found("US office +1 415 555 2671, UK +442079460958."), [
      ["phone", "+1 415 555 2671"],
      ["phone", "+442079460958"],
    ]);
    assert.deepEqual(found("order 12800138000 and 138001380001 and v13800138000"), [], "not mobiles");
    assert.deepEqual(found("+86 10 plus 1234"), [], "too short for E.164");
  });

  it("e-mail addresses, Chinese text around them without spaces", () => {
    assert.deepEqual(found("请发到alice@example.com谢谢"), [["email", "alice@example.com"]]);
    assert.deepEqual(found("mail bob.smith+x@mail.example.cn."), [["email", "bob.smith+x@mail.example.cn"]]);
    assert.deepEqual(found("QQ邮箱13800138000@qq.com"), [["email", "13800138000@qq.com"]], "not a phone too");
    assert.deepEqual(found("not@an address, a@b, @handle, x@localhost"), []);
  });

  it("IBANs: mod-97 and country length, compact or in groups; bad checksums and other codes are left alone", () => {
    assert.deepEqual(found("IBAN DE89 3704 0044 0532 0130 00 AND more"), [
      ["iban", "DE89 3704 0044 0532 0130 00"],
    ]);
    assert.deepEqual(found("转账到GB82WEST12345698765432谢谢"), [["iban", "GB82WEST12345698765432"]]);
    assert.ok(isValidIban("GB82WEST12345698765432"));
    assert.equal(isValidIban("GB83WEST12345698765432"), false);
    assert.equal(isValidIban("DE8937040044053201300"), false, "one character short for DE");
    assert.deepEqual(found(`bad ${badIbanChecksum(validIban(random))} ok`), []);
    assert.deepEqual(found("SWIFT DEUTDEFF, part AB12 3456, ISO 8601"), []);
  });
});

describe("redaction and restoration", () => {
  it("gives a value the same placeholder everywhere in a request, and restores the reply", () => {
    const email = "alice@example.com";
    const card = "4111 1111 1111 1111";
    const { request, session } = redactChatRequest(
      chatRequest(
        [
          { role: "system", content: `Support address: ${email}` },
          { role: "user", content: `我的卡号是${card}，邮箱${email}，另一个 bob@example.org` },
          {
            role: "assistant",
            content: "",
            toolCalls: [
              { id: "call_1", name: "lookup", arguments: JSON.stringify({ card: "4111111111111111" }) },
            ],
          },
          { role: "tool", content: `{"owner":"${email}"}`, toolCallId: "call_1" },
          { role: "user", content: "describe this", images: [{ url: "data:image/png;base64,AAAA" }] },
        ],
        { stop: [email] },
      ),
    );
    const texts = JSON.stringify(request);
    assert.ok(!texts.includes(email) && !texts.includes("4111"), texts);
    assert.equal(request.messages[0]!.content, "Support address: [EMAIL_1]");
    assert.equal(request.messages[1]!.content, "我的卡号是[CARD_1]，邮箱[EMAIL_1]，另一个 [EMAIL_2]");
    const call = request.messages[2]!.role === "assistant" ? request.messages[2]!.toolCalls![0]! : undefined;
    assert.deepEqual(JSON.parse(call!.arguments), { card: "[CARD_1]" }, "the same card written compact");
    assert.equal(request.messages[3]!.content, '{"owner":"[EMAIL_1]"}');
    assert.deepEqual(request.stop, ["[EMAIL_1]"]);
    const images = request.messages[4]!.role === "user" ? request.messages[4]!.images : undefined;
    assert.deepEqual(images, [{ url: "data:image/png;base64,AAAA" }], "images pass as they are");
    assert.deepEqual(session.counts(), { card: 1, email: 2 });
    assert.equal(
      session.restore("Sent [CARD_1] to [EMAIL_2]; [EMAIL_9] and [PHONE_1] were never issued."),
      `Sent ${card} to bob@example.org; [EMAIL_9] and [PHONE_1] were never issued.`,
    );
  });

  it("keeps placeholder-shaped text the client sent and numbers around it", () => {
    const { request, session } = redactChatRequest(
      chatRequest([{ role: "user", content: "template [EMAIL_1] goes to carol@example.com" }]),
    );
    assert.equal(request.messages[0]!.content, "template [EMAIL_1] goes to [EMAIL_2]");
    assert.equal(session.restore("[EMAIL_1] [EMAIL_2]"), "[EMAIL_1] carol@example.com");
    assert.deepEqual(session.counts(), { email: 1 });
  });

  it("numbers a conversation's values the same way on every turn", () => {
    const first = [{ role: "user" as const, content: "我的电话13800138000，邮箱dave@example.com" }];
    const turn1 = redactChatRequest(chatRequest(first)).request;
    const turn2 = redactChatRequest(
      chatRequest([
        ...first,
        { role: "assistant", content: "好的，13800138000已记录" },
        { role: "user", content: "再加 erin@example.com" },
      ]),
    ).request;
    assert.equal(turn2.messages[0]!.content, turn1.messages[0]!.content);
    assert.equal(turn2.messages[1]!.content, "好的，[PHONE_1]已记录");
    assert.equal(turn2.messages[2]!.content, "再加 [EMAIL_2]");
  });

  it("redacts a FIM request's prompt and suffix", () => {
    const { request, session } = redactCompletionRequest({
      model: "m",
      prompt: "const owner = 'frank@example.com';\n",
      suffix: "// card 4111111111111111\n",
      sampling: { temperature: 0, topP: 1, seed: 1, frequencyPenalty: 0, presencePenalty: 0 },
      maxTokens: 8,
      stop: [],
      logprobs: undefined,
    });
    assert.equal(request.prompt, "const owner = '[EMAIL_1]';\n");
    assert.equal(request.suffix, "// card [CARD_1]\n");
    assert.deepEqual(session.counts(), { card: 1, email: 1 });
  });

  it("restores placeholders split across deltas, per channel, and puts the counts on finish", async () => {
    const { session } = redactChatRequest(
      chatRequest([{ role: "user", content: "mail grace@example.com, card 4111111111111111" }]),
    );
    async function* upstream(): AsyncGenerator<ChatEvent> {
      yield { type: "reasoning-delta", text: "need [EM" };
      yield { type: "reasoning-delta", text: "AIL_1]" };
      yield { type: "text-delta", text: "Sending to [" };
      yield { type: "text-delta", text: "EMAIL_" };
      yield { type: "text-delta", text: "1] and [CA" };
      yield { type: "tool-call-start", index: 0, id: "call_1", name: "pay" };
      yield { type: "tool-call-delta", index: 0, argumentsDelta: '{"card":"[CARD' };
      yield { type: "tool-call-delta", index: 0, argumentsDelta: '_1]","to":"[EMAIL_7]"}' };
      yield {
        type: "finish",
        finishReason: "tool_calls",
        usage: { promptTokens: 1, promptCacheHitTokens: 0, completionTokens: 1, reasoningTokens: 0 },
      };
    }
    const out: ChatEvent[] = [];
    for await (const event of restoreEvents(upstream(), session)) out.push(event);
    const text = (type: ChatEvent["type"]) =>
      out
        .map((event) =>
          event.type !== type
            ? ""
            : event.type === "tool-call-delta"
              ? event.argumentsDelta
              : "text" in event
                ? event.text
                : "",
        )
        .join("");
    assert.equal(text("reasoning-delta"), "need grace@example.com");
    // The content's held `[CA` is let go when the tool call starts: it was never a placeholder.
    assert.equal(text("text-delta"), "Sending to grace@example.com and [CA");
    assert.equal(text("tool-call-delta"), '{"card":"4111111111111111","to":"[EMAIL_7]"}');
    const contentEnd = out.findIndex((event) => event.type === "tool-call-start");
    assert.ok(
      out.slice(contentEnd).every((event) => event.type !== "text-delta"),
      "content flushed before the call",
    );
    const finish = out.at(-1)!;
    assert.equal(finish.type, "finish");
    assert.deepEqual(finish.type === "finish" ? finish.redactions : undefined, { card: 1, email: 1 });
  });

  it("omits redactions from finish when nothing was redacted", async () => {
    const session = new RedactionSession();
    session.redact("nothing here");
    async function* upstream(): AsyncGenerator<ChatEvent> {
      yield { type: "text-delta", text: "ok [" };
      yield {
        type: "finish",
        finishReason: "stop",
        usage: { promptTokens: 1, promptCacheHitTokens: 0, completionTokens: 1, reasoningTokens: 0 },
      };
    }
    const out: ChatEvent[] = [];
    for await (const event of restoreEvents(upstream(), session)) out.push(event);
    assert.deepEqual(out[0], { type: "text-delta", text: "ok [" });
    assert.ok(out[1]!.type === "finish" && !("redactions" in out[1]!));
  });
});

// --- properties --------------------------------------------------------------------------------

/** Text around values: Chinese and English words, punctuation, brackets, a placeholder look-alike. */
const FILLER = fc.array(
  fc.constantFrom(
    "请",
    "把",
    "发到",
    "谢谢",
    "我的",
    "号码是",
    "。",
    "，",
    "：",
    "the",
    "card",
    "number",
    "is",
    "please",
    " ",
    " ",
    "\n",
    "(",
    ")",
    "[",
    "]",
    "[EMAIL_1]",
    "[CARD_",
    "版本 v2.3",
    "第 3 页",
  ),
  { maxLength: 12 },
);
const BOUNDARY = fc.constantFrom(" ", "，", "：", "\n", "（", "）", "、");

/** A valid value of a kind, as people write it, from a seed. */
function valueFor(kind: "card" | "cn_id" | "iban" | "email" | "phone", source: Random): string {
  if (kind === "card") return formatCard(source, validCard(source));
  if (kind === "cn_id") return validCnId(source);
  if (kind === "iban") return formatIban(source, validIban(source));
  if (kind === "email") return validEmail(source);
  return validMobile(source);
}

const DOCUMENT = fc
  .array(
    fc.record({
      before: FILLER,
      kind: fc.constantFrom(
        "card" as const,
        "cn_id" as const,
        "iban" as const,
        "email" as const,
        "phone" as const,
      ),
      seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      left: BOUNDARY,
      right: BOUNDARY,
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((parts) => {
    let text = "";
    const values: Array<{ kind: PiiKind; value: string }> = [];
    for (const part of parts) {
      const value = valueFor(part.kind, seededRandom(part.seed));
      values.push({ kind: part.kind, value });
      text += part.before.join("") + part.left + value + part.right;
    }
    return { text, values };
  });

describe("redaction properties", () => {
  it("redacts every generated value in zh/en text, and restore(redact(text)) is the text", () => {
    fc.assert(
      fc.property(DOCUMENT, ({ text, values }) => {
        const session = new RedactionSession();
        session.reserve(text);
        const redacted = session.redact(text);
        for (const { value } of values) assert.ok(!redacted.includes(value), `${value} left in ${redacted}`);
        assert.equal(session.restore(redacted), text);
        const kinds = new Set(values.map((value) => value.kind));
        for (const kind of kinds) assert.ok((session.counts()[kind] ?? 0) >= 1, `${kind} counted`);
      }),
      runs(400),
    );
  });

  it("streaming restoration equals whole restoration for every chunking", () => {
    fc.assert(
      fc.property(
        DOCUMENT,
        fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 30 }),
        fc.array(fc.constantFrom("[EMAIL_9]", "[CARD_1", "[CN_ID_", "]", "[", "好"), { maxLength: 4 }),
        ({ text }, cuts, invented) => {
          const session = new RedactionSession();
          session.reserve(text);
          // A reply that repeats the redacted text, with placeholders the model made up around it.
          const reply = invented.join("") + session.redact(text) + invented.join("");
          const points = [...new Set(cuts.map((cut) => cut % (reply.length + 1)))].sort((a, b) => a - b);
          const restorer = new PlaceholderRestorer(session);
          let streamed = "";
          let from = 0;
          for (const point of [...points, reply.length]) {
            streamed += restorer.push(reply.slice(from, point));
            from = point;
          }
          streamed += restorer.flush();
          assert.equal(streamed, session.restore(reply));
        },
      ),
      runs(400),
    );
  });

  it("never reads a random digit string that fails Luhn as a card", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[2-6][0-9]{12,18}$/),
        fc.constantFrom("", " ", "卡号", "no. ", "："),
        (digits, before) => {
          fc.pre(!luhnValid(digits));
          assert.ok(!findPii(`${before}${digits}`).some((match) => match.kind === "card"));
          // Grouped, a part of it may be a valid card beside another number (`4111 1111 1111
          // 1111 2025`, as a person might write); the whole never is.
          const grouped = digits.match(/.{1,4}/g)!.join(" ");
          const text = `${before}${grouped}`;
          assert.ok(
            !findPii(text).some(
              (match) => match.kind === "card" && match.start === before.length && match.end === text.length,
            ),
            grouped,
          );
        },
      ),
      runs(1000),
    );
  });

  it("leaves a valid card with one digit changed alone (near misses)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const source = seededRandom(seed);
        const broken = luhnFailing(source, validCard(source));
        assert.ok(!found(`card ${broken} end`).some(([kind]) => kind === "card"));
        const id = validCnId(source);
        assert.ok(!found(`ID ${wrongIdCheck(source, id)} end`).some(([kind]) => kind === "cn_id"));
      }),
      runs(400),
    );
  });
});
