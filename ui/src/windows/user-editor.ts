import { api, errorText, fieldMessages } from "../api";
import type { FolderInfo } from "../bindings/FolderInfo";
import type { UserDetail } from "../bindings/UserDetail";
import type { UserForm } from "../bindings/UserForm";
import { formatNumber, formatSize } from "../format";
import { openDialog } from "../widgets/dialog";
import { h } from "../widgets/dom";
import { checkRow, FieldErrors, grid, group, input, integer, row, textarea } from "../widgets/form";
import { Table } from "../widgets/table";
import { Tabs } from "../widgets/tabs";

export function parseAliases(raw: string): string[] {
  const seen = new Set<string>();
  for (const part of raw.split(/[\n,;]/)) {
    const alias = part.trim();
    if (alias) seen.add(alias);
  }
  return [...seen];
}

/** Opens the user editor; resolves with the saved user's name, or null if cancelled. */
export async function editUser(existing: UserDetail | null): Promise<string | null> {
  const editing = existing !== null;
  const u = existing?.user;
  const errors = new FieldErrors();
  const name = input("user-name", { value: u?.name ?? "", maxlength: 64, class: "w-medium" });
  const realName = input("user-real-name", { value: u?.real_name ?? "", class: "w-long" });
  const password = input("user-password", { type: "password", autocomplete: "new-password", class: "w-medium" });
  const password2 = input("user-password2", { type: "password", autocomplete: "new-password", class: "w-medium" });
  const enabled = input("user-enabled", { checked: u?.enabled ?? true });
  const aliases = textarea("user-aliases", { rows: 3, class: "w-long", value: (u?.aliases ?? []).join("\n") });
  errors.register("name", name);
  errors.register("real_name", realName);
  errors.register("password", password);
  errors.register("password2", password2);
  errors.register("enabled", enabled);
  errors.register("aliases", aliases);
  const bandwidth = input("user-bandwidth", { value: String(u?.bandwidth ?? 0), inputmode: "numeric", class: "w-short num" });
  errors.register("bandwidth", bandwidth);

  const general = h(
    "div",
    null,
    grid(
      row("User name:", name, [], "Used to log in, and as the mailbox name: name@your-domain."),
      row("Real name:", realName),
      row("Password:", password, [], editing ? "Leave both blank to keep the current password." : "At least 6 characters."),
      row("Confirm password:", password2),
      checkRow("Enabled (a disabled user cannot log in and receives no mail)", enabled),
      row("Aliases:", aliases, [], "Other names for this mailbox, one per line or separated by commas."),
    ),
    existing ? folderGroup(existing.folders) : null,
  );
  const advanced = h(
    "div",
    null,
    group(
      "Bandwidth",
      grid(
        row("Bandwidth limit:", bandwidth, [h("span", { class: "unit" }, "bytes per second, or −K for pool K")],
          "0: none of the user's own (the service's Bandwidth Throttling applies). N: each of this user's connections is limited to N bytes per second once logged in. −K: the user's connections share Bandwidth Pool K. When bandwidth.lua is in use, it decides, and sees this as userbandwidth."),
      ),
    ),
  );
  const tabs = new Tabs(
    [
      { id: "general", label: "General", panel: general },
      { id: "advanced", label: "Advanced", panel: advanced },
    ],
    "user-tab-",
  );

  let saved: string | null = null;
  const d = openDialog({
    id: "user-editor",
    title: editing ? `User Properties — ${u!.name}` : "New User",
    width: 600,
    body: [tabs.el],
    initialFocus: name,
    buttons: [
      { id: "btn-user-ok", label: "OK", primary: true, action: () => submit() },
      { id: "btn-user-cancel", label: "Cancel", cancel: true },
    ],
  });

  async function submit(): Promise<boolean> {
    d.strip.clear();
    const pw = password.value;
    if (pw !== password2.value) {
      errors.show(new Map([["password2", "the two passwords do not match"]]));
      password2.focus();
      return false;
    }
    const limit = integer(bandwidth.value || "0", -1000, 999_999_999);
    if (typeof limit === "string") {
      tabs.select("advanced");
      errors.show(new Map([["bandwidth", `${limit} (0, bytes per second, or −1 to −1000 for a pool)`]]));
      bandwidth.focus();
      return false;
    }
    const form: UserForm = {
      name: name.value.trim(),
      real_name: realName.value.trim(),
      enabled: enabled.checked,
      aliases: parseAliases(aliases.value),
      password: pw === "" ? null : pw,
      bandwidth: limit,
    };
    try {
      if (editing) await api.updateUser(u!.name, form);
      else await api.createUser(form);
      saved = form.name;
      return true;
    } catch (e) {
      const unmatched = errors.show(fieldMessages(e));
      if (errors.keys().length) {
        errors.focusFirst();
        d.strip.error(unmatched.length ? `The user was not saved: ${unmatched.join("; ")}` : "The user was not saved. Correct the marked fields.");
      } else {
        d.strip.error(`The user was not saved: ${errorText(e)}`);
      }
      return false;
    }
  }

  await d.closed;
  return saved;
}

function folderGroup(folders: FolderInfo[]): HTMLElement {
  const table = new Table<FolderInfo>({
    id: "user-folders",
    label: "Folders",
    rowKey: (f) => f.path,
    empty: "No folders",
    columns: [
      { key: "path", title: "Folder", value: (f) => f.path },
      { key: "count", title: "Messages", value: (f) => f.message_count, render: (f) => formatNumber(f.message_count), align: "right", width: "90px" },
      { key: "bytes", title: "Size", value: (f) => f.bytes, render: (f) => formatSize(f.bytes), align: "right", width: "90px" },
    ],
  });
  table.setRows(folders);
  const total = folders.reduce((a, f) => ({ n: a.n + f.message_count, b: a.b + f.bytes }), { n: 0, b: 0 });
  table.el.classList.add("folders");
  return group(
    "Mailbox",
    table.el,
    h("div", { class: "hint" }, `${formatNumber(total.n)} message(s), ${formatSize(total.b)} in ${folders.length} folder(s).`),
  );
}
