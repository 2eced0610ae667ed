//! GeoIP CSV files with huge fields and huge counts.
//!
//! Layout: shape byte, size (2 bytes), variant byte, then filler.

use crate::gen::{repeat, Gen};

pub const SHAPES: &[&str] = &[
    "huge-field",   // one row whose result (or address) field is N bytes (N ≤ 4,000,000), plain or quoted with "" escapes
    "rows",         // N rows (N ≤ 100,000) of addresses, integers, IPv6 and junk
    "columns",      // one row of N columns (N ≤ 100,000)
    "quoted-lines", // a quoted field spanning N lines (N ≤ 100,000)
    "long-number",  // an address written as an integer of N digits (N ≤ 1,000,000)
];

pub fn generate(g: &mut Gen) -> Vec<u8> {
    let shape = SHAPES[g.choose(SHAPES.len())];
    let max = match shape {
        "huge-field" => 4_000_000,
        "long-number" => 1_000_000,
        _ => 100_000,
    };
    let n = g.size(max);
    let v = g.byte();
    let mut f = g.fill();
    let mut c = Vec::new();
    match shape {
        "huge-field" => {
            let mut field = Vec::with_capacity(n + 2);
            let quoted = v & 1 == 1;
            if quoted {
                field.push(b'"');
            }
            for _ in 0..n {
                match f.pick(b"ABCD\"") {
                    b'"' if quoted => field.extend_from_slice(b"\"\""),
                    b'"' => field.push(b'X'),
                    b => field.push(b),
                }
            }
            if quoted {
                field.push(b'"');
            }
            if v & 2 == 0 {
                c.extend_from_slice(b"1.0.0.0,1.0.0.255,");
                c.extend_from_slice(&field);
            } else {
                c.extend_from_slice(&field);
                c.extend_from_slice(b",1.0.0.255,AU");
            }
            c.extend_from_slice(b"\n2.0.0.0,2.0.0.255,FR\n");
        }
        "rows" => {
            for i in 0..n as u32 {
                let row = match f.byte() % 5 {
                    0 => format!("{}.0.0.0,{}.0.0.255,AU\n", i % 224, i % 224),
                    1 => format!("{},{},US\n", i.wrapping_mul(256), i.wrapping_mul(256).wrapping_add(255)),
                    2 => format!("2001:db8:{:x}::,2001:db8:{:x}::ffff,DE\n", i % 0xffff, i % 0xffff),
                    3 => format!("\"{}.1.2.3\",\"{}.1.2.9\",\"GB\"\r\n", i % 224, i % 224),
                    _ => format!("{},x,\n", f.word(4)),
                };
                c.extend_from_slice(row.as_bytes());
            }
        }
        "columns" => {
            c.extend_from_slice(b"1.0.0.0,1.0.0.255,AU");
            repeat(&mut c, if v & 1 == 0 { b"," } else { b",x" }, n);
            c.extend_from_slice(b"\n");
        }
        "quoted-lines" => {
            c.extend_from_slice(b"1.0.0.0,1.0.0.255,\"");
            repeat(&mut c, if v & 1 == 0 { b"a\n" } else { b"\r\n" }, n);
            if v & 2 == 0 {
                c.extend_from_slice(b"\"\n3.0.0.0,3.0.0.255,AU\n");
            }
        }
        "long-number" => {
            repeat(&mut c, b"9", n);
            c.extend_from_slice(b",");
            if v & 1 == 0 {
                c.extend_from_slice(b"1");
            } else {
                repeat(&mut c, b"1", n);
            }
            c.extend_from_slice(b",AU\n");
        }
        _ => unreachable!("{shape}"),
    }
    c
}
