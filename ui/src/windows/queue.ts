import { api, closeWindow, errorText, toApiError } from "../api";
import type { QueueEntry } from "../bindings/QueueEntry";
import { formatDateTime, formatShortTime, formatSize, plural } from "../format";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { confirmDialog } from "../widgets/dialog";
import { watch } from "../changes";
import { append, frame, h, text, type Child } from "../widgets/dom";
import { Table } from "../widgets/table";

const STATES: Record<string, [label: string, cls: string, title: string]> = {
  queued: ["Waiting", "state-waiting", "Postroom will try again at the time shown under Next try."],
  failed: ["Failed", "state-failed", "Postroom gave up: the sender was told the message could not be delivered. Retry now tries once more."],
};

const TARGET_TITLES: Record<string, string> = {
  internet: "Sent to the recipient's mail server (its MX), or the smart host when one is set.",
  lan: "Forwarded to this server on your network (a LAN forwarding rule or the user's forward).",
  store_forward: "Store and Forward: the user can read it here; once this server takes it, the local copy goes to the Recycle Bin.",
};

/** Where a recipient goes: the forwarding target, or "Internet". */
function targetText(e: QueueEntry): string {
  if (!e.target) return "Internet";
  return e.kind === "store_forward" ? `${e.target} (Store and Fwd)` : e.target;
}

function stateCell(e: QueueEntry): HTMLElement {
  const [label, cls, title] = STATES[e.state] ?? [e.state, "", ""];
  return h("span", { class: `state ${cls}`, title }, h("span", { class: "dot", "aria-hidden": "true" }), label);
}

const nextTime = (e: QueueEntry) => (e.state === "failed" ? Number.MAX_SAFE_INTEGER : Date.parse(e.next_attempt) || 0);

function nextCell(e: QueueEntry): Child {
  if (e.state === "failed") return "–";
  return nextTime(e) <= Date.now() ? "now" : h("span", { title: formatDateTime(e.next_attempt) }, formatShortTime(e.next_attempt));
}

/** The selected entry in full, under the table: the error text can be long, and a tooltip cannot be copied. */
function detail(e: QueueEntry | null): Child[] {
  if (!e) return [h("span", { class: "hint" }, "Select a line to see its last error in full.")];
  return [
    h("strong", null, e.recipient),
    ` — queued ${formatDateTime(e.queued_at)}, ${plural(e.attempts, "attempt")}. `,
    e.last_error ? h("span", { class: "error-message" }, `Last error: ${e.last_error}`) : "No error so far.",
  ];
}

