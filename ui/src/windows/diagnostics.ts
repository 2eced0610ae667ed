import { api, errorText } from "../api";
import { watch } from "../changes";
import type { FileStats } from "../bindings/FileStats";
import type { LogFile } from "../bindings/LogFile";
import type { LogLevel } from "../bindings/LogLevel";
import type { LogSettings } from "../bindings/LogSettings";
import type { LogWriterStats } from "../bindings/LogWriterStats";
import type { SessionLogs } from "../bindings/SessionLogs";
import { formatNumber, formatSize } from "../format";
import { button, Strip } from "../widgets/buttons";
import { SettingsWindow } from "../widgets/settings-window";
import { frame, h, text, type Child } from "../widgets/dom";
import { errorSlot, grid, group, input, row, select, U32, whole } from "../widgets/form";
import { Table } from "../widgets/table";
import { Tabs } from "../widgets/tabs";
import { logGraph } from "./log-graph";

type TabId = "general" | "sessions" | "writer" | "retention";
const TABS: [TabId, string][] = [
  ["general", "General"],
  ["sessions", "Session Logs"],
  ["writer", "Log File Writer"],
  ["retention", "Retention"],
];

/** The session logs of services this build has, with what each records. */
const SESSION_LOGS: [keyof SessionLogs, string][] = [
  ["smtpsvr", "Incoming SMTP: other servers and mail programs sending to Postroom"],
  ["smtpclt", "Outgoing SMTP: the queue delivering to other servers or the smart host"],
  ["pop3svr", "POP3: mail programs downloading mail"],
  ["imapsvr", "IMAP4: mail programs reading folders"],
];
const MAIN_LOGS: [LogFile, string][] = [
  ["postroom", "postroom.log"],
  ["errors", "errors.log"],
  ["security", "security.log"],
  ["mail", "mail.log"],
];

const num = (id: string) => input(id, { type: "number", min: 0, step: 1, class: "w-short" });
const unit = (t: string) => h("span", { class: "unit" }, t);

function controls() {
  return {
    folder: input("log-folder", { class: "w-path", placeholder: "the logs folder in the data folder" }),
    level: select("log-level", [
      ["error", "Errors only"],
      ["warn", "Warnings and errors"],
      ["info", "Normal (what happens, plus warnings and errors)"],
      ["debug", "Detailed, for finding a problem"],
      ["trace", "Everything (very large)"],
    ]),
    maxSize: num("log-max-size"),
    enabled: input("log-enabled", { type: "checkbox" }),
    minInterval: num("writer-min-interval"),
    maxInterval: num("writer-max-interval"),
    incBelow: num("writer-increase-below"),
    incBy: num("writer-increase-by"),
    decAbove: num("writer-decrease-above"),
    decBy: num("writer-decrease-by"),
    minLines: num("writer-min-lines"),
    maxAge: num("writer-max-age"),
    memory: num("writer-memory"),
    byCount: h("input", { type: "radio", name: "keep-by", id: "keep-by-count", value: "count" }),
    byDays: h("input", { type: "radio", name: "keep-by", id: "keep-by-days", value: "days" }),
    keepCount: num("keep-count"),
    keepDays: num("keep-days"),
    maxTotal: num("retention-max-total"),
    minFree: num("retention-min-free"),
    session: Object.fromEntries(
      SESSION_LOGS.map(([name]) => [name, { on: input(`session-${name}`, { type: "checkbox" }), size: num(`session-${name}-size`) }]),
    ) as Record<string, { on: HTMLInputElement; size: HTMLInputElement }>,
  };
}
type Controls = ReturnType<typeof controls>;

