//! Documents from a JSON-lines file (or stdin): the file-in half of the
//! offline pipeline and of the demo.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// One non-blank line of input, with its 1-based line number.
#[derive(Debug)]
pub struct RawLine {
    pub number: u64,
    /// The text, or why it is not text (invalid UTF-8).
    pub text: Result<String, String>,
}

/// Open `path`, or stdin for `-`.
pub fn open(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    if path == Path::new("-") {
        Ok(Box::new(io::stdin()))
    } else {
        File::open(path)
            .map(|f| Box::new(f) as Box<dyn Read + Send>)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Read lines into batches of `batch_size`, handing each to `send`; stops
/// early when `send` returns false (the pipeline is shutting down).
pub fn read_batches(
    input: impl Read,
    batch_size: usize,
    mut send: impl FnMut(Vec<RawLine>) -> bool,
) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut batch = Vec::with_capacity(batch_size);
    let mut buf = Vec::new();
    let mut number = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        number += 1;
        // A UTF-8 byte-order mark (editors on Windows write one) is not
        // part of the first document.
        if number == 1 && buf.starts_with(UTF8_BOM) {
            buf.drain(..UTF8_BOM.len());
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        let text =
            String::from_utf8(std::mem::take(&mut buf)).map_err(|e| format!("not UTF-8: {e}"));
        batch.push(RawLine { number, text });
        if batch.len() == batch_size
            && !send(std::mem::replace(
                &mut batch,
                Vec::with_capacity(batch_size),
            ))
        {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        send(batch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_at_the_start_is_skipped() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}\n".as_slice();
        let mut lines = Vec::new();
        read_batches(input, 10, |batch| {
            lines.extend(batch.into_iter().map(|l| (l.number, l.text.unwrap())));
            true
        })
        .unwrap();
        assert_eq!(
            lines,
            [(1, "{\"a\":1}".to_string()), (2, "{\"b\":2}".to_string())]
        );
    }

    #[test]
    fn batches_number_lines_and_skip_blanks() {
        let input = b"{\"a\":1}\n\n  \n{\"b\":2}\r\n\xff\xfe\n{\"c\":3}";
        let mut batches = Vec::new();
        read_batches(&input[..], 2, |b| {
            batches.push(b);
            true
        })
        .unwrap();
        let numbers: Vec<Vec<u64>> = batches
            .iter()
            .map(|b| b.iter().map(|l| l.number).collect())
            .collect();
        assert_eq!(numbers, [vec![1, 4], vec![5, 6]]);
        assert!(batches[1][0].text.is_err());
        assert_eq!(batches[1][1].text.as_deref(), Ok("{\"c\":3}"));
    }
}
