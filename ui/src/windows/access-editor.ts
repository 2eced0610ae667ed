import type { AccessAction } from "../bindings/AccessAction";
import type { AccessRule } from "../bindings/AccessRule";
import type { RuleKind } from "../bindings/RuleKind";
import type { ServiceAccess } from "../bindings/ServiceAccess";
import type { ServiceId } from "../bindings/ServiceId";
import { button } from "../widgets/buttons";
import { h } from "../widgets/dom";
import { errorSlot, FieldErrors, input, select } from "../widgets/form";

const KINDS: [RuleKind, string][] = [
  ["address", "IP address"],
  ["range", "Address range"],
  ["cidr", "Network (CIDR)"],
  ["geoip", "GeoIP lookup"],
];
const EXAMPLES: Record<RuleKind, string> = {
  address: "192.168.1.20",
  range: "10.0.0.1-10.0.0.99",
  cidr: "192.168.1.0/24",
  geoip: "CN, RU; KP",
};

export interface AccessEditor {
  el: HTMLElement;
  fill: (a: ServiceAccess) => void;
  collect: () => ServiceAccess;
}

/**
 * A service's Access Restrictions: Allow/Deny rules checked in order before the greeting (the first that
 * matches decides), and what happens when none does. `exempt` is the one switch for every service.
 */
export function accessEditor(id: ServiceId, errors: FieldErrors, exempt: HTMLElement, openGeoIp: () => void): AccessEditor {
  let rules: AccessRule[] = [];
  const body = h("tbody");
  const defaultAction = select(`acc-${id}-default`, [
    ["allow", "Allow the connection"],
    ["deny", "Refuse the connection"],
  ]);

  const actionSelect = (i: number, r: AccessRule) => {
    const s = select(`acc-${id}-${i}-action`, [
      ["allow", "Allow"],
      ["deny", "Deny"],
    ]);
    s.value = r.action;
    s.addEventListener("change", () => (r.action = s.value as AccessAction));
    return s;
  };

  function render(): void {
    body.replaceChildren(
      ...(rules.length
        ? rules.map((r, i) => {
            const kind = select(`acc-${id}-${i}-kind`, KINDS);
            kind.value = r.kind;
            const value = input(`acc-${id}-${i}-value`, { class: "w-value", value: r.value, placeholder: EXAMPLES[r.kind] });
            kind.addEventListener("change", () => {
              r.kind = kind.value as RuleKind;
              value.placeholder = EXAMPLES[r.kind];
            });
            value.addEventListener("input", () => (r.value = value.value));
            errors.register(`access.${id}.rules.${i + 1}`, value);
            const move = (to: number) => () => {
              if (to < 0 || to >= rules.length) return;
              [rules[i], rules[to]] = [rules[to], rules[i]];
              render();
            };
            return h(
              "tr",
              { "data-rule": i + 1 },
              h("td", { class: "right" }, String(i + 1)),
              h("td", null, actionSelect(i, r)),
              h("td", null, kind),
              h("td", null, value, errorSlot(value)),
              h(
                "td",
                { class: "rule-buttons" },
                button("↑", { id: `acc-${id}-${i}-up`, title: "Check this rule earlier", disabled: i === 0, onClick: move(i - 1) }),
                button("↓", { id: `acc-${id}-${i}-down`, title: "Check this rule later", disabled: i === rules.length - 1, onClick: move(i + 1) }),
                button("Remove", {
                  id: `acc-${id}-${i}-remove`,
                  onClick: () => {
                    rules.splice(i, 1);
                    render();
                  },
                }),
              ),
            );
          })
        : [h("tr", null, h("td", { colspan: 5, class: "empty" }, "No rules: every address may connect (unless the default below refuses it)."))]),
    );
  }

  const add = button("Add rule", {
    id: `acc-${id}-add`,
    onClick: () => {
      rules.push({ action: "deny", kind: "geoip", value: "" });
      render();
      document.getElementById(`acc-${id}-${rules.length - 1}-value`)?.focus();
    },
  });
  const el = h(
    "div",
    null,
    h("p", { class: "purpose" }, "Checked when a client connects, before the greeting. The first rule that matches the client's address decides; a refused client gets this protocol's own error and a line in security.log."),
    h(
      "div",
      { class: "table-wrap rules-wrap" },
      h(
        "table",
        { class: "grid rules", id: `acc-${id}-rules` },
        h("thead", null, h("tr", null, h("th", { class: "right" }, "#"), h("th", null, "Action"), h("th", null, "Lookup type"), h("th", null, "Address, range, network or tags"), h("th", null, ""))),
        body,
      ),
    ),
    h("div", { class: "rules-bar" }, add, button("GeoIP Data…", { id: `acc-${id}-geoip`, onClick: openGeoIp })),
    h("div", { class: "field-line default-line" }, h("label", { for: defaultAction.id, class: "inline-label" }, "When no rule matches:"), defaultAction),
    exempt,
    h("div", { class: "hint" }, "GeoIP tags are the results in the GeoIP data, usually country codes; separate several with commas or semicolons. When an address is in several GeoIP ranges, each result is checked."),
  );

  return {
    el,
    fill(a: ServiceAccess) {
      rules = a.rules.map((r) => ({ ...r }));
      defaultAction.value = a.default_action;
      render();
    },
    collect: () => ({ default_action: defaultAction.value as AccessAction, rules: rules.map((r) => ({ ...r, value: r.value.trim() })) }),
  };
}
