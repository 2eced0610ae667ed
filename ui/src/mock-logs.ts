import type { LogSettings } from "./bindings/LogSettings";
import type { LogWriterStats } from "./bindings/LogWriterStats";
import type { LogFile } from "./bindings/LogFile";

/* The Diagnostics window's commands for the browser preview: a writer that bursts about once a second. */

const session = { enabled: false, max_size_kb: 10240 };
let settings: LogSettings = {
  enabled: true,
  folder: "",
  level: "info",
  max_size_kb: 10240,
  session: { smtpsvr: { ...session, enabled: true }, smtpclt: session, pop3svr: session, pop3clt: session, imapsvr: session, nntpsvr: session, nntpclt: session },
  writer: { min_interval_ms: 0, max_interval_ms: 10000, increase_below_lines: 50, increase_by_ms: 100, decrease_above_lines: 500, decrease_by_ms: 500, min_lines_waiting: 10, max_line_age_ms: 5000, memory_limit_kb: 16384 },
  retention: { keep_by: "count", keep_count: 10, keep_days: 30, max_total_mb: 1024, min_free_mb: 200 },
};
const FILES: LogFile[] = ["postroom", "errors", "security", "mail", "smtpsvr", "smtpclt", "pop3svr", "pop3clt", "imapsvr", "nntpsvr", "nntpclt"];

function stats(): LogWriterStats {
  const graph = Array.from({ length: 120 }, (_, i) => ({ seconds_ago: 600 - i * 5, bursts: 1, lines: 20 + Math.round(30 * Math.abs(Math.sin(i / 7))), interval_ms: 400 + Math.round(600 * Math.abs(Math.cos(i / 11))) }));
  return {
    enabled: settings.enabled,
    folder: settings.folder || "/home/office/.local/share/postroom/logs",
    interval_ms: 900,
    buffered_bytes: 2310,
    memory_limit_bytes: settings.writer.memory_limit_kb * 1024,
    files: FILES.map((file, i) => {
      const on = i < 4 || settings.session[file as keyof LogSettings["session"]]?.enabled === true;
      return { file, name: `${file}.log`, enabled: on, writes: on ? 40 - i : 0, lines: on ? 900 - i * 50 : 0, bytes: on ? 80000 - i * 4000 : 0, dropped: 0, lines_waiting: on ? i : 0, oldest_line_age_ms: on && i ? 300 : null, error: null };
    }),
    graph,
  };
}

export const logHandlers: Record<string, (args: any) => unknown> = {
  get_log_settings: () => structuredClone(settings),
  save_log_settings: (a: { log: LogSettings }) => void (settings = structuredClone(a.log)),
  get_log_writer_stats: () => stats(),
  read_log: (a: { file: LogFile }) => ({
    name: `${a.file}.log`,
    path: `/home/office/.local/share/postroom/logs/${a.file}.log`,
    size: 182,
    text: "2026-11-24 09:12:01.120 [#12] login failed service=POP3 user=alice ip=192.168.1.40\n2026-11-24 09:12:03.882 [#13] banned after failed logins kind=address value=192.168.1.40\n",
    truncated: false,
  }),
  open_log_viewer: (a: { file: string }) => void (location.hash = `#/logview/${a.file}`),
  pick_folder: () => "/mnt/ramdisk/postroom-logs",
};
