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