/** Engine field → [control, tab]. */
function fields(c: Controls): [string, HTMLElement, TabId][] {
  const list: [string, HTMLElement, TabId][] = [
    ["log.folder", c.folder, "general"],
    ["log.level", c.level, "general"],
    ["log.max_size_kb", c.maxSize, "general"],
    ["log.enabled", c.enabled, "writer"],
    ["log.writer.min_interval_ms", c.minInterval, "writer"],
    ["log.writer.max_interval_ms", c.maxInterval, "writer"],
    ["log.writer.increase_below_lines", c.incBelow, "writer"],
    ["log.writer.increase_by_ms", c.incBy, "writer"],
    ["log.writer.decrease_above_lines", c.decAbove, "writer"],
    ["log.writer.decrease_by_ms", c.decBy, "writer"],
    ["log.writer.min_lines_waiting", c.minLines, "writer"],
    ["log.writer.max_line_age_ms", c.maxAge, "writer"],
    ["log.writer.memory_limit_kb", c.memory, "writer"],
    ["log.retention.keep_count", c.keepCount, "retention"],
    ["log.retention.keep_days", c.keepDays, "retention"],
    ["log.retention.max_total_mb", c.maxTotal, "retention"],
    ["log.retention.min_free_mb", c.minFree, "retention"],
  ];
  for (const [name] of SESSION_LOGS) list.push([`log.session.${name}.max_size_kb`, c.session[name].size, "sessions"]);
  return list;
}

/** A sentence with fields in it, as VPOP3 words its writer rules; errors for its fields go under it. */
function sentence(parts: Child[], controls: HTMLElement[]): HTMLElement {
  return h("div", { class: "sentence-row" }, h("div", { class: "sentence" }, parts), controls.map((c) => errorSlot(c)));
}

function viewButton(file: LogFile, label: string, strip: Strip): HTMLButtonElement {
  return button(label, {
    id: `btn-view-${file}`,
    onClick: () => void api.openLogViewer(file).catch((e) => strip.error(`Cannot open the viewer: ${errorText(e)}`)),
  });
}

