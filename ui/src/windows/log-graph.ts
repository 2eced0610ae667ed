import type { GraphPoint } from "../bindings/GraphPoint";
import { formatNumber } from "../format";
import { h } from "../widgets/dom";

const SVG = "http://www.w3.org/2000/svg";
const WINDOW_SECS = 600;
const HEIGHT = 132;
const M = { left: 48, right: 62, top: 24, bottom: 22 };

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The smallest 1, 2 or 5 × 10^k at or above `v` (at least 1). */
function niceMax(v: number): number {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * The Log File Writer tab's graph over the last 10 minutes: bars of lines written per burst (left axis)
 * and a line of the time between bursts (right axis), one point per second with a burst.
 */
export function logGraph(): { el: HTMLElement; draw: (points: GraphPoint[]) => void } {
  const svg = el("svg", { class: "log-graph-svg", height: HEIGHT, role: "img", "aria-label": "Lines written per burst and time between bursts, last 10 minutes" }) as SVGSVGElement;
  const wrap = h("div", { class: "log-graph", id: "writer-graph" });
  wrap.append(svg);

  function draw(points: GraphPoint[]): void {
    const width = Math.max(wrap.clientWidth, 480);
    svg.setAttribute("width", String(width));
    svg.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);
    const plotW = width - M.left - M.right;
    const plotH = HEIGHT - M.top - M.bottom;
    const perBurst = points.map((p) => (p.bursts ? p.lines / p.bursts : 0));
    const linesMax = niceMax(Math.max(0, ...perBurst));
    const msMax = niceMax(Math.max(0, ...points.map((p) => p.interval_ms)));
    const x = (secondsAgo: number) => M.left + ((WINDOW_SECS - secondsAgo) / WINDOW_SECS) * plotW;
    const yLines = (v: number) => M.top + plotH - (v / linesMax) * plotH;
    const yMs = (v: number) => M.top + plotH - (v / msMax) * plotH;
    const parts: SVGElement[] = [];

    for (const f of [0, 0.5, 1]) {
      const y = M.top + plotH - f * plotH;
      parts.push(el("line", { x1: M.left, x2: M.left + plotW, y1: y, y2: y, class: "grid-line" }));
      parts.push(el("text", { x: M.left - 6, y: y + 4, class: "axis lines", "text-anchor": "end" }, formatNumber(linesMax * f)));
      parts.push(el("text", { x: M.left + plotW + 6, y: y + 4, class: "axis ms", "text-anchor": "start" }, `${formatNumber(msMax * f)} ms`));
    }
    for (const [ago, label, anchor] of [[600, "10 min ago", "start"], [300, "5 min ago", "middle"], [0, "now", "end"]] as const) {
      parts.push(el("text", { x: x(ago), y: HEIGHT - 6, class: "axis", "text-anchor": anchor }, label));
    }
    const barW = Math.max(1, plotW / WINDOW_SECS);
    points.forEach((p, i) => {
      const y = yLines(perBurst[i]);
      parts.push(el("rect", { x: x(p.seconds_ago) - barW, y, width: barW, height: M.top + plotH - y, class: "bar" }));
    });
    if (points.length) {
      const path = points.map((p) => `${x(p.seconds_ago).toFixed(1)},${yMs(p.interval_ms).toFixed(1)}`).join(" ");
      parts.push(el("polyline", { points: path, class: "interval-line" }));
    } else {
      parts.push(el("text", { x: M.left + plotW / 2, y: M.top + plotH / 2, class: "axis", "text-anchor": "middle" }, "No bursts in the last 10 minutes"));
    }
    parts.push(el("rect", { x: M.left, y: 6, width: 10, height: 10, class: "bar" }));
    parts.push(el("text", { x: M.left + 14, y: 15, class: "legend" }, "Lines written per burst"));
    parts.push(el("line", { x1: M.left + 190, x2: M.left + 204, y1: 11, y2: 11, class: "interval-line" }));
    parts.push(el("text", { x: M.left + 208, y: 15, class: "legend" }, "Time between bursts"));
    svg.replaceChildren(...parts);
  }

  return { el: wrap, draw };
}
