// A dependency-free progress bar for model downloads. On a terminal it redraws one line in place;
// when output goes to a log (systemd, docker logs, CI) it prints a plain line every 10% instead, so
// the log stays readable rather than filling with carriage returns.

export interface ProgressUpdate {
  downloadedBytes: number;
  totalBytes?: number | undefined;
  bytesPerSecond: number;
}

export interface ProgressBar {
  update(progress: ProgressUpdate): void;
  /** Ends the bar with a closing message ("downloaded", "failed"); later calls do nothing. */
  done(message: string): void;
}

/** The slice of a writable stream the bar needs; process.stderr is one. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const REDRAW_INTERVAL_MS = 100;
/** Without a total, a log line every this many bytes. */
const UNKNOWN_TOTAL_STEP_BYTES = 100_000_000;
const CLEAR_TO_END_OF_LINE = "\x1b[K";

export function createProgressBar(label: string, stream: ProgressStream = process.stderr): ProgressBar {
  const interactive = stream.isTTY === true;
  let lastDraw = 0;
  let lastStep = -1;
  let drawn = false;
  let finished = false;

  return {
    update(progress) {
      if (finished) return;
      if (interactive) {
        const now = Date.now();
        const complete = progress.totalBytes !== undefined && progress.downloadedBytes >= progress.totalBytes;
        if (!complete && now - lastDraw < REDRAW_INTERVAL_MS) return;
        lastDraw = now;
        stream.write(`\r${formatProgressLine(label, progress, stream.columns)}${CLEAR_TO_END_OF_LINE}`);
        drawn = true;
        return;
      }
      const step =
        progress.totalBytes !== undefined && progress.totalBytes > 0
          ? Math.floor((10 * Math.min(progress.downloadedBytes, progress.totalBytes)) / progress.totalBytes)
          : Math.floor(progress.downloadedBytes / UNKNOWN_TOTAL_STEP_BYTES);
      if (step === lastStep) return;
      lastStep = step;
      stream.write(`${formatProgressLine(label, progress)}\n`);
    },
    done(message) {
      if (finished) return;
      finished = true;
      const clear = interactive && drawn ? `\r${CLEAR_TO_END_OF_LINE}` : "";
      stream.write(`${clear}${label}: ${message}\n`);
    },
  };
}

/** `label [#####-----] 45% 120.3/268.0 MB 12.1 MB/s ETA 12s`, fitted to `columns` when given. */
export function formatProgressLine(label: string, progress: ProgressUpdate, columns?: number): string {
  const { downloadedBytes, totalBytes, bytesPerSecond } = progress;
  const speed = `${formatBytes(bytesPerSecond)}/s`;
  if (totalBytes === undefined || totalBytes <= 0) {
    return `${label} ${formatBytes(downloadedBytes)} ${speed}`;
  }
  const fraction = Math.min(1, Math.max(0, downloadedBytes / totalBytes));
  const percent = `${Math.floor(fraction * 100)}%`;
  const unit = totalBytes >= 1e9 ? GIGABYTE : totalBytes >= 1e6 ? MEGABYTE : KILOBYTE;
  const amounts = `${formatIn(downloadedBytes, unit)}/${formatIn(totalBytes, unit)} ${unit.name}`;
  const remaining = Math.max(0, totalBytes - downloadedBytes);
  const eta = bytesPerSecond > 0 ? formatDuration(remaining / bytesPerSecond) : "--";
  const tail = `${percent} ${amounts} ${speed} ETA ${eta}`;
  // The bar takes what the terminal has left, within reason, so the line never wraps.
  const room = columns === undefined ? 20 : columns - label.length - tail.length - 5;
  const width = Math.max(10, Math.min(30, room));
  const filled = Math.round(fraction * width);
  return `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${tail}`;
}

interface Unit {
  name: string;
  bytes: number;
  decimals: number;
}
const KILOBYTE: Unit = { name: "kB", bytes: 1e3, decimals: 0 };
const MEGABYTE: Unit = { name: "MB", bytes: 1e6, decimals: 1 };
const GIGABYTE: Unit = { name: "GB", bytes: 1e9, decimals: 2 };

function formatIn(bytes: number, unit: Unit): string {
  return (bytes / unit.bytes).toFixed(unit.decimals);
}

/** Decimal units, as download sizes are usually quoted: 1117.3 MB, 4.68 GB, 845 kB. */
export function formatBytes(bytes: number): string {
  const unit = bytes >= 1e9 ? GIGABYTE : bytes >= 1e6 ? MEGABYTE : KILOBYTE;
  return `${formatIn(bytes, unit)} ${unit.name}`;
}

/** 12s, 3m05s, 1h02m. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--";
  const whole = Math.ceil(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, "0")}s`;
  const minutes = Math.floor(whole / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}
