/**
 * Progress for long operator commands, on stderr: a redrawn bar on a terminal (done / total, rate, ETA), a plain
 * line every few seconds otherwise (logs, CI), nothing with `none`. Notes are printed on their own line either way.
 */
import type { ClerkRetryNotice } from "../clerk/retrying.js";

export type ProgressMode = "bar" | "lines" | "none";

export interface Progress {
  /** `detail` is appended to the line (e.g. requests in flight and their rate). */
  update(done: number, total: number, detail?: string): void;
  note(message: string): void;
  /** Clears the bar (a final line is the caller's summary). */
  end(): void;
}

const LINE_INTERVAL_MS = 2_000;
const BAR_INTERVAL_MS = 100;

const formatNumber = (n: number) => Math.round(n).toLocaleString("en-US");

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** ` (Retry-After asks 60m00s; capped)` for a 429 whose `Retry-After` was longer than the wait; else nothing. */
export function retryAfterCapNote({ retryAfterMs, delayMs }: ClerkRetryNotice): string {
  if (retryAfterMs === undefined || retryAfterMs <= delayMs) return "";
  return ` (Retry-After asks ${formatDuration(retryAfterMs / 1000)}; capped at ${formatDuration(delayMs / 1000)})`;
}

export function createProgress(
  label: string,
  mode: ProgressMode,
  stream: { write(text: string): unknown; columns?: number } = process.stderr,
): Progress {
  let startedAt: { done: number; time: number } | undefined;
  let lastDraw = 0;
  let drawn = false;
  const describe = (done: number, total: number, detail: string | undefined) => {
    // The rate counts from the first update, so that a resumed run's earlier users do not inflate it.
    startedAt ??= { done, time: performance.now() };
    const seconds = (performance.now() - startedAt.time) / 1000;
    const rate = seconds > 0 ? (done - startedAt.done) / seconds : 0;
    const eta = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY;
    const percent = total > 0 ? Math.min(100, (done / total) * 100) : 100;
    return {
      percent,
      text: `${formatNumber(done)}/${formatNumber(total)} ${percent.toFixed(0)}% · ${formatNumber(rate)}/s · ETA ${done >= total ? "0s" : formatDuration(eta)}${detail ? ` · ${detail}` : ""}`,
    };
  };
  const clear = () => {
    if (drawn) stream.write("\r\x1b[2K");
    drawn = false;
  };
  return {
    update(done, total, detail) {
      const now = performance.now();
      const final = done >= total;
      if (mode === "none") return;
      if (now - lastDraw < (mode === "bar" ? BAR_INTERVAL_MS : LINE_INTERVAL_MS) && !final) return;
      lastDraw = now;
      const { percent, text } = describe(done, total, detail);
      if (mode === "lines") {
        stream.write(`${label}: ${text}\n`);
        return;
      }
      const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - text.length - 6));
      const filled = Math.round((percent / 100) * width);
      stream.write(`\r\x1b[2K${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${text}`);
      drawn = true;
    },
    note(message) {
      if (mode === "none") return;
      clear();
      stream.write(`${label}: ${message}\n`);
      lastDraw = 0;
    },
    end() {
      clear();
    },
  };
}
