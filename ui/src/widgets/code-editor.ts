import type { Token } from "../lua";
import { h } from "./dom";

const INDENT = "  ";

/**
 * A plain-text code editor with line numbers and colours: a transparent textarea (which does all the editing,
 * so undo, selection and the clipboard behave natively) over a <pre> holding the same text in coloured spans.
 * Both use the same font, line height and padding (style.css, `.code-editor`); the <pre> and the gutter follow the
 * textarea's scrolling. Tab inserts two spaces, Enter keeps the line's indentation, Shift+Tab leaves the editor.
 */
export class CodeEditor {
  readonly el: HTMLElement;
  readonly textarea: HTMLTextAreaElement;
  /** Runs after every change of the text, typed or set. */
  onChange: () => void = () => {};
  /** Runs when the caret moves. */
  onCaret: () => void = () => {};
  private code: HTMLElement;
  private layer: HTMLElement;
  private gutter: HTMLElement;
  private mark: HTMLElement;
  private markedLine: number | null = null;

  constructor(id: string, label: string, private tokenize: (src: string) => Token[]) {
    this.textarea = h("textarea", {
      id,
      name: id,
      class: "code-input",
      spellcheck: "false",
      autocomplete: "off",
      autocapitalize: "off",
      wrap: "off",
      "aria-label": label,
      "aria-multiline": "true",
    });
    this.code = h("code");
    this.mark = h("div", { class: "code-mark", hidden: true });
    this.layer = h("div", { class: "code-layer", "aria-hidden": "true" }, this.mark, h("pre", { class: "code-highlight" }, this.code));
    this.gutter = h("div", { class: "code-gutter-lines" });
    this.el = h(
      "div",
      { class: "code-editor", id: `${id}-editor` },
      h("div", { class: "code-gutter", "aria-hidden": "true" }, this.gutter),
      h("div", { class: "code-area" }, this.layer, this.textarea),
    );
    this.textarea.addEventListener("input", () => {
      this.markLine(null);
      this.render();
      this.onChange();
    });
    this.textarea.addEventListener("scroll", () => this.follow());
    this.textarea.addEventListener("keydown", (ev) => this.key(ev));
    for (const type of ["keyup", "mouseup", "focus", "select"]) this.textarea.addEventListener(type, () => this.onCaret());
    this.render();
  }

  get value(): string {
    return this.textarea.value;
  }

  /** Sets the text as loaded from disk (this clears the textarea's undo history). */
  set value(text: string) {
    this.textarea.value = text;
    this.textarea.setSelectionRange(0, 0);
    this.textarea.scrollTo(0, 0);
    this.markLine(null);
    this.render();
    this.onChange();
  }

  /** Replaces the whole text the way typing would, so Ctrl+Z brings the old text back. */
  replaceAll(text: string): void {
    this.insert(text, 0, this.textarea.value.length);
    this.textarea.setSelectionRange(0, 0);
    this.textarea.scrollTop = 0;
  }

  /** The caret's line and column, from 1. */
  caret(): { line: number; column: number } {
    const before = this.textarea.value.slice(0, this.textarea.selectionStart);
    const lines = before.split("\n");
    return { line: lines.length, column: lines[lines.length - 1].length + 1 };
  }

  /** Marks a line (an error's), or clears the mark; the next edit clears it too. */
  markLine(line: number | null): void {
    const count = this.lineCount();
    this.markedLine = line !== null && line >= 1 && line <= count ? line : null;
    this.mark.hidden = this.markedLine === null;
    if (this.markedLine !== null) {
      const { top, height } = this.lineBox(this.markedLine);
      this.mark.style.top = `${top}px`;
      this.mark.style.height = `${height}px`;
    }
    [...this.gutter.children].forEach((el, i) => el.classList.toggle("marked", i + 1 === this.markedLine));
  }

  /** Puts the caret at the start of a line and scrolls it into view. */
  goToLine(line: number): void {
    const lines = this.textarea.value.split("\n");
    const n = Math.max(1, Math.min(line, lines.length));
    const offset = lines.slice(0, n - 1).reduce((sum, l) => sum + l.length + 1, 0);
    this.textarea.focus();
    this.textarea.setSelectionRange(offset, offset);
    const { top, height } = this.lineBox(n);
    const ta = this.textarea;
    if (top < ta.scrollTop || top + height > ta.scrollTop + ta.clientHeight) ta.scrollTop = Math.max(0, top - ta.clientHeight / 3);
    this.follow();
    this.onCaret();
  }

  focus(): void {
    this.textarea.focus();
  }

  private lineCount(): number {
    return this.textarea.value.split("\n").length;
  }

  /** Where a line is inside the scrolled text, from the textarea's own line height and padding. */
  private lineBox(line: number): { top: number; height: number } {
    const style = getComputedStyle(this.textarea);
    const height = parseFloat(style.lineHeight) || 18;
    return { top: (parseFloat(style.paddingTop) || 0) + (line - 1) * height, height };
  }

  private render(): void {
    const text = this.textarea.value;
    const frag = document.createDocumentFragment();
    for (const t of this.tokenize(text)) {
      frag.append(t.kind === "text" ? document.createTextNode(t.text) : h("span", { class: `tok-${t.kind}` }, t.text));
    }
    // A final newline needs something after it to take up its line, as it does in the textarea.
    frag.append("\n");
    this.code.replaceChildren(frag);
    this.renderGutter(this.lineCount());
    this.follow();
  }

  private renderGutter(count: number): void {
    const have = this.gutter.childElementCount;
    if (have === count) return;
    if (have > count) {
      while (this.gutter.childElementCount > count) this.gutter.lastElementChild!.remove();
      return;
    }
    const frag = document.createDocumentFragment();
    for (let i = have + 1; i <= count; i++) frag.append(h("div", { class: i === this.markedLine ? "marked" : null }, String(i)));
    this.gutter.append(frag);
  }

  /** Moves the coloured text and the line numbers with the textarea's scrolling. */
  private follow(): void {
    const { scrollLeft, scrollTop } = this.textarea;
    this.layer.style.transform = `translate(${-scrollLeft}px, ${-scrollTop}px)`;
    this.gutter.style.transform = `translateY(${-scrollTop}px)`;
  }

  private key(ev: KeyboardEvent): void {
    if (ev.ctrlKey || ev.altKey || ev.metaKey || ev.isComposing) return;
    const ta = this.textarea;
    if (ev.key === "Tab" && !ev.shiftKey) {
      ev.preventDefault();
      this.insert(INDENT, ta.selectionStart, ta.selectionEnd);
    } else if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      const start = ta.selectionStart;
      const lineStart = ta.value.lastIndexOf("\n", start - 1) + 1;
      const indent = /^[ \t]*/.exec(ta.value.slice(lineStart, start))![0];
      this.insert(`\n${indent}`, start, ta.selectionEnd);
    }
  }

  /** Replaces a range as typing would (undoable); falls back to setRangeText where insertText is not supported. */
  private insert(text: string, start: number, end: number): void {
    const ta = this.textarea;
    ta.focus();
    ta.setSelectionRange(start, end);
    const typed = text !== "" && document.execCommand("insertText", false, text);
    if (!typed) {
      ta.setRangeText(text, start, end, "end");
      ta.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }
}
