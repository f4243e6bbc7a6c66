// Inline SVG charts for the audit report: no script, no external asset, readable without colour
// (every bar and point carries its number as text or a <title>).

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const round = (value: number, digits = 3) => Number(value.toFixed(digits)).toString();

/** Horizontal bars, one per item, labelled with the item and its count. */
export function barChart(items: ReadonlyArray<{ label: string; value: number }>, title: string): string {
  const rowHeight = 26;
  const labelWidth = 190;
  const barWidth = 260;
  const max = Math.max(1, ...items.map((item) => item.value));
  const height = Math.max(1, items.length) * rowHeight + 8;
  const rows = items.map((item, index) => {
    const y = index * rowHeight + 4;
    const width = Math.max(2, (item.value / max) * barWidth);
    return (
      `<text x="${labelWidth - 8}" y="${y + 17}" text-anchor="end">${escapeHtml(item.label)}</text>` +
      `<rect x="${labelWidth}" y="${y + 3}" width="${round(width, 1)}" height="${rowHeight - 8}" class="bar"><title>${escapeHtml(item.label)}: ${item.value}</title></rect>` +
      `<text x="${round(labelWidth + width + 6, 1)}" y="${y + 17}">${item.value}</text>`
    );
  });
  return `<svg role="img" aria-label="${escapeHtml(title)}" viewBox="0 0 ${labelWidth + barWidth + 50} ${height}" width="${labelWidth + barWidth + 50}" height="${height}">${rows.join("")}</svg>`;
}

/** A histogram of values in [0, 1], in ten bins. */
export function histogram(values: readonly number[], title: string): string {
  const bins = new Array<number>(10).fill(0);
  for (const value of values) bins[Math.min(9, Math.max(0, Math.floor(value * 10)))]!++;
  const width = 420;
  const height = 170;
  const plotHeight = 120;
  const binWidth = (width - 40) / 10;
  const max = Math.max(1, ...bins);
  const bars = bins.map((count, index) => {
    const barHeight = (count / max) * plotHeight;
    const x = 30 + index * binWidth;
    const y = 10 + plotHeight - barHeight;
    const range = `${(index / 10).toFixed(1)}–${((index + 1) / 10).toFixed(1)}`;
    return (
      `<rect x="${round(x + 1, 1)}" y="${round(y, 1)}" width="${round(binWidth - 2, 1)}" height="${round(barHeight, 1)}" class="bar"><title>${range}: ${count}</title></rect>` +
      (count > 0
        ? `<text x="${round(x + binWidth / 2, 1)}" y="${round(y - 3, 1)}" text-anchor="middle">${count}</text>`
        : "")
    );
  });
  const ticks = [0, 0.5, 1].map(
    (tick) =>
      `<text x="${round(30 + tick * (width - 40), 1)}" y="${plotHeight + 28}" text-anchor="middle">${tick}</text>`,
  );
  return (
    `<svg role="img" aria-label="${escapeHtml(title)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">` +
    `<line x1="30" y1="${plotHeight + 10}" x2="${width - 10}" y2="${plotHeight + 10}" class="axis"/>` +
    `${bars.join("")}${ticks.join("")}<text x="${width / 2}" y="${height - 4}" text-anchor="middle">${escapeHtml(title)}</text></svg>`
  );
}

/** Points (x, y) with a diagonal y = x: above it, the second measure is higher. */
export function scatter(
  points: ReadonlyArray<{ x: number; y: number; label: string }>,
  axes: { x: string; y: string; title: string },
): string {
  const size = 300;
  const pad = 40;
  const values = points.flatMap((point) => [point.x, point.y]);
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (!Number.isFinite(low) || !Number.isFinite(high)) [low, high] = [0, 1];
  if (high - low < 1e-9) [low, high] = [low - 0.5, high + 0.5];
  const margin = (high - low) * 0.05;
  [low, high] = [low - margin, high + margin];
  const scale = (value: number) => ((value - low) / (high - low)) * (size - pad - 10);
  const dots = points.map(
    (point) =>
      `<circle cx="${round(pad + scale(point.x), 1)}" cy="${round(size - pad - scale(point.y), 1)}" r="4" class="dot"><title>${escapeHtml(point.label)}: ${round(point.x)}, ${round(point.y)}</title></circle>`,
  );
  return (
    `<svg role="img" aria-label="${escapeHtml(axes.title)}" viewBox="0 0 ${size} ${size}" width="${size}" height="${size}">` +
    `<line x1="${pad}" y1="${size - pad}" x2="${size - 10}" y2="${size - pad}" class="axis"/>` +
    `<line x1="${pad}" y1="${size - pad}" x2="${pad}" y2="10" class="axis"/>` +
    `<line x1="${pad}" y1="${size - pad}" x2="${size - 10}" y2="10" class="diagonal"/>` +
    dots.join("") +
    `<text x="${pad}" y="${size - pad + 16}">${round(low, 2)}</text>` +
    `<text x="${size - 10}" y="${size - pad + 16}" text-anchor="end">${round(high, 2)}</text>` +
    `<text x="${(size + pad) / 2}" y="${size - 6}" text-anchor="middle">${escapeHtml(axes.x)}</text>` +
    `<text x="12" y="${(size - pad) / 2}" text-anchor="middle" transform="rotate(-90 12 ${(size - pad) / 2})">${escapeHtml(axes.y)}</text>` +
    `</svg>`
  );
}
