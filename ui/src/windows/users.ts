import { api, closeWindow, errorText } from "../api";
import type { BulkAddReport } from "../bindings/BulkAddReport";
import type { UserSummary } from "../bindings/UserSummary";
import { formatNumber, formatSize, plural } from "../format";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { confirmDialog, messageDialog } from "../widgets/dialog";
import { frame, h, text } from "../widgets/dom";
import { Table } from "../widgets/table";
import { editUser } from "./user-editor";

export function mountUsers(app: HTMLElement): () => void {
  const f = frame("Users", "users-window");
  const strip = new Strip(f.strip);
  const summary = h("span", { class: "footer-info", id: "users-summary" });

  const editBtn = button("Edit…", { id: "btn-edit-user", disabled: true, onClick: () => void edit() });
  const deleteBtn = button("Delete", { id: "btn-delete-user", disabled: true, onClick: () => void remove() });
  const newBtn = button("New…", { id: "btn-new-user", onClick: () => void create() });
  const bulkBtn = button("Bulk Add…", { id: "btn-bulk-add", onClick: () => void bulkAdd(), title: "Add users from a CSV file: name,password,real name" });

  const table = new Table<UserSummary>({
    id: "users-table",
    label: "Users",
    selectable: true,
    rowKey: (u) => u.name,
    empty: "No users yet. Click New… to add one.",
    rowClass: (u) => (u.enabled ? "" : "row-muted"),
    onSelect: (u) => {
      editBtn.disabled = u === null;
      deleteBtn.disabled = u === null;
    },
    onActivate: () => void edit(),
    onDelete: () => void remove(),
    columns: [
      { key: "name", title: "Name", value: (u) => u.name, width: "18%" },
      { key: "real_name", title: "Real name", value: (u) => u.real_name, width: "22%" },
      { key: "aliases", title: "Aliases", value: (u) => u.aliases.join(", "), render: (u) => h("span", { class: "ellipsis", title: u.aliases.join(", ") }, u.aliases.join(", ")) },
      { key: "messages", title: "Messages", value: (u) => u.message_count, render: (u) => formatNumber(u.message_count), align: "right", width: "11%" },
      { key: "size", title: "Size", value: (u) => u.mailbox_bytes, render: (u) => formatSize(u.mailbox_bytes), align: "right", width: "11%" },
      { key: "enabled", title: "Enabled", value: (u) => (u.enabled ? "Yes" : "No"), align: "center", width: "9%" },
    ],
  });
  table.sortBy("name", true);
  table.el.classList.add("fill");

  f.body.append(
    h("div", { class: "list-area" }, table.el),
    h("div", { class: "list-buttons" }, newBtn, editBtn, deleteBtn, h("span", { class: "spacer" }), bulkBtn),
  );
  fillBar(f.bar, [summary], [button("Close", { id: "btn-close", onClick: () => void closeWindow() })]);

  async function load(select?: string | null): Promise<void> {
    try {
      const users = await api.listUsers();
      table.setRows(users);
      if (select !== undefined) table.select(select);
      const bytes = users.reduce((a, u) => a + u.mailbox_bytes, 0);
      text(summary, `${plural(users.length, "user")} · ${formatSize(bytes)} of mail`);
    } catch (e) {
      strip.error(`Cannot list the users: ${errorText(e)}`);
    }
  }

  async function create(): Promise<void> {
    const name = await editUser(null);
    if (name !== null) {
      strip.info(`User ${name} was added.`);
      await load(name);
    }
    table.el.focus();
  }

  async function edit(): Promise<void> {
    const u = table.selected();
    if (!u) return;
    let detail;
    try {
      detail = await busy([editBtn], () => api.getUser(u.name));
    } catch (e) {
      strip.error(`Cannot open user ${u.name}: ${errorText(e)}`);
      await load();
      return;
    }
    const name = await editUser(detail);
    if (name !== null) {
      strip.info(`User ${name} was saved.`);
      await load(name);
    }
    table.el.focus();
  }

  async function remove(): Promise<void> {
    const u = table.selected();
    if (!u) return;
    const ok = await confirmDialog(
      "Delete User",
      [
        h("p", null, "Delete user ", h("strong", null, u.name), u.real_name ? ` (${u.real_name})` : "", "?"),
        h("p", null, `The mailbox (${plural(u.message_count, "message")}, ${formatSize(u.mailbox_bytes)}) goes to the recycle bin.`),
      ],
      "Delete",
    );
    if (!ok) return;
    try {
      await api.deleteUser(u.name);
      strip.info(`User ${u.name} was deleted; the mailbox is in the recycle bin.`);
    } catch (e) {
      strip.error(`Cannot delete user ${u.name}: ${errorText(e)}`);
    }
    await load(null);
    table.el.focus();
  }

  async function bulkAdd(): Promise<void> {
    let report: BulkAddReport | null;
    try {
      report = await busy([bulkBtn], () => api.bulkAddUsers());
    } catch (e) {
      strip.error(`Bulk add failed: ${errorText(e)}`);
      return;
    }
    if (report === null) return;
    await load();
    await showReport(report);
  }

  app.replaceChildren(f.root);
  void load();
  return () => {};
}

export async function showReport(report: BulkAddReport): Promise<void> {
  const added = report.added.length;
  const skipped = report.errors.length;
  await messageDialog(
    "Bulk Add Users",
    [
      h(
        "div",
        { class: "message" },
        h("div", { class: `message-icon ${skipped ? "warn" : "ok"}`, "aria-hidden": "true" }, skipped ? "!" : "✓"),
        h(
          "div",
          null,
          h("p", { id: "bulk-added" }, `${plural(added, "user")} added`, added && added <= 12 ? `: ${report.added.join(", ")}.` : "."),
          skipped ? h("p", null, `${plural(skipped, "row")} skipped:`) : null,
        ),
      ),
      skipped
        ? h("ul", { class: "report-list", id: "bulk-errors" }, report.errors.map((e) => h("li", null, `line ${e.line}: ${e.message}`)))
        : null,
    ],
    "bulk-report",
    480,
  );
}
