//! Splitting texts at an ASCII byte, eight bytes at a time. The standard
//! library's `split('&')` and `split_once('?')` look for the byte one word
//! at a time, and a word is four bytes in the sandbox: reading every
//! event's request URI for `dryRun` was a tenth of the Falco pack's
//! instructions there. The same code runs natively, so both twins split
//! alike.

/// The position of the first `byte` in `haystack`.
pub(crate) fn find_byte(haystack: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let pattern = ONES * byte as u64;
    let mut chunks = haystack.chunks_exact(8);
    for (i, chunk) in chunks.by_ref().enumerate() {
        // The bytes equal to `byte` become zero; the lowest flagged byte
        // is the first zero (a borrow can only flag bytes above it).
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes")) ^ pattern;
        let zeros = word.wrapping_sub(ONES) & !word & HIGHS;
        if zeros != 0 {
            return Some(i * 8 + (zeros.trailing_zeros() / 8) as usize);
        }
    }
    let tail = chunks.remainder();
    let start = haystack.len() - tail.len();
    tail.iter().position(|&b| b == byte).map(|i| start + i)
}

/// `s.split_once(byte)` for an ASCII `byte`.
pub(crate) fn split_once(s: &str, byte: u8) -> Option<(&str, &str)> {
    debug_assert!(byte.is_ascii());
    // An ASCII byte is a whole character: both sides are on boundaries.
    let at = find_byte(s.as_bytes(), byte)?;
    Some((&s[..at], &s[at + 1..]))
}

/// `s.split(byte)` for an ASCII `byte`.
pub(crate) fn split(s: &str, byte: u8) -> Split<'_> {
    Split {
        rest: Some(s),
        byte,
    }
}

pub(crate) struct Split<'s> {
    rest: Option<&'s str>,
    byte: u8,
}

impl<'s> Iterator for Split<'s> {
    type Item = &'s str;

    fn next(&mut self) -> Option<&'s str> {
        let rest = self.rest?;
        match split_once(rest, self.byte) {
            Some((head, tail)) => {
                self.rest = Some(tail);
                Some(head)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length to 40 and every position, among bytes that differ
    /// from the one sought by one bit, by the borrow's bit, or not at all.
    #[test]
    fn finds_the_first_byte_at_any_position() {
        for byte in [b'&', b'?', b'=', 0x00, 0x7f] {
            for filler in [
                0u8,
                1,
                0x80,
                0xff,
                byte ^ 1,
                byte.wrapping_add(1),
                byte ^ 0x80,
            ] {
                if filler == byte {
                    continue;
                }
                for len in 0..=40 {
                    let plain = vec![filler; len];
                    assert_eq!(find_byte(&plain, byte), None);
                    for at in 0..len {
                        let mut h = plain.clone();
                        h[at] = byte;
                        if at + 3 < len {
                            h[at + 3] = byte;
                        }
                        assert_eq!(find_byte(&h, byte), Some(at), "len {len}, at {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn splits_as_the_standard_library() {
        let texts = [
            "",
            "?",
            "/api/v1/pods",
            "/api/v1/pods?",
            "/api/v1/nodes?fieldSelector=metadata.name%3Dkind&limit=500&&resourceVersion=0",
            "é?ü=ß&&=&x=é?",
            "a&b&c",
            "&&",
        ];
        for text in texts {
            for (byte, c) in [(b'?', '?'), (b'&', '&'), (b'=', '=')] {
                assert_eq!(
                    split_once(text, byte),
                    text.split_once(c),
                    "{text:?} at {c}"
                );
                assert_eq!(
                    split(text, byte).collect::<Vec<_>>(),
                    text.split(c).collect::<Vec<_>>(),
                    "{text:?} at {c}"
                );
            }
        }
    }
}