function panels(c: Controls, strip: Strip, live: { interval: HTMLElement; memory: HTMLElement; folder: HTMLElement; table: HTMLElement; graph: HTMLElement }) {
  const panel = (...children: Child[]) => h("div", null, ...children);
  const browse = button("Browse…", {
    id: "btn-browse-folder",
    onClick: () =>
      void api
        .pickFolder("Folder for log files")
        .then((p) => {
          if (p) {
            c.folder.value = p;
            c.folder.dispatchEvent(new Event("input"));
          }
        })
        .catch((e) => strip.error(`Cannot show the folder dialog: ${errorText(e)}`)),
  });
  const general = panel(
    h("p", { class: "purpose" }, "Where Postroom keeps its log files, and how much goes into the main log."),
    group(
      "Log files",
      grid(
        row("Log folder:", c.folder, [browse]),
        h("div", { class: "form-row info" }, h("span", { class: "row-label" }, "In use now:"), h("div", { class: "row-field value selectable", id: "log-folder-now" }, live.folder)),
        row("Main log level:", c.level, [], "postroom.log records this much; errors.log always takes warnings and errors."),
        row("Maximum size:", c.maxSize, [unit("KB each for postroom.log, errors.log, security.log and mail.log")], "A full log is renamed .lbk and a new one begins (see Retention)."),
      ),
    ),
    group(
      "View",
      h("div", { class: "view-buttons" }, MAIN_LOGS.map(([file, label]) => viewButton(file, label, strip))),
      h("div", { class: "hint" }, "postroom.log: everything at the level above · errors.log: warnings and errors · security.log: failed logins, bans, refused connections · mail.log: one line per message received, sent or bounced."),
    ),
  );

  const sessionRows = SESSION_LOGS.map(([name, what]) =>
    h(
      "tr",
      { "data-log": name },
      h("td", null, h("div", { class: "field-line check" }, c.session[name].on, h("label", { for: c.session[name].on.id }, `${name}.log`))),
      h("td", { class: "what" }, what),
      h("td", null, h("div", { class: "field-line" }, c.session[name].size, unit("KB")), errorSlot(c.session[name].size)),
      h("td", null, viewButton(name as LogFile, "View", strip)),
    ),
  );
  const sessions = panel(
    h("p", { class: "purpose" }, "A session log records every line of each conversation of one kind, tagged [#id] so that one conversation can be followed — also into security.log and mail.log."),
    group(
      "Session logs",
      h("table", { class: "grid session-logs", id: "session-logs" }, h("thead", null, h("tr", null, h("th", null, "Record"), h("th", null, "What it records"), h("th", null, "Maximum size"), h("th", null, ""))), h("tbody", null, sessionRows)),
      h("div", { class: "hint" }, "Session logs grow fast: switch them on to find a problem, then off. Passwords and message contents are never written, only their size."),
    ),
  );

  const writer = panel(
    group(
      "Log writer settings",
      h(
        "div",
        { class: "field-line check" },
        c.enabled,
        h("label", { for: c.enabled.id }, "Enable logging to file"),
        unit("— off, every line is thrown away (only to see whether logging slows the computer down)"),
      ),
      errorSlot(c.enabled),
      h(
        "div",
        { class: "writer-rules" },
        sentence(
          ["Min time between log writer bursts", c.minInterval, unit("ms"), h("span", { class: "gap" }), "Max time between log writer bursts", c.maxInterval, unit("ms")],
          [c.minInterval, c.maxInterval],
        ),
        sentence(["If lines written <", c.incBelow, "then increase time between bursts by", c.incBy, unit("ms")], [c.incBelow, c.incBy]),
        sentence(["If lines written >", c.decAbove, "then decrease time between bursts by", c.decBy, unit("ms")], [c.decAbove, c.decBy]),
        sentence(["Only write to disk if at least", c.minLines, "lines waiting to be written"], [c.minLines]),
        sentence(["Always write if oldest line is over", c.maxAge, unit("ms old (overrides the previous setting)")], [c.maxAge]),
        sentence(["Memory for lines waiting to be written:", c.memory, unit("KB (past it, lines are dropped and counted: session logs first)")], [c.memory]),
      ),
    ),
    group(
      "Now",
      h("div", { class: "writer-now" }, h("span", null, "Current time between log writer bursts: ", live.interval), h("span", null, "Waiting in memory: ", live.memory)),
      live.table,
      live.graph,
    ),
  );

  const radioLine = (control: HTMLInputElement, label: string, extra: HTMLElement[]) =>
    h("div", { class: "field-line check choice" }, control, h("label", { for: control.id }, label), extra);
  const retention = panel(
    h("p", { class: "purpose" }, "When a log reaches its maximum size it becomes name.lbk; the one before that is kept as name_YYYYMMDD_N.lbk."),
    group(
      "Keep old log files",
      radioLine(c.byCount, "Keep the newest", [c.keepCount, unit("old files of each log")]),
      errorSlot(c.keepCount),
      radioLine(c.byDays, "Keep old files for", [c.keepDays, unit("days")]),
      errorSlot(c.keepDays),
    ),
    group(
      "Disk space",
      grid(
        row("All log files together:", c.maxTotal, [unit("MB at most (the oldest old files go first)")]),
        row("Always leave free:", c.minFree, [unit("MB on the disk")], "Wins over everything above: old files are deleted while the disk has less free, and if that is not enough, nothing more is written until there is room (the main window says so)."),
      ),
    ),
  );
  return { general, sessions, writer, retention };
}

function fill(c: Controls, s: LogSettings): void {
  c.folder.value = s.folder;
  c.level.value = s.level;
  c.maxSize.value = String(s.max_size_kb);
  c.enabled.checked = s.enabled;
  const w = s.writer;
  c.minInterval.value = String(w.min_interval_ms);
  c.maxInterval.value = String(w.max_interval_ms);
  c.incBelow.value = String(w.increase_below_lines);
  c.incBy.value = String(w.increase_by_ms);
  c.decAbove.value = String(w.decrease_above_lines);
  c.decBy.value = String(w.decrease_by_ms);
  c.minLines.value = String(w.min_lines_waiting);
  c.maxAge.value = String(w.max_line_age_ms);
  c.memory.value = String(w.memory_limit_kb);
  c.byCount.checked = s.retention.keep_by === "count";
  c.byDays.checked = s.retention.keep_by === "days";
  c.keepCount.value = String(s.retention.keep_count);
  c.keepDays.value = String(s.retention.keep_days);
  c.maxTotal.value = String(s.retention.max_total_mb);
  c.minFree.value = String(s.retention.min_free_mb);
  for (const [name] of SESSION_LOGS) {
    c.session[name].on.checked = s.session[name].enabled;
    c.session[name].size.value = String(s.session[name].max_size_kb);
  }
  updateState(c);
}

