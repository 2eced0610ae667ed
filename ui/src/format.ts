import type { ServiceId } from "./bindings/ServiceId";
import { h } from "./widgets/dom";

const numberFmt = new Intl.NumberFormat("en-US");
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export function formatNumber(n: number): string {
  return numberFmt.format(n);
}

/** Bytes in the largest unit that keeps the number at least 1: [number, "KB" | "MB" | "GB", or "" for bytes]. */
function scaled(bytes: number): [string, string] {
  if (bytes < 1024) return [formatNumber(bytes), ""];
  const kb = bytes / 1024;
  if (kb < 1024) return [formatNumber(Math.round(kb * 10) / 10), "KB"];
  const mb = kb / 1024;
  if (mb < 1024) return [formatNumber(Math.round(mb * 10) / 10), "MB"];
  return [formatNumber(Math.round((mb / 1024) * 100) / 100), "GB"];
}

export function formatSize(bytes: number): string {
  const [n, unit] = scaled(bytes);
  return `${n} ${unit || "bytes"}`;
}

/** A measured byte rate: "512 B/s", "48.8 KB/s", "1.2 MB/s". */
export function formatRate(bytesPerSec: number): string {
  const [n, unit] = scaled(Math.round(bytesPerSec));
  return `${n} ${unit || "B"}/s`;
}

/** A configured allowance, exact: "100,000 B/s". */
export function formatAllowance(bytesPerSec: number): string {
  return `${formatNumber(bytesPerSec)} B/s`;
}

/** Unix seconds as formatErrorTime shows them: the time alone if today, else date and time. */
export function formatUnixTime(seconds: number): string {
  return formatErrorTime(new Date(seconds * 1000).toISOString());
}

export function formatDateTime(rfc3339: string): string {
  const d = new Date(rfc3339);
  return Number.isNaN(d.getTime()) ? rfc3339 : dateTimeFmt.format(d);
}

const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
const shortFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

/** For narrow columns: the time alone if it is today, the weekday within six days ("Tue 07:58 PM"), else "Jan 6, 07:58 PM". */
export function formatShortTime(rfc3339: string): string {
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return rfc3339;
  if (d.toDateString() === new Date().toDateString()) return timeFmt.format(d);
  return Math.abs(d.getTime() - Date.now()) < 6 * 24 * 3600 * 1000 ? weekdayFmt.format(d) : shortFmt.format(d);
}

export function formatErrorTime(rfc3339: string): string {
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return rfc3339;
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? timeFmt.format(d) : dateTimeFmt.format(d);
}

export function formatAddress(bind: string, port: number): string {
  return bind.includes(":") ? `[${bind}]:${port}` : `${bind}:${port}`;
}

export function formatFingerprint(hex: string): string {
  const clean = hex.replace(/[^0-9a-fA-F]/g, "").toUpperCase();
  return clean.length ? clean.match(/.{1,2}/g)!.join(":") : hex;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}

/** The services' short names, as the Services window's tabs show them. */
export const SERVICE_LABELS: Record<ServiceId, string> = {
  smtp: "SMTP",
  submission: "Submission",
  smtps: "SMTPS",
  pop3: "POP3",
  pop3s: "POP3S",
  imap: "IMAP4",
  imaps: "IMAPS",
  http: "HTTP",
  https: "HTTPS",
};

export const TLS_LABELS: Record<string, string> = { none: "None", starttls: "STARTTLS", implicit: "Implicit TLS" };

const STATE_LABELS: Record<string, string> = {
  disabled: "Disabled",
  starting: "Starting",
  stopped: "Stopped",
  running: "Running",
  failed: "Failed",
  paused: "Paused",
};

export function stateLabel(state: string): string {
  return STATE_LABELS[state] ?? state.charAt(0).toUpperCase() + state.slice(1);
}

/** A coloured dot and the state's name, e.g. "● Running". */
export function stateBadge(state: string): HTMLElement {
  return h("span", { class: `state state-${state}` }, h("span", { class: "dot", "aria-hidden": "true" }), stateLabel(state));
}
