//! bandwidth.lua scripts that nest deep or ask for huge amounts, and huge parameters for the examples.
//!
//! Layout: shape byte, size (2 bytes), variant byte, then filler.

use crate::gen::{repeat, Gen};

pub const SHAPES: &[&str] = &[
    "table-loop",   // a table nested N deep by a loop (N ≤ 100,000), returned or kept
    "string-rep",   // string.rep with a huge count (N², N, or 2^(N mod 63))
    "constructors", // a table constructor {{{…}}} nested N deep in the source
    "parens",       // an expression ((((0)))) nested N deep, or N unary minuses
    "concat",       // "a" .. "a" .. … N times (right-associative), or N additions
    "recursion",    // a Lua function recursing N deep, plain or through pcall
    "index-chain",  // a chain of N metatables with __index
    "pattern",      // string.find with a pattern of N optional items (N ≤ 199), which backtracks exponentially
];

pub const MAX: usize = 100_000;

/// A whole bandwidth.lua.
pub fn generate(g: &mut Gen) -> String {
    let shape = SHAPES[g.choose(SHAPES.len())];
    let n = g.size(MAX);
    let v = g.byte();
    // bit 7: the work happens at the top level (compile time) rather than in GetBandwidth.
    let top = v & 0x80 != 0;
    let body = match shape {
        "table-loop" => {
            let ret = if v & 1 == 0 { "t" } else { "0" };
            format!("local t = {{}} for i = 1, {n} do t = {{t}} end return {ret}")
        }
        "string-rep" => {
            let count = match v % 3 {
                0 => (n as u64).saturating_mul(n as u64),
                1 => n as u64,
                _ => 1u64 << (n % 63),
            };
            match v / 4 % 3 {
                0 => format!("return #string.rep(\"x\", {count})"),
                1 => format!("return string.rep(\"ab\", {count}, \",\")"),
                _ => format!("return tonumber(string.rep(\"9\", {count}))"),
            }
        }
        "constructors" => {
            let mut s = String::from("local t = ");
            s.push_str(&"{".repeat(n));
            s.push_str(&"}".repeat(n));
            s.push_str(" return 0");
            s
        }
        "parens" => {
            if v & 1 == 0 {
                format!("return {}0{}", "(".repeat(n), ")".repeat(n))
            } else {
                format!("return {}0", "- ".repeat(n))
            }
        }
        "concat" => {
            let (open, part, last): (&[u8], &[u8], &[u8]) = if v & 1 == 0 { (b"return #(", b"\"a\" .. ", b"\"a\")") } else { (b"return (", b"1 + ", b"1)") };
            let mut s = open.to_vec();
            repeat(&mut s, part, n);
            s.extend_from_slice(last);
            String::from_utf8(s).unwrap()
        }
        "recursion" => {
            if v & 1 == 0 {
                format!("local function f(n) if n == 0 then return 0 end return 1 + f(n - 1) end return f({n})")
            } else {
                format!("local function f(n) if n == 0 then return 0 end local ok, r = pcall(f, n - 1) return ok and r + 1 or 0 end return f({n})")
            }
        }
        "index-chain" => format!("local t = {{x = 0}} for i = 1, {n} do t = setmetatable({{}}, {{__index = t}}) end return t.x"),
        "pattern" => {
            let k = n.min(199);
            format!("return string.find(string.rep(\"a\", {k}), string.rep(\"a?\", {k}) .. string.rep(\"a\", {k})) or 0")
        }
        _ => unreachable!("{shape}"),
    };
    if top {
        format!("local function work() {body} end local _ = work()\nfunction GetBandwidth(p) return 0 end\n")
    } else {
        format!("function GetBandwidth(p) {body} end\n")
    }
}

/// A client address and a user name for the examples: one of them N bytes long (N ≤ 1,000,000).
pub fn params(g: &mut Gen) -> (String, String) {
    let n = g.size(1_000_000);
    let v = g.byte();
    let mut f = g.fill();
    let long: String = (0..n).map(|_| char::from(f.pick(b"0123456789.:%^$*abcdef"))).collect();
    match v % 3 {
        0 => (long, "theboss".into()),
        1 => ("192.168.1.1".into(), long),
        _ => (format!("192.168.{long}"), long.clone()),
    }
}