function updateState(c: Controls): void {
  c.keepCount.disabled = !c.byCount.checked;
  c.keepDays.disabled = !c.byDays.checked;
}

function collect(c: Controls, loaded: LogSettings): { log: LogSettings; local: Map<string, string> } {
  const local = new Map<string, string>();
  const int = (key: string, control: HTMLInputElement, min = 0, max = U32): number => {
    const v = whole(control.value, min, max);
    if (typeof v === "string") local.set(key, v);
    return typeof v === "number" ? v : 0;
  };
  const session = { ...loaded.session };
  for (const [name] of SESSION_LOGS) {
    session[name] = { enabled: c.session[name].on.checked, max_size_kb: int(`log.session.${name}.max_size_kb`, c.session[name].size, 16) };
  }
  const log: LogSettings = {
    enabled: c.enabled.checked,
    folder: c.folder.value.trim(),
    level: c.level.value as LogLevel,
    max_size_kb: int("log.max_size_kb", c.maxSize, 16),
    session,
    writer: {
      min_interval_ms: int("log.writer.min_interval_ms", c.minInterval),
      max_interval_ms: int("log.writer.max_interval_ms", c.maxInterval),
      increase_below_lines: int("log.writer.increase_below_lines", c.incBelow),
      increase_by_ms: int("log.writer.increase_by_ms", c.incBy),
      decrease_above_lines: int("log.writer.decrease_above_lines", c.decAbove),
      decrease_by_ms: int("log.writer.decrease_by_ms", c.decBy),
      min_lines_waiting: int("log.writer.min_lines_waiting", c.minLines),
      max_line_age_ms: int("log.writer.max_line_age_ms", c.maxAge),
      memory_limit_kb: int("log.writer.memory_limit_kb", c.memory, 64),
    },
    retention: {
      keep_by: c.byDays.checked ? "days" : "count",
      keep_count: c.byCount.checked ? int("log.retention.keep_count", c.keepCount) : loaded.retention.keep_count,
      keep_days: c.byDays.checked ? int("log.retention.keep_days", c.keepDays, 1) : loaded.retention.keep_days,
      max_total_mb: int("log.retention.max_total_mb", c.maxTotal, 1),
      min_free_mb: int("log.retention.min_free_mb", c.minFree),
    },
  };
  return { log, local };
}

const ms = (n: number) => `${formatNumber(n)} ms`;

function statsTable(): Table<FileStats> {
  return new Table<FileStats>({
    id: "writer-stats",
    label: "Log file stats",
    rowKey: (f) => f.file,
    rowClass: (f) => (f.error ? "row-failed" : f.enabled ? "" : "row-muted"),
    columns: [
      {
        key: "name",
        title: "File",
        value: (f) => f.name,
        render: (f) => (f.error ? h("span", { class: "problem", title: f.error }, `${f.name} — ${f.error}`) : f.enabled ? f.name : `${f.name} (off)`),
        sortable: false,
      },
      { key: "writes", title: "Writes", value: (f) => f.writes, render: (f) => formatNumber(f.writes), align: "right", width: "64px", sortable: false },
      { key: "lines", title: "Lines", value: (f) => f.lines, render: (f) => formatNumber(f.lines), align: "right", width: "78px", sortable: false },
      { key: "bytes", title: "Bytes", value: (f) => f.bytes, render: (f) => (f.bytes ? formatSize(f.bytes) : "0"), align: "right", width: "82px", sortable: false },
      { key: "dropped", title: "Dropped", value: (f) => f.dropped, render: (f) => formatNumber(f.dropped), align: "right", width: "70px", sortable: false },
      { key: "waiting", title: "Waiting", value: (f) => f.lines_waiting, render: (f) => formatNumber(f.lines_waiting), align: "right", width: "66px", sortable: false },
      { key: "oldest", title: "Oldest", value: (f) => f.oldest_line_age_ms ?? -1, render: (f) => (f.oldest_line_age_ms === null ? "–" : ms(f.oldest_line_age_ms)), align: "right", width: "78px", sortable: false },
    ],
  });
}

