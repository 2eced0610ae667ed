import { stateLabel } from "../format";
import { h } from "./dom";

/** A coloured dot and the state's name, e.g. "● Running". */
export function stateBadge(state: string): HTMLElement {
  return h("span", { class: `state state-${state}` }, h("span", { class: "dot", "aria-hidden": "true" }), stateLabel(state));
}
