// The admin panel's usage chart: one line per series over the days shown, drawn by uPlot on a
// canvas. uPlot and its CSS load on first use, so the main bundle does not carry them. The canvas
// is hidden from assistive technology: the table beside it has the same numbers.
import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import type uPlot from "uplot";
import { t } from "../i18n/i18n.ts";
import { effectiveTheme } from "../state/prefs.ts";

let uplot: Promise<typeof uPlot> | undefined;
function loadUplot(): Promise<typeof uPlot> {
  uplot ??= Promise.all([import("uplot"), import("uplot/dist/uPlot.min.css")]).then(
    ([module]) => module.default,
  );
  return uplot;
}

/** Line colours that read on both themes' backgrounds (3:1 or more against each). */
const PALETTE = ["#3b82f6", "#e8590c", "#2f9e44", "#c2255c", "#7048e8", "#0c8599", "#a87b00", "#868e96"];

export interface ChartSeries {
  label: string;
  /** One value per day of `days`. */
  values: number[];
}

export function UsageChart({ days, series }: { days: string[]; series: ChartSeries[] }) {
  const holder = useRef<HTMLDivElement>(null);
  const failed = useSignal(false);
  const theme = effectiveTheme();

  useEffect(() => {
    const element = holder.current;
    if (!element || days.length === 0) return;
    let chart: uPlot | undefined;
    let cancelled = false;
    const resize = new ResizeObserver(() => chart?.setSize(size(element)));
    loadUplot().then(
      (UPlot) => {
        if (cancelled) return;
        // The axes take the page's colours, so the chart follows the theme.
        const style = getComputedStyle(element);
        const axis = {
          stroke: style.color,
          grid: { stroke: style.borderColor, width: 1 },
          ticks: { show: false },
        };
        chart = new UPlot(
          {
            ...size(element),
            legend: { show: false },
            cursor: { show: false },
            scales: { x: { time: true } },
            // The days are UTC days, as the table says; label them so in every time zone.
            tzDate: (seconds) => UPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
            axes: [axis, { ...axis, size: 60 }],
            series: [
              {},
              ...series.map((line, index) => ({
                label: line.label,
                stroke: PALETTE[index % PALETTE.length]!,
                width: 2,
                points: { show: days.length < 40, fill: PALETTE[index % PALETTE.length]! },
              })),
            ],
          },
          [days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000), ...series.map((line) => line.values)],
          element,
        );
        resize.observe(element);
      },
      () => (failed.value = true),
    );
    return () => {
      cancelled = true;
      resize.disconnect();
      chart?.destroy();
    };
  }, [days, series, theme]);

  return (
    <div class="usage-chart">
      {failed.value ? (
        <p class="empty">{t("adminChartFailed")}</p>
      ) : (
        <div class="usage-chart-canvas" ref={holder} aria-hidden="true" />
      )}
      {series.length > 1 && (
        <ul class="usage-chart-legend" aria-hidden="true">
          {series.map((line, index) => (
            <li key={line.label}>
              <span class={`swatch swatch-${index % PALETTE.length}`} />
              {line.label}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function size(element: HTMLElement): { width: number; height: number } {
  return { width: Math.max(element.clientWidth, 200), height: 240 };
}
