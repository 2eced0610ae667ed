//! A byte-driven generator: the first bytes of the input are choices (shape, size, variant), the bytes
//! after them fill the shape, cycled as often as needed.
//!
//! Sizes are log-scaled so that every order of magnitude is as likely as any other: a size costs two
//! bytes, the first picks the power of two, the second the position within it. A hand-written input
//! can ask for an exact scale ([`Gen::size`]: 0xe0 + k for 2^k) or the extremes (0xff the largest the
//! shape allows, 0xfe zero); fuzz/probe.sh does.

/// The choices part of an input.
pub struct Gen<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Gen<'a> {
    pub fn new(data: &'a [u8]) -> Gen<'a> {
        Gen { data, pos: 0 }
    }

    /// The next choice byte; 0 once the input is used up.
    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// One of `n` (n > 0).
    pub fn choose(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }

    /// A size up to `max`, log-scaled, from two bytes: a class and a position within it. Classes below
    /// 0xe0 are relative to `max` (`class % bits(max)` is the power of two), 0xe0 to 0xfd are absolute
    /// (0xe0 + k: from 2^k, capped at `max`), 0xfe is 0 and 0xff is `max`.
    pub fn size(&mut self, max: usize) -> usize {
        let (class, fine) = (self.byte(), u128::from(self.byte()));
        let e = match class {
            0xff => return max,
            0xfe => return 0,
            _ if max == 0 => return 0,
            0xe0.. => u32::from(class - 0xe0),
            _ => u32::from(class % (usize::BITS - max.leading_zeros()) as u8),
        };
        ((1u128 << e) | ((fine << e) >> 8)).min(max as u128) as usize
    }

    /// The rest of the input, as filler.
    pub fn fill(&self) -> Fill<'a> {
        Fill { bytes: self.data.get(self.pos..).unwrap_or_default(), i: 0 }
    }
}

/// The filler: the bytes after the choices, cycled.
pub struct Fill<'a> {
    bytes: &'a [u8],
    i: usize,
}

impl Fill<'_> {
    /// The next filler byte (0 when there is no filler at all).
    pub fn byte(&mut self) -> u8 {
        if self.bytes.is_empty() {
            return 0;
        }
        let b = self.bytes[self.i % self.bytes.len()];
        self.i = self.i.wrapping_add(1);
        b
    }

    pub fn pick<T: Copy>(&mut self, options: &[T]) -> T {
        options[usize::from(self.byte()) % options.len()]
    }

    /// A number below `below`, from up to three filler bytes.
    pub fn number(&mut self, below: u32) -> u32 {
        let n = u32::from(self.byte()) | u32::from(self.byte()) << 8 | u32::from(self.byte()) << 16;
        n % below.max(1)
    }

    /// `len` letters and digits.
    pub fn word(&mut self, len: usize) -> String {
        const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len.max(1)).map(|_| char::from(self.pick(ALNUM))).collect()
    }

    /// `len` bytes of the filler as it is (any byte but CR and LF), for fields that take anything.
    pub fn text(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| match self.byte() {
                b'\r' | b'\n' => b' ',
                0 if self.bytes.is_empty() => b'x',
                b => b,
            })
            .collect()
    }
}

/// Appends `s` `n` times.
pub fn repeat(out: &mut Vec<u8>, s: &[u8], n: usize) {
    out.reserve(s.len() * n);
    for _ in 0..n {
        out.extend_from_slice(s);
    }
}
