// XSS payloads a model (or a user) might emit. Each one, if it ever runs, calls xssFired(name),
// which the e2e harness records. Markdown and raw HTML both, plus tricks aimed at the renderer's
// own extensions (code fence info strings, KaTeX commands).

export const XSS_PAYLOADS: readonly string[] = [
  `<script>xssFired("script")</script>`,
  `<img src=x onerror="xssFired('img-onerror')">`,
  `<svg onload="xssFired('svg-onload')"><script>xssFired('svg-script')</script></svg>`,
  `<iframe src="javascript:xssFired('iframe')"></iframe>`,
  `<details open ontoggle="xssFired('details')"><summary>x</summary></details>`,
  `<a href="javascript:xssFired('html-link')">html link</a>`,
  `[markdown link](javascript:xssFired('md-link'))`,
  `[mixed case](JaVaScRiPt:xssFired('md-link-case'))`,
  `[entity](&#106;avascript:xssFired('md-link-entity'))`,
  `[data link](data:text/html;base64,PHNjcmlwdD54c3NGaXJlZCgnZGF0YScpPC9zY3JpcHQ+)`,
  `[vbscript](vbscript:xssFired('vbscript'))`,
  `<javascript:xssFired('autolink')>`,
  `![image](javascript:xssFired('md-image'))`,
  `![x](x" onerror="xssFired('md-image-attr'))`,
  `![svg](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9Inhzc0ZpcmVkKCdzdmctZGF0YScpIi8+)`,
  `[![nested](x)](javascript:xssFired('nested'))`,
  `<math><mtext><table><mglyph><style><img src=x onerror="xssFired('mxss')">`,
  `<form><button formaction="javascript:xssFired('form')">go</button></form>`,
  `<object data="javascript:xssFired('object')"></object>`,
  '```"><img src=x onerror="xssFired(\'fence-info\')">\ncode\n```',
  `$\\href{javascript:xssFired('katex-href')}{click}$`,
  `$$\\htmlData{onclick=xssFired('katex-data')}{x}$$`,
  `<style>body{background:url("javascript:xssFired('style')")}</style>`,
  `| a | b |\n|---|---|\n| <img src=x onerror="xssFired('table')"> | [t](javascript:xssFired('table-link')) |`,
];

/** The corpus as one reply, a paragraph per payload. */
export const XSS_REPLY = XSS_PAYLOADS.join("\n\n");

/**
 * Payloads wrapped in Chinese, so the Simplified -> Traditional pass (OpenCC, which rewrites text
 * nodes) runs over them too. 简体 and 说明 change under conversion; the payloads must not.
 */
export const XSS_CHINESE_PAYLOADS: readonly string[] = [
  `简体说明：<img src=x onerror="xssFired('zh-img')">图片后面的说明`,
  `[点击这里查看说明](javascript:xssFired('zh-link'))`,
];

/** What the scripted fixture model thinks before it answers: a few payloads, shown as plain text. */
export const XSS_REASONING = [
  `<script>xssFired("reasoning-script")</script>`,
  `<img src=x onerror="xssFired('reasoning-img')">`,
  `[reasoning link](javascript:xssFired('reasoning-link'))`,
  `推理中的说明：<svg onload="xssFired('reasoning-svg')"></svg>`,
].join("\n\n");

/** What the scripted fixture model answers: the whole corpus, then the Chinese payloads. */
export const XSS_MODEL_REPLY = [...XSS_PAYLOADS, ...XSS_CHINESE_PAYLOADS].join("\n\n");

/**
 * `text` cut into pieces of about `size` characters, none equal to another or to one in `taken`
 * (a scripted model's entries become tokens of their own, so each must be unique). A piece that
 * would repeat an earlier one grows a character at a time until it is new; a repeated tail is
 * joined to the piece before it.
 */
export function uniquePieces(text: string, size: number, taken: Set<string>): string[] {
  const characters = Array.from(text);
  const pieces: string[] = [];
  let at = 0;
  while (at < characters.length) {
    let length = Math.min(size, characters.length - at);
    let piece = characters.slice(at, at + length).join("");
    while (taken.has(piece) && at + length < characters.length)
      piece = characters.slice(at, at + ++length).join("");
    if (taken.has(piece)) {
      const previous = pieces.pop();
      if (previous === undefined) throw new Error(`cannot cut ${JSON.stringify(text)} into unique pieces`);
      taken.delete(previous);
      piece = previous + piece;
      if (taken.has(piece)) throw new Error(`cannot cut ${JSON.stringify(text)} into unique pieces`);
    }
    taken.add(piece);
    pieces.push(piece);
    at += length;
  }
  return pieces;
}

/**
 * The scripted fixture model's script: `<think>`, the reasoning payloads, `</think>`, then the
 * reply, each cut into unique pieces of a few characters so they stream token by token.
 */
export function xssModelScript(size = 6): string[] {
  const taken = new Set(["<think>", "</think>"]);
  const reasoning = uniquePieces(XSS_REASONING, size, taken);
  const reply = uniquePieces(XSS_MODEL_REPLY, size, taken);
  return ["<think>", ...reasoning, "</think>", ...reply];
}
