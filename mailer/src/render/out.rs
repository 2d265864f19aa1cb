//! Where the complete report is written, piece by piece: into a buffer that keeps at most what
//! could still be sent (a report past the attachment cap is not built whole in memory only to
//! be dropped), or into a file (`vigia-mailer preview` writes it whatever its size).

use std::io;

/// A destination for the report's pieces.
pub trait Out {
    /// Appends one piece.
    fn push(&mut self, s: &str);
    /// True once nothing more is worth writing (past the cap, or the file failed): the writers
    /// stop early.
    fn done(&self) -> bool;
}

/// A buffer kept only while it stays within its cap; past it the text is dropped and only the
/// fact is kept.
pub struct Capped {
    buf: String,
    cap: usize,
    over: bool,
}

impl Capped {
    /// An empty buffer holding at most `cap` bytes.
    pub fn new(cap: usize) -> Capped {
        Capped {
            buf: String::new(),
            cap,
            over: false,
        }
    }

    /// The text, or `None` when it grew past the cap.
    pub fn into_text(self) -> Option<String> {
        (!self.over).then_some(self.buf)
    }
}

impl Out for Capped {
    fn push(&mut self, s: &str) {
        if self.over {
            return;
        }
        if self.buf.len() + s.len() > self.cap {
            self.over = true;
            self.buf = String::new();
            return;
        }
        self.buf.push_str(s);
    }

    fn done(&self) -> bool {
        self.over
    }
}

/// A writer (a file), keeping its first error.
pub struct Writer<W: io::Write> {
    w: W,
    err: Option<io::Error>,
}

impl<W: io::Write> Writer<W> {
    /// Writes into `w`.
    pub fn new(w: W) -> Writer<W> {
        Writer { w, err: None }
    }

    /// Flushes, and gives the first error met.
    pub fn finish(mut self) -> io::Result<()> {
        match self.err.take() {
            Some(e) => Err(e),
            None => self.w.flush(),
        }
    }
}

impl<W: io::Write> Out for Writer<W> {
    fn push(&mut self, s: &str) {
        if self.err.is_none() {
            if let Err(e) = self.w.write_all(s.as_bytes()) {
                self.err = Some(e);
            }
        }
    }

    fn done(&self) -> bool {
        self.err.is_some()
    }
}

/// What `bytes` of a file weigh in a message: base64 in lines of 76 characters and CRLF, as
/// attachments travel (57 bytes per line).
pub fn encoded_len(bytes: usize) -> usize {
    let lines = bytes / 57;
    let rest = bytes % 57;
    lines * 78
        + if rest > 0 {
            rest.div_ceil(3) * 4 + 2
        } else {
            0
        }
}

/// The largest file whose [`encoded_len`] is at most `cap`.
pub fn raw_limit(cap: usize) -> usize {
    let lines = cap / 78;
    let rest = cap % 78;
    lines * 57 + if rest >= 6 { (rest - 2) / 4 * 3 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_sizes_are_base64_lines_and_the_limit_is_their_inverse() {
        assert_eq!(encoded_len(0), 0);
        assert_eq!(encoded_len(1), 6);
        assert_eq!(encoded_len(57), 78);
        assert_eq!(encoded_len(58), 84);
        for cap in [0, 5, 6, 77, 78, 79, 1000, 10 << 20] {
            let n = raw_limit(cap);
            assert!(encoded_len(n) <= cap, "{cap}");
            assert!(encoded_len(n + 1) > cap, "{cap}");
        }
    }

    #[test]
    fn a_capped_buffer_keeps_nothing_once_over() {
        let mut c = Capped::new(5);
        c.push("abc");
        c.push("de");
        assert!(!c.done());
        c.push("f");
        assert!(c.done());
        assert_eq!(c.into_text(), None);
        let mut c = Capped::new(5);
        c.push("abcde");
        assert_eq!(c.into_text().as_deref(), Some("abcde"));
    }
}
