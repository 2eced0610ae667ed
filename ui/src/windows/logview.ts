import { api, closeWindow, errorText } from "../api";
import type { LogFile } from "../bindings/LogFile";
import { formatNumber, formatSize } from "../format";
import { button, fillBar, Strip } from "../widgets/buttons";
import { watch } from "../changes";
import { closeOnEscape, frame, h, text } from "../widgets/dom";
import { input } from "../widgets/form";

/** How much of the end of a log the viewer shows. */
const SHOWN_BYTES = 1024 * 1024;

/** A log file's last megabyte, refreshed while "Follow" is on, with a filter. Route: #/logview/<file>. */
export function mountLogView(app: HTMLElement): () => void {
  const file = (location.hash.split("/")[2] ?? "postroom") as LogFile;
  const f = frame(`${file}.log`, "logview-window");
  const strip = new Strip(f.strip);
  let lines: string[] = [];

  const where = h("span", { class: "logview-where selectable", id: "log-path" }, "…");
  const filter = input("log-filter", { type: "search", placeholder: "Show only lines containing…", class: "w-filter" });
  const follow = input("log-follow", { type: "checkbox", checked: true });
  const count = h("span", { class: "logview-count", id: "log-count" });
  const pre = h("pre", { class: "logview-text selectable", id: "log-text", tabindex: 0 });
  const refreshBtn = button("Refresh", { id: "btn-refresh", onClick: () => void refresh() });

  const toolbar = h(
    "div",
    { class: "logview-toolbar" },
    filter,
    h("div", { class: "field-line check" }, follow, h("label", { for: follow.id }, "Follow new lines")),
    count,
  );
  f.body.append(h("div", { class: "logview-head" }, where), toolbar, pre);
  fillBar(f.bar, [], [refreshBtn, button("Close", { id: "btn-close", onClick: () => void closeWindow() })]);

  function show(): void {
    const needle = filter.value.trim().toLowerCase();
    const shown = needle ? lines.filter((l) => l.toLowerCase().includes(needle)) : lines;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    text(pre, shown.length ? shown.join("\n") : needle ? "No line contains that text." : "The file is empty: nothing has been logged here yet.");
    text(count, needle ? `${formatNumber(shown.length)} of ${formatNumber(lines.length)} lines` : `${formatNumber(lines.length)} lines`);
    if (follow.checked || atEnd) pre.scrollTop = pre.scrollHeight;
  }

  async function refresh(): Promise<void> {
    try {
      const tail = await api.readLog(file, SHOWN_BYTES);
      lines = tail.text.split("\n");
      if (lines.length && lines[lines.length - 1] === "") lines.pop();
      text(where, `${tail.path} · ${formatSize(tail.size)}${tail.truncated ? ` · showing the last ${formatSize(SHOWN_BYTES)}` : ""}`);
      strip.clear();
      show();
    } catch (e) {
      strip.error(`Cannot read ${file}.log: ${errorText(e)}`);
    }
  }

  filter.addEventListener("input", show);
  const stopEscape = closeOnEscape(closeWindow);
  const stopPoll = watch(["log_writer"], async () => {
    if (follow.checked || lines.length === 0) await refresh();
  });
  app.replaceChildren(f.root);
  return () => {
    stopEscape();
    stopPoll();
  };
}
