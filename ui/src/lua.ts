/* A small Lua tokenizer for the script editor's colours. */

export type TokenKind = "keyword" | "builtin" | "string" | "comment" | "number" | "text";

export interface Token {
  kind: TokenKind;
  text: string;
}

const KEYWORDS = new Set(
  "and break do else elseif end false for function goto if in local nil not or repeat return then true until while".split(" "),
);

/** The libraries and global functions bandwidth.lua can use. */
const BUILTINS = new Set("string table math os tonumber tostring type pairs ipairs select next error assert pcall".split(" "));

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /0[xX][0-9a-fA-F]*(?:\.[0-9a-fA-F]*)?(?:[pP][+-]?\d+)?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const LONG_OPEN = /\[(=*)\[/y;
const PLAIN = /[^A-Za-z_0-9"'\-[.]+|[\s\S]/y;

function match(re: RegExp, src: string, at: number): string | null {
  re.lastIndex = at;
  const m = re.exec(src);
  return m ? m[0] : null;
}

/** The end of a long bracket `[==[ … ]==]` opening at `at` (the end of the text if it is never closed), or -1. */
function longBracketEnd(src: string, at: number): number {
  LONG_OPEN.lastIndex = at;
  const m = LONG_OPEN.exec(src);
  if (!m) return -1;
  const close = src.indexOf(`]${m[1]}]`, at + m[0].length);
  return close < 0 ? src.length : close + m[1].length + 2;
}

/** A quoted string from `at` to its closing quote, or to the end of the line if it has none. */
function quotedEnd(src: string, at: number): number {
  const quote = src[at];
  let i = at + 1;
  while (i < src.length && src[i] !== quote && src[i] !== "\n") i += src[i] === "\\" ? 2 : 1;
  return src[i] === quote ? i + 1 : Math.min(i, src.length);
}

function commentEnd(src: string, at: number): number {
  const long = longBracketEnd(src, at + 2);
  if (long >= 0) return long;
  const eol = src.indexOf("\n", at);
  return eol < 0 ? src.length : eol;
}

/** The token starting at `at`: its kind and where it ends. */
function next(src: string, at: number, prev: string): [TokenKind, number] {
  const c = src[at];
  if (c === "-" && src[at + 1] === "-") return ["comment", commentEnd(src, at)];
  if (c === '"' || c === "'") return ["string", quotedEnd(src, at)];
  if (c === "[") {
    const end = longBracketEnd(src, at);
    if (end >= 0) return ["string", end];
  }
  const name = match(NAME, src, at);
  if (name) {
    const member = prev === "." || prev === ":";
    const kind = KEYWORDS.has(name) ? "keyword" : BUILTINS.has(name) && !member ? "builtin" : "text";
    return [kind, at + name.length];
  }
  const num = /[0-9.]/.test(c) ? match(NUMBER, src, at) : null;
  if (num && num !== ".") return ["number", at + num.length];
  return ["text", at + match(PLAIN, src, at)!.length];
}

/** Splits Lua source into coloured pieces; joined, the pieces give back the source exactly. */
export function tokenizeLua(src: string): Token[] {
  const out: Token[] = [];
  let at = 0;
  let prev = "";
  while (at < src.length) {
    const [kind, end] = next(src, at, prev);
    const text = src.slice(at, end);
    const last = out[out.length - 1];
    if (last && last.kind === kind && kind === "text") last.text += text;
    else out.push({ kind, text });
    if (kind !== "comment" && text.trim()) prev = text.trimEnd().slice(-1);
    at = end;
  }
  return out;
}
