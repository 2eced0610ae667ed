import { api, closeWindow, errorText, fieldMessages } from "../api";
import { plural } from "../format";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { confirmDialog } from "../widgets/dialog";
import { frame, h, text } from "../widgets/dom";
import { FieldErrors, grid, group, input, row } from "../widgets/form";
import { Table } from "../widgets/table";
import { showDnsRecords } from "./dns-records";

export function mountDomains(app: HTMLElement): () => void {
  const f = frame("Local Domains", "domains-window");
  const strip = new Strip(f.strip);
  const errors = new FieldErrors();
  const count = h("span", { class: "footer-info", id: "domains-summary" });

  const nameInput = input("domain-name", { placeholder: "example.com", class: "w-medium" });
  errors.register("name", nameInput);
  const addBtn = button("Add", { id: "btn-add-domain", submit: true });
  const removeBtn = button("Remove", { id: "btn-delete-domain", disabled: true, onClick: () => void remove() });
  const dnsBtn = button("DNS Records…", { id: "btn-domain-dns", disabled: true, onClick: () => void dns() });

  const table = new Table<string>({
    id: "domains-table",
    label: "Local domains",
    selectable: true,
    rowKey: (d) => d,
    empty: "No local domains yet. Add the domain your office's addresses end with.",
    onSelect: (d) => (removeBtn.disabled = dnsBtn.disabled = d === null),
    onActivate: () => void dns(),
    onDelete: () => void remove(),
    columns: [{ key: "name", title: "Domain", value: (d) => d }],
  });
  table.sortBy("name", true);
  table.el.classList.add("fill");

  const addForm = h("form", { id: "domain-add-form", class: "inline-form", novalidate: true }, grid(row("New domain:", nameInput, [addBtn])));
  addForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void add();
  });

  f.body.append(
    h(
      "p",
      { class: "explain" },
      "Mail for these domains is delivered to local users: a message to ",
      h("em", null, "name@domain"),
      " goes to the user or alias called ",
      h("em", null, "name"),
      ".",
    ),
    group("Local domains", h("div", { class: "list-area" }, table.el), h("div", { class: "list-buttons" }, dnsBtn, removeBtn)),
    group("Add a domain", addForm),
  );
  fillBar(f.bar, [count], [button("Close", { id: "btn-close", onClick: () => void closeWindow() })]);

  async function load(select?: string | null): Promise<void> {
    try {
      const domains = await api.listDomains();
      table.setRows(domains);
      if (select !== undefined) table.select(select);
      text(count, plural(domains.length, "local domain"));
    } catch (e) {
      strip.error(`Cannot list the local domains: ${errorText(e)}`);
    }
  }

  async function add(): Promise<void> {
    const name = nameInput.value.trim();
    if (!name) {
      errors.show(new Map([["name", "enter a domain name, such as example.com"]]));
      nameInput.focus();
      return;
    }
    await busy([addBtn], async () => {
      try {
        const added = await api.addDomain(name);
        errors.clear();
        nameInput.value = "";
        strip.info(`${added} is now a local domain.`);
        await load(added);
      } catch (e) {
        const unmatched = errors.show(fieldMessages(e));
        if (errors.keys().length === 0) strip.error(`Cannot add ${name}: ${errorText(e)}`);
        else if (unmatched.length) strip.error(unmatched.join("; "));
        nameInput.focus();
      }
    });
  }

  async function dns(): Promise<void> {
    const d = table.selected();
    if (d) await showDnsRecords(d);
  }

  async function remove(): Promise<void> {
    const d = table.selected();
    if (!d) return;
    const ok = await confirmDialog(
      "Remove Local Domain",
      [h("p", null, "Stop treating ", h("strong", null, d), " as a local domain?"), h("p", null, "Users and their mail are kept; mail for this domain will no longer be delivered locally.")],
      "Remove",
    );
    if (!ok) return;
    try {
      await api.deleteDomain(d);
      strip.info(`${d} was removed.`);
    } catch (e) {
      strip.error(`Cannot remove ${d}: ${errorText(e)}`);
    }
    await load(null);
  }

  app.replaceChildren(f.root);
  void load();
  return () => {};
}
