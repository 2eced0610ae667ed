import { invoke } from "@tauri-apps/api/core";
import { getCurrentWindow } from "@tauri-apps/api/window";
import type { ApiError } from "./bindings/ApiError";
import type { BulkAddReport } from "./bindings/BulkAddReport";
import type { CertificateInfo } from "./bindings/CertificateInfo";
import type { OutboundForm } from "./bindings/OutboundForm";
import type { OutboundView } from "./bindings/OutboundView";
import type { Overview } from "./bindings/Overview";
import type { Ban } from "./bindings/Ban";
import type { QueueEntry } from "./bindings/QueueEntry";
import type { MailboxAccess } from "./bindings/MailboxAccess";
import type { ServiceView } from "./bindings/ServiceView";
import type { SmtpView } from "./bindings/SmtpView";
import type { UserDetail } from "./bindings/UserDetail";
import type { UserForm } from "./bindings/UserForm";
import type { UserSummary } from "./bindings/UserSummary";
import type { LogSettings } from "./bindings/LogSettings";
import type { LogWriterStats } from "./bindings/LogWriterStats";
import type { LogTail } from "./bindings/LogTail";
import type { LogFile } from "./bindings/LogFile";
import type { GeoIpStatus } from "./bindings/GeoIpStatus";
import type { ImportRequest } from "./bindings/ImportRequest";
import type { AccessSettings } from "./bindings/AccessSettings";
import type { BandwidthLive } from "./bindings/BandwidthLive";
import type { BandwidthPool } from "./bindings/BandwidthPool";
import type { BandwidthSettings } from "./bindings/BandwidthSettings";
import type { ScriptCheck } from "./bindings/ScriptCheck";
import type { ScriptFile } from "./bindings/ScriptFile";
import type { ScriptTestRequest } from "./bindings/ScriptTestRequest";
import type { ScriptTestResult } from "./bindings/ScriptTestResult";

export type WindowName = "main" | "services" | "users" | "domains" | "certificate" | "smtp" | "queue" | "bans" | "diagnostics" | "geoip" | "geoimport"
  | "bandwidth" | "bandwidthscript";

export const inTauri = typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;

type MockModule = typeof import("./mock");
let mock: Promise<MockModule> | null = null;

export function mockModule(): Promise<MockModule> | null {
  if (inTauri) return null;
  return (mock ??= import("./mock"));
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    if (inTauri) return await invoke<T>(cmd, args);
    const m = await mockModule()!;
    return (await m.mockInvoke(cmd, args ?? {})) as T;
  } catch (e) {
    throw toApiError(e);
  }
}

