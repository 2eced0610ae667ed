import { api, errorText, type WindowName } from "../api";
import type { ForwardingProblem } from "../bindings/ForwardingProblem";
import type { Overview } from "../bindings/Overview";
import type { ServiceStatus } from "../bindings/ServiceStatus";
import { formatAddress, formatErrorTime, formatNumber, formatUnixTime, plural, stateBadge, TLS_LABELS } from "../format";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { watch } from "../changes";
import { frame, h, text } from "../widgets/dom";
import { group, input } from "../widgets/form";
import { Table } from "../widgets/table";
import { changeSystemService, systemServiceSwitch } from "../widgets/system-service";

export function mountMain(app: HTMLElement): () => void {
  const f = frame("Postroom", "main-window");
  const strip = new Strip(f.strip);
  let overview: Overview | null = null;
  let failures = 0;

  const statusDot = h("span", { class: "status-dot", "aria-hidden": "true" });
  const statusText = h("span", { class: "status-text", id: "status-text" }, "Connecting…");
  const statusDetail = h("div", { class: "status-detail", id: "status-detail" });
  const pauseBtn = button("Pause services", { id: "btn-pause", onClick: () => void togglePause() });
  const header = h(
    "div",
    { class: "status-header", id: "status-header" },
    statusDot,
    h("div", { class: "status-words" }, statusText, statusDetail),
    pauseBtn,
  );

  const services = new Table<ServiceStatus>({
    id: "services-table",
    label: "Services",
    rowKey: (s) => s.id,
    empty: "No services",
    rowClass: (s) => (s.state === "failed" ? "row-failed" : s.state === "disabled" ? "row-muted" : ""),
    columns: [
      { key: "name", title: "Service", value: (s) => s.name, width: "130px", sortable: false },
      { key: "protocol", title: "Protocol", value: (s) => s.protocol, width: "72px", sortable: false },
      { key: "state", title: "State", value: (s) => s.state, render: (s) => stateBadge(s.state), width: "92px", sortable: false },
      { key: "address", title: "Address", value: (s) => formatAddress(s.bind_address, s.port), width: "128px", sortable: false },
      { key: "tls", title: "TLS", value: (s) => TLS_LABELS[s.tls_mode] ?? s.tls_mode, width: "96px", sortable: false },
      { key: "connections", title: "Connections", value: (s) => s.connections, render: (s) => formatNumber(s.connections), align: "right", width: "100px", sortable: false },
      { key: "error", title: "Problem", value: (s) => s.error ?? "", render: (s) => (s.error ? h("span", { class: "problem", title: s.error }, s.error) : ""), sortable: false },
    ],
  });

  const open = (w: WindowName) => () => void api.openWindow(w).catch((e) => strip.error(`Cannot open the window: ${errorText(e)}`));
  const figure = (id: string, label: string, opens?: WindowName) => {
    const value = h("span", { class: "figure-value", id: `fig-${id}` }, "–");
    const name = opens
      ? h("button", { type: "button", class: "figure-label link", id: `link-${id}`, title: "Open the outbound queue", onclick: open(opens) }, label)
      : h("span", { class: "figure-label" }, label);
    return { value, row: h("div", { class: "figure" }, name, value) };
  };
  const figs = {
    connections: figure("connections", "Connections now"),
    received: figure("received", "Messages received today"),
    sent: figure("sent", "Messages sent today"),
    queue: figure("queue", "Messages in the queue", "queue"),
    users: figure("users", "Users"),
  };
  const errorsList = h("ul", { class: "error-list", id: "recent-errors" });
  const logProblem = h("div", { class: "log-problem", id: "log-problem", hidden: true });
  const forwarding = h("div", { class: "log-problem forwarding-problems", id: "forwarding-problems", hidden: true });
  const collecting = h("div", { class: "log-problem forwarding-problems", id: "collector-problems", hidden: true });
  // Which engine these windows use: this app's own, or a postroomd service's (then said at the top).
  const engineLink = h("div", { class: "engine-link", id: "engine-link", hidden: true });
  let engineWords = "";

  f.body.append(
    header,
    engineLink,
    logProblem,
    forwarding,
    collecting,
    group("Services", services.el),
    h(
      "div",
      { class: "columns" },
      group("Activity", h("div", { class: "figures" }, Object.values(figs).map((x) => x.row))),
      group("Recent errors", errorsList),
    ),
  );

  const windowButton = (label: string, name: WindowName) => button(label, { id: `btn-open-${name}`, onClick: open(name) });
  f.body.append(
    group(
      "Settings",
      h(
        "div",
        { class: "launch-buttons", id: "settings-buttons" },
        windowButton("Services…", "services"),
        windowButton("SMTP…", "smtp"),
        windowButton("Users…", "users"),
        windowButton("Local Domains…", "domains"),
        windowButton("TLS Certificate…", "certificate"),
        windowButton("Bandwidth…", "bandwidth"),
        windowButton("Message Store…", "messagestore"),
        windowButton("Recycle Bin…", "recyclebin"),
        windowButton("LAN Forwarding…", "lanforward"),
        windowButton("Spam Filter…", "spamfilter"),
        windowButton("Quarantine…", "quarantine"),
        windowButton("Mail Collectors…", "collectors"),
        windowButton("Diagnostics…", "diagnostics"),
        windowButton("Queue…", "queue"),
        windowButton("Bans…", "bans"),
        windowButton("Set-Up Wizard…", "setup"),
      ),
    ),
  );

  const footer = h("span", { class: "footer-info", id: "footer-info" });
  // The login item: Postroom starts in the tray when the user logs in.
  const autostart = input("autostart", { type: "checkbox" });
  const autostartLine = h("span", { class: "field-line check" }, autostart, h("label", { for: "autostart" }, "Start Postroom when I log in"));
  autostart.addEventListener("change", () => {
    const wanted = autostart.checked;
    api
      .setAutostart(wanted)
      .then((now) => (autostart.checked = now))
      .catch((e) => {
        autostart.checked = !wanted;
        strip.error(`Cannot change whether Postroom starts at login: ${errorText(e)}`);
      });
  });
  api
    .getEngineLink()
    .then((link) => {
      if (link.socket) {
        engineWords = ` · attached to ${link.program} (pid ${link.pid})`;
        text(
          engineLink,
          `Attached to the ${link.program} service (pid ${link.pid}, version ${link.version}) serving ${link.data_dir}, through ${link.socket}. ` +
            "Changes made here are made there; Quit in the tray closes this app only.",
        );
        engineLink.hidden = false;
      } else {
        engineWords = ` · mail server running in this app (pid ${link.pid})`;
        ownFolder = link.data_dir;
      }
      if (overview) renderOverview(overview);
    })
    .catch(() => {});
  api
    .getAutostart()
    .then((on) => (autostart.checked = on))
    .catch(() => (autostartLine.hidden = true));
  // The system service: on moves the mail server out of this app (and back when turned off).
  let ownFolder = "";
  const service = systemServiceSwitch("system-service", (on, box) => void changeSystemService(on, box, strip, ownFolder));
  api
    .getSystemService()
    .then(service.show)
    .catch(() => (service.line.hidden = true));
  fillBar(f.bar, [footer], [service.line, autostartLine]);

  function renderOverview(o: Overview): void {
    const failedList = o.services.filter((s) => s.state === "failed");
    const failed = failedList.length;
    let kind = "running";
    let words = "Running";
    let detail = `${plural(o.services.filter((s) => s.state === "running").length, "service")} listening`;
    if (o.paused) {
      kind = "paused";
      words = "Paused";
      detail = "No new connections are accepted until you resume the services.";
    } else if (failed > 0) {
      kind = "failed";
      words = `${failed} service(s) failed`;
      const first = failedList[0];
      detail = `${first.name}: ${first.error ?? "could not start"}${failed > 1 ? ` (and ${failed - 1} more)` : ""}. Change the setting in Services…`;
    }
    header.className = `status-header status-${kind}`;
    text(statusText, words);
    text(statusDetail, detail);
    text(pauseBtn, o.paused ? "Resume services" : "Pause services");

    logProblem.hidden = !o.log_problem;
    text(logProblem, o.log_problem ? `${o.log_problem}. Free some disk space or choose another log folder in Diagnostics…` : "");
    forwarding.hidden = o.forwarding.length === 0;
    forwarding.replaceChildren(...o.forwarding.map(forwardingLine));
    collecting.hidden = o.collectors.length === 0;
    collecting.replaceChildren(
      ...o.collectors.map((c) =>
        h(
          "div",
          { class: "forwarding-problem" },
          `Mail collector "${c.name}" failed ${c.failures} times in a row; last success ${c.last_success_at ? formatUnixTime(c.last_success_at) : "never"}. See Mail Collectors…`,
          h("div", { class: "forwarding-error" }, `Last error: ${c.last_error}`),
        ),
      ),
    );
    services.setRows(o.services);
    text(figs.connections.value, formatNumber(o.connections));
    text(figs.received.value, formatNumber(o.received_today));
    text(figs.sent.value, formatNumber(o.sent_today));
    text(figs.queue.value, formatNumber(o.queue_size));
    text(figs.users.value, formatNumber(o.user_count));
    text(footer, `Postroom ${o.version} · ${o.data_dir}${engineWords}`);
    footer.title = `Postroom ${o.version}\nData folder: ${o.data_dir}${engineWords}`;

    const errs = [...o.recent_errors].sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
    const key = JSON.stringify(errs);
    if (errorsList.dataset.key !== key) {
      errorsList.dataset.key = key;
      errorsList.replaceChildren(
        ...(errs.length
          ? errs.map((e) => h("li", null, h("span", { class: "error-time" }, formatErrorTime(e.time)), h("span", { class: "error-message" }, e.message)))
          : [h("li", { class: "empty" }, "No errors.")]),
      );
    }
  }

  /** "Main server mail.office.lan:25 unreachable since 09:12 — 37 messages held locally", and its last error. */
  function forwardingLine(p: ForwardingProblem): HTMLElement {
    const parts: string[] = [];
    if (p.since) {
      const state = p.unreachable ? "unreachable" : "not taking mail";
      parts.push(`Main server ${p.target} ${state} since ${formatErrorTime(p.since)} — ${plural(p.waiting, "message")} held locally, tried again every few minutes.`);
    }
    if (p.refused > 0) {
      parts.push(`${p.target} refused ${plural(p.refused, "Store and Forward message")}: the copies stay in the users' mailboxes. See Queue… (delete them there once resolved).`);
    }
    return h("div", { class: "forwarding-problem", title: p.last_error ?? "" }, parts.join(" "), p.last_error ? h("div", { class: "forwarding-error" }, `Last error: ${p.last_error}`) : null);
  }

  async function refresh(): Promise<void> {
    try {
      overview = await api.getOverview();
      if (failures > 0) strip.clear();
      failures = 0;
      renderOverview(overview);
    } catch (e) {
      failures++;
      strip.error(`Cannot read the server status: ${errorText(e)}`);
      // Old figures would look live: say plainly that there is no answer until there is one again.
      header.className = "status-header status-failed";
      text(statusText, "No answer from the mail server");
      text(statusDetail, "The figures below are from before; they come back by themselves when it answers again.");
    }
  }

  async function togglePause(): Promise<void> {
    if (!overview) return;
    const pause = !overview.paused;
    await busy([pauseBtn], async () => {
      try {
        await api.setPaused(pause);
        await refresh();
      } catch (e) {
        strip.error(`Cannot ${pause ? "pause" : "resume"} the services: ${errorText(e)}`);
      }
    });
  }

  app.replaceChildren(f.root);
  // "Today" rolls over at midnight: once a minute besides the changes.
  return watch(["services", "data", "errors", "log_writer"], refresh, { everyMs: 60_000 });
}