export function mountQueue(app: HTMLElement): () => void {
  const f = frame("Outbound Queue", "queue-window");
  const strip = new Strip(f.strip);
  const summary = h("span", { class: "footer-info", id: "queue-summary" });
  let failures = 0;
  let lastKey = "";

  const retryBtn = button("Retry now", { id: "btn-retry", disabled: true, onClick: () => void retry(), title: "Try to send to the selected recipient straight away" });
  const deleteBtn = button("Delete", { id: "btn-delete-entry", disabled: true, onClick: () => void remove() });
  const refreshBtn = button("Refresh", { id: "btn-refresh", onClick: () => void load() });

  const table = new Table<QueueEntry>({
    id: "queue-table",
    label: "Outbound queue",
    selectable: true,
    rowKey: (e) => String(e.id),
    empty: "The queue is empty: all mail has been sent.",
    rowClass: (e) => (e.state === "failed" ? "row-failed" : ""),
    onSelect: (e) => {
      retryBtn.disabled = e === null;
      deleteBtn.disabled = e === null;
      showDetail(e);
    },
    onDelete: () => void remove(),
    columns: [
      {
        key: "recipient", title: "Recipient", value: (e) => e.recipient, width: "21%",
        render: (e) => h("span", { class: "ellipsis", title: `${e.recipient}\nQueued ${formatDateTime(e.queued_at)}` }, e.recipient),
      },
      {
        key: "target", title: "Goes to", value: (e) => targetText(e), width: "14%",
        render: (e) => h("span", { class: "ellipsis", title: TARGET_TITLES[e.kind] ?? "" }, targetText(e)),
      },
      {
        key: "sender", title: "Sender", value: (e) => e.sender || "<>", width: "15%",
        render: (e) => h("span", { class: "ellipsis", title: e.sender || "Empty sender: a delivery report or other automatic message" }, e.sender || "<>"),
      },
      { key: "size", title: "Size", value: (e) => e.size, render: (e) => formatSize(e.size), align: "right", width: "82px" },
      { key: "state", title: "State", value: (e) => STATES[e.state]?.[0] ?? e.state, render: stateCell, width: "92px" },
      { key: "attempts", title: "Attempts", value: (e) => e.attempts, align: "right", width: "74px" },
      { key: "next", title: "Next try", value: nextTime, render: nextCell, width: "108px" },
      {
        key: "error", title: "Last error", value: (e) => e.last_error ?? "",
        render: (e) => (e.last_error ? h("span", { class: "ellipsis problem-soft", title: e.last_error }, e.last_error) : ""),
      },
    ],
  });
  table.el.classList.add("fill");
  const detailBox = h("div", { class: "queue-detail selectable", id: "queue-detail" }, detail(null));
  const showDetail = (e: QueueEntry | null) => {
    const key = e ? JSON.stringify(e) : "";
    if (detailBox.dataset.key === key) return;
    detailBox.replaceChildren();
    append(detailBox, detail(e));
    detailBox.dataset.key = key;
  };

  f.body.append(
    h("p", { class: "explain" }, "Mail waiting to go to other mail servers, one line per recipient. Postroom retries on its own; a message is returned to its sender when it cannot be delivered."),
    h("div", { class: "list-area" }, table.el),
    detailBox,
    h("div", { class: "list-buttons" }, retryBtn, deleteBtn, h("span", { class: "spacer" }), refreshBtn),
  );
  fillBar(f.bar, [summary], [button("Close", { id: "btn-close", onClick: () => void closeWindow() })]);

  async function load(): Promise<void> {
    try {
      const entries = await api.listQueue();
      // Rebuilding unchanged rows would close an open tooltip; "now" and times still refresh every half minute.
      const key = `${Math.floor(Date.now() / 30_000)} ${JSON.stringify(entries)}`;
      if (key !== lastKey) table.setRows(entries);
      lastKey = key;
      showDetail(table.selected());
      detailBox.hidden = entries.length === 0;
      const waiting = entries.filter((e) => e.state === "queued").length;
      const failed = entries.length - waiting;
      text(summary, `${plural(waiting, "message")} waiting${failed ? ` · ${failed} failed` : ""}`);
      if (failures > 0) strip.clear();
      failures = 0;
    } catch (e) {
      if (failures++ === 0) strip.error(`Cannot read the queue: ${errorText(e)}`);
    }
  }

  const gone = (e: unknown) => toApiError(e).code === "not_found";

  async function retry(): Promise<void> {
    const e = table.selected();
    if (!e) return;
    await busy([retryBtn], async () => {
      try {
        await api.retryQueueEntry(e.id);
        strip.info(`Postroom will try to send to ${e.recipient} now.`);
      } catch (err) {
        strip.error(gone(err) ? `The message to ${e.recipient} is no longer in the queue: it has probably just been sent.` : `Cannot retry ${e.recipient}: ${errorText(err)}`);
      }
      await load();
    });
  }

  async function remove(): Promise<void> {
    const e = table.selected();
    if (!e) return;
    const ok = await confirmDialog(
      "Delete from the Queue",
      [
        h("p", null, "Delete the message to ", h("strong", null, e.recipient), " from the queue?"),
        h("p", null, "It will never be sent to them, and the sender is not told. Other recipients of the same message are not affected."),
      ],
      "Delete",
    );
    if (!ok) return;
    try {
      await api.deleteQueueEntry(e.id);
      strip.info(`The message to ${e.recipient} was deleted from the queue.`);
    } catch (err) {
      strip.error(gone(err) ? `The message to ${e.recipient} had already left the queue.` : `Cannot delete the message to ${e.recipient}: ${errorText(err)}`);
    }
    await load();
    table.el.focus();
  }

  app.replaceChildren(f.root);
  // "Next attempt" turns into "now" with time alone: every half minute besides the changes.
  return watch(["data"], load, { everyMs: 30_000 });
}