export const api = {
  getOverview: () => call<Overview>("get_overview"),
  setPaused: (paused: boolean) => call<void>("set_paused", { paused }),
  getServices: () => call<ServiceView[]>("get_services"),
  saveServices: (services: ServiceView[], access: MailboxAccess | null) => call<void>("save_services", { services, access }),
  getMailboxAccess: () => call<MailboxAccess>("get_mailbox_access"),
  listUsers: () => call<UserSummary[]>("list_users"),
  getUser: (name: string) => call<UserDetail>("get_user", { name }),
  createUser: (form: UserForm) => call<void>("create_user", { form }),
  updateUser: (name: string, form: UserForm) => call<void>("update_user", { name, form }),
  deleteUser: (name: string) => call<void>("delete_user", { name }),
  bulkAddUsers: () => call<BulkAddReport | null>("bulk_add_users"),
  bulkAddUsersFrom: (path: string) => call<BulkAddReport>("bulk_add_users_from", { path }),
  listDomains: () => call<string[]>("list_domains"),
  addDomain: (name: string) => call<string>("add_domain", { name }),
  deleteDomain: (name: string) => call<void>("delete_domain", { name }),
  getCertificate: () => call<CertificateInfo>("get_certificate"),
  pickFile: (title: string) => call<string | null>("pick_file", { title }),
  setCertificate: (certFile: string, keyFile: string) =>
    call<CertificateInfo>("set_certificate", { certFile, keyFile }),
  useSelfSignedCertificate: () => call<CertificateInfo>("use_self_signed_certificate"),
  getSmtpSettings: () => call<SmtpView>("get_smtp_settings"),
  saveSmtpSettings: (smtp: SmtpView) => call<void>("save_smtp_settings", { smtp }),
  getOutboundSettings: () => call<OutboundView>("get_outbound_settings"),
  saveOutboundSettings: (outbound: OutboundForm) => call<void>("save_outbound_settings", { outbound }),
  listQueue: () => call<QueueEntry[]>("list_queue"),
  retryQueueEntry: (id: number) => call<void>("retry_queue_entry", { id }),
  deleteQueueEntry: (id: number) => call<void>("delete_queue_entry", { id }),
  listBans: () => call<Ban[]>("list_bans"),
  clearBan: (value: string) => call<void>("clear_ban", { value }),
  openWindow: (window: WindowName) => call<void>("open_window", { window }),
  getLogSettings: () => call<LogSettings>("get_log_settings"),
  saveLogSettings: (log: LogSettings) => call<void>("save_log_settings", { log }),
  getLogWriterStats: () => call<LogWriterStats>("get_log_writer_stats"),
  readLog: (file: LogFile, maxBytes: number) => call<LogTail>("read_log", { file, maxBytes }),
  openLogViewer: (file: LogFile) => call<void>("open_log_viewer", { file }),
  pickFolder: (title: string) => call<string | null>("pick_folder", { title }),
  getGeoIpStatus: () => call<GeoIpStatus>("get_geoip_status"),
  geoipLookup: (address: string) => call<string[]>("geoip_lookup", { address }),
  geoipPreview: (path: string, delimiter: string) => call<string[][]>("geoip_preview", { path, delimiter }),
  startGeoIpImport: (request: ImportRequest) => call<void>("start_geoip_import", { request }),
  pickCsvFile: (title: string) => call<string | null>("pick_csv_file", { title }),
  getAccessSettings: () => call<AccessSettings>("get_access_settings"),
  saveAccessSettings: (access: AccessSettings) => call<void>("save_access_settings", { access }),
  getBandwidthSettings: () => call<BandwidthSettings>("get_bandwidth_settings"),
  saveBandwidthPools: (pools: BandwidthPool[]) => call<void>("save_bandwidth_pools", { pools }),
  getBandwidthLive: () => call<BandwidthLive>("get_bandwidth_live"),
  getBandwidthScript: () => call<ScriptFile>("get_bandwidth_script"),
  saveBandwidthScript: (text: string) => call<ScriptFile>("save_bandwidth_script", { text }),
  checkBandwidthScript: (source: string) => call<ScriptCheck>("check_bandwidth_script", { source }),
  testBandwidthScript: (request: ScriptTestRequest) => call<ScriptTestResult>("test_bandwidth_script", { request }),
};

export async function closeWindow(): Promise<void> {
  if (inTauri) {
    await getCurrentWindow().close();
  } else {
    location.hash = "#/main";
  }
}

/**
 * Guards the window's own close button (and any other close request): while `unsaved()` holds, the close
 * is stopped and `ask` runs instead (it may close the window itself afterwards). Returns the guard's removal.
 */
export function guardWindowClose(unsaved: () => boolean, ask: () => void): () => void {
  if (!inTauri) return () => {};
  const unlisten = getCurrentWindow().onCloseRequested((ev) => {
    if (!unsaved()) return;
    ev.preventDefault();
    ask();
  });
  return () => void unlisten.then((stop) => stop());
}

export function isApiError(e: unknown): e is ApiError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export function toApiError(e: unknown): ApiError {
  if (isApiError(e)) {
    return {
      code: String(e.code),
      message: String(e.message),
      field: e.field ?? null,
      fields: Array.isArray(e.fields) ? e.fields : [],
    };
  }
  const message = e instanceof Error ? e.message : typeof e === "string" ? e : JSON.stringify(e);
  return { code: "internal", message, field: null, fields: [] };
}

export function errorText(e: unknown): string {
  return toApiError(e).message;
}

/**
 * Per-field messages of an `invalid` error, keyed by field name with any of `stripPrefixes` removed
 * (the engine may qualify names, e.g. "services.pop3.port" for "pop3.port"). Several messages for one
 * field are joined.
 */
export function fieldMessages(e: unknown, stripPrefixes: string[] = []): Map<string, string> {
  const err = toApiError(e);
  const out = new Map<string, string>();
  const add = (field: string, message: string) => {
    let key = field;
    for (const p of stripPrefixes) if (key.startsWith(p)) key = key.slice(p.length);
    const prev = out.get(key);
    out.set(key, prev && prev !== message ? `${prev}; ${message}` : message);
  };
  for (const f of err.fields) add(f.field, f.message);
  if (err.field && err.fields.length === 0) add(err.field, err.message);
  return out;
}
