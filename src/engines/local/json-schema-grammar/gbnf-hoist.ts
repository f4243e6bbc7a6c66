/**
 * Keeps grammars within llama.cpp's parser guard. When llama.cpp parses `( ... )` followed by a
 * repetition (`?`, `*`, `+`, `{m,n}`), it multiplies the rules the group generated (one per nested
 * group, one per optional copy of every repetition inside) by the repetition count and refuses the
 * whole grammar at 2000 ("number of rules that are going to be repeated multiplied by the new
 * repetition exceeds sane defaults"). A rule reference counts as one, so such groups are moved into
 * rules of their own: same language, and the guard no longer trips (an object with 40 properties
 * named alike and `additionalProperties` as a schema used to be refused this way).
 */

/** llama.cpp refuses at 2000; groups are hoisted well before, since the count here is an estimate. */
const HOIST_AT = 500;

type Alternatives = Item[][];

interface Item {
  /** Raw text of a literal, character class or rule name; or a group's alternatives. */
  atom: string | Alternatives;
  /** Repetition operators after the atom, as written (`?`, `{2,5}`...). */
  quantifiers: string[];
}

/** Rule name → body; bodies whose heavy groups were hoisted are replaced, new rules added. */
export function hoistHeavyGroups(
  rules: Map<string, string>,
  newRule: (hint: string, body: string) => string,
): void {
  for (const [name, body] of [...rules]) {
    if (!/\)\s*[?*+{]/.test(body)) continue;
    const parsed = new BodyParser(body).parse();
    let hoisted = false;
    const visit = (alternatives: Alternatives): number => {
      let generated = 0;
      for (const sequence of alternatives) {
        for (const item of sequence) {
          let previous = 1;
          if (typeof item.atom !== "string") {
            previous = 1 + visit(item.atom);
            generated += previous;
          } else if (/^[A-Za-z0-9-]+$/.test(item.atom)) {
            generated += 1; // a rule name seen for the first time adds a symbol
          }
          for (const quantifier of item.quantifiers) {
            const { optionalCopies, total } = repetition(quantifier);
            if (typeof item.atom !== "string" && previous * total >= HOIST_AT) {
              item.atom = newRule(`${name}-part`, print(item.atom));
              hoisted = true;
              generated -= previous - 1;
              previous = 1;
            }
            generated += optionalCopies;
            previous *= Math.max(total, 1);
          }
        }
      }
      return generated;
    };
    visit(parsed);
    if (hoisted) rules.set(name, print(parsed));
  }
}

/** What llama.cpp's handle_repetitions makes of a quantifier: rules generated, repetition factor. */
function repetition(quantifier: string): { optionalCopies: number; total: number } {
  if (quantifier === "?") return { optionalCopies: 1, total: 1 };
  if (quantifier === "*" || quantifier === "+") return { optionalCopies: 1, total: 1 };
  const match = /^\{(\d+)(,(\d*))?\}$/.exec(quantifier);
  if (!match) return { optionalCopies: 1, total: 1 };
  const min = Number(match[1]);
  const max = match[2] === undefined ? min : match[3] === "" ? undefined : Number(match[3]);
  return {
    optionalCopies: max === undefined ? 1 : max - min,
    total: max !== undefined && max > 0 ? max : min > 0 ? min : 1,
  };
}

function print(alternatives: Alternatives): string {
  return alternatives
    .map((sequence) =>
      sequence
        .map((item) => {
          const atom = typeof item.atom === "string" ? item.atom : `(${print(item.atom)})`;
          return atom + item.quantifiers.join("");
        })
        .join(" "),
    )
    .join(" | ");
}

/** Parses the GBNF bodies GbnfBuilder writes (literals, classes, names, groups, quantifiers). */
class BodyParser {
  private i = 0;

  constructor(private readonly text: string) {}

  parse(): Alternatives {
    const alternatives = this.alternatives();
    if (this.i < this.text.length) throw new Error(`GBNF body: unexpected ')' at ${this.i}`);
    return alternatives;
  }

  private skipSpaces(): void {
    while (this.text[this.i] === " ") this.i += 1;
  }

  private alternatives(): Alternatives {
    const alternatives: Alternatives = [this.sequence()];
    while (this.text[this.i] === "|") {
      this.i += 1;
      alternatives.push(this.sequence());
    }
    return alternatives;
  }

  private sequence(): Item[] {
    const items: Item[] = [];
    for (;;) {
      this.skipSpaces();
      const c = this.text[this.i];
      if (c === undefined || c === "|" || c === ")") return items;
      let atom: string | Alternatives;
      if (c === "(") {
        this.i += 1;
        atom = this.alternatives();
        if (this.text[this.i] !== ")") throw new Error(`GBNF body: unbalanced '(' at ${this.i}`);
        this.i += 1;
      } else if (c === '"' || c === "[") {
        atom = this.delimited(c === '"' ? '"' : "]");
      } else {
        const match = /^[A-Za-z0-9-]+/.exec(this.text.slice(this.i, this.i + 200));
        if (!match) throw new Error(`GBNF body: unexpected '${c}' at ${this.i}`);
        atom = match[0];
        this.i += match[0].length;
      }
      const quantifiers: string[] = [];
      for (;;) {
        const q = this.text[this.i];
        if (q === "?" || q === "*" || q === "+") {
          quantifiers.push(q);
          this.i += 1;
        } else if (q === "{") {
          const end = this.text.indexOf("}", this.i);
          quantifiers.push(this.text.slice(this.i, end + 1));
          this.i = end + 1;
        } else break;
      }
      items.push({ atom, quantifiers });
    }
  }

  /** A literal or class from its opening character through `close`, escapes included. */
  private delimited(close: string): string {
    const start = this.i;
    this.i += 1;
    while (this.i < this.text.length && this.text[this.i] !== close) {
      this.i += this.text[this.i] === "\\" ? 2 : 1;
    }
    this.i += 1;
    return this.text.slice(start, this.i);
  }
}