export function mountDiagnostics(app: HTMLElement): () => void {
  const f = frame("Diagnostics", "diagnostics-window");
  const sw = new SettingsWindow({
    frame: f,
    formId: "diagnostics-form",
    check: () => collect(c, loaded!).local,
    save: () => api.saveLogSettings(collect(c, loaded!).log),
    applied: async () => {
      loaded = await api.getLogSettings();
      fill(c, loaded);
      strip.info("Settings saved. The log writer uses them from its next burst.");
    },
    tabs: { get: () => tabs, tabOf: (k) => tabOf.get(k) },
  });
  const { strip, errors } = sw;
  const c = controls();
  const fieldList = fields(c);
  for (const [key, control] of fieldList) errors.register(key, control);
  const tabOf = new Map(fieldList.map(([key, , tab]) => [key, tab]));
  let loaded: LogSettings | null = null;

  const table = statsTable();
  const graph = logGraph();
  const live = {
    interval: h("strong", { id: "writer-interval" }, "–"),
    memory: h("strong", { id: "writer-memory-now" }, "–"),
    folder: h("span", null, "–"),
    hiddenNote: h("span", { id: "writer-hidden-note" }),
    table: h("div"),
    graph: graph.el,
  };
  live.table = h("div", { class: "stats-wrap" }, h("div", { class: "subhead" }, "Log file stats, last 10 minutes (Waiting and Oldest: now)", live.hiddenNote), table.el);
  const p = panels(c, strip, live);
  const tabs = new Tabs(TABS.map(([id, label]) => ({ id, label, panel: p[id] })));
  for (const el of [c.byCount, c.byDays]) el.addEventListener("change", () => updateState(c));

  sw.form.append(tabs.el);
  f.body.append(sw.form);

  function render(s: LogWriterStats): void {
    text(live.interval, ms(s.interval_ms));
    text(live.memory, `${formatSize(s.buffered_bytes)} of ${formatSize(s.memory_limit_bytes)}${s.enabled ? "" : " — logging to file is off"}`);
    text(live.folder, s.folder);
    // Session logs that are off and idle would only be noise.
    const shown = s.files.filter((f) => f.enabled || f.writes || f.lines_waiting || f.dropped || f.error);
    table.setRows(shown);
    const hidden = s.files.length - shown.length;
    text(live.hiddenNote, hidden ? ` · ${hidden} session logs that are off are not listed` : "");
    graph.draw(s.graph);
  }

  let statsFailing = false;
  async function refresh(): Promise<void> {
    try {
      render(await api.getLogWriterStats());
      statsFailing = false;
    } catch (e) {
      if (!statsFailing) strip.error(`Cannot read the log writer's figures: ${errorText(e)}`);
      statsFailing = true;
    }
  }

  void api
    .getLogSettings()
    .then((s) => {
      loaded = s;
      fill(c, s);
      sw.ready();
    })
    .catch((e) => strip.error(`Cannot read the log settings: ${errorText(e)}`));

  // The writer's figures change when it writes; the graph's time axis moves on by itself.
  const stopWatch = watch(["log_writer"], refresh, { everyMs: 10_000 });
  app.replaceChildren(f.root);
  return () => {
    sw.stop();
    stopWatch();
  };
}
