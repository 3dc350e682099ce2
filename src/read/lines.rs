//! Reading lines of bounded length: a line longer than any record can be is
//! passed over at the speed of a byte search, never held in memory.

use std::io::{self, BufRead, Write};

use crate::record::MAX_LINE_LEN;

/// One line from a [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Line<'a> {
    /// A whole line of at most the reader's limit, with its `\n` when it has
    /// one (the last line of a file may end without).
    Whole(&'a [u8]),
    /// The first bytes (as many as the limit) of a longer line. The rest of
    /// the line is still unread: [`LineReader::copy_rest`] streams it to a
    /// writer, and otherwise the next read passes over it.
    Long(&'a [u8]),
}

/// Reads lines of at most a fixed length from a [`BufRead`] without ever
/// holding more than that length in memory.
///
/// A longer line is handed out once as [`Line::Long`] with its first bytes,
/// and its rest is then copied on ([`copy_rest`](Self::copy_rest)) or passed
/// over by searching the reader's buffer for the next `\n` — as fast as the
/// input can be read, whatever the line's length. [`fill_chunk`](Self::fill_chunk)
/// reads many whole lines at once for parallel parsing, leaving long ones out.
///
/// ```
/// use privlog::read::{Line, LineReader};
///
/// let text = format!("short\n{}\nnext", "x".repeat(100));
/// let mut lines = LineReader::with_limit(text.as_bytes(), 10);
/// assert_eq!(lines.next_line()?, Some(Line::Whole(&b"short\n"[..])));
/// assert_eq!(lines.next_line()?, Some(Line::Long(&b"xxxxxxxxxx"[..])));
/// assert_eq!(lines.next_line()?, Some(Line::Whole(&b"next"[..])));
/// assert_eq!(lines.next_line()?, None);
/// assert_eq!(lines.long_lines(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    max: usize,
    line: Vec<u8>,
    /// `line` was handed out: the next read starts a new line. Otherwise it
    /// holds the start of a line whose end has not been read yet.
    handed_out: bool,
    /// The rest of a long line (up to and including its `\n`) is still unread.
    rest_pending: bool,
    long_lines: u64,
}

impl<R: BufRead> LineReader<R> {
    /// A reader of lines up to [`MAX_LINE_LEN`] bytes.
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, MAX_LINE_LEN)
    }

    /// A reader of lines up to `max` bytes (at least 1), not counting the
    /// `\n`.
    pub fn with_limit(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            max: max.max(1),
            line: Vec::new(),
            handed_out: false,
            rest_pending: false,
            long_lines: 0,
        }
    }

    /// The longest line handed out whole, without its `\n`.
    pub fn limit(&self) -> usize {
        self.max
    }

    /// Lines longer than the limit met so far.
    pub fn long_lines(&self) -> u64 {
        self.long_lines
    }

    /// Whether the rest of a long line is still unread: it goes to the next
    /// [`copy_rest`](Self::copy_rest) or [`skip_rest`](Self::skip_rest).
    pub fn in_long_line(&self) -> bool {
        self.rest_pending
    }

    /// The bytes of a last line without its `\n` that
    /// [`next_ended_line`](Self::next_ended_line) keeps for its next call.
    pub fn unended_len(&self) -> usize {
        if self.handed_out { 0 } else { self.line.len() }
    }

    /// The next line, or `None` at the end of the input. The rest of a long
    /// line handed out before is passed over first.
    ///
    /// # Errors
    /// The input's read error (`Interrupted` is retried). The line being read
    /// is then lost; reading may go on after it.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.read_line(true)
    }

    /// [`next_line`](Self::next_line) for an input that may still grow (a
    /// file being appended to): a last line without its `\n` is not handed
    /// out but kept, and the next call goes on with it.
    ///
    /// # Errors
    /// As [`next_line`](Self::next_line).
    pub fn next_ended_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.read_line(false)
    }

    fn read_line(&mut self, unended: bool) -> io::Result<Option<Line<'_>>> {
        if self.rest_pending {
            self.skip_rest()?;
            if self.rest_pending {
                // The input ended inside the long line: what follows, should
                // it grow, is still that line.
                return Ok(None);
            }
        }
        if self.handed_out {
            self.line.clear();
            self.handed_out = false;
        }
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                if unended && !self.line.is_empty() {
                    self.handed_out = true;
                    return Ok(Some(Line::Whole(&self.line)));
                }
                return Ok(None);
            }
            let room = self.max - self.line.len();
            match memchr::memchr(b'\n', avail) {
                Some(nl) if nl <= room => {
                    self.line.extend_from_slice(&avail[..=nl]);
                    self.inner.consume(nl + 1);
                    self.handed_out = true;
                    return Ok(Some(Line::Whole(&self.line)));
                }
                None if avail.len() <= room => {
                    let n = avail.len();
                    self.line.extend_from_slice(avail);
                    self.inner.consume(n);
                }
                _ => {
                    // Longer than the limit: keep its first `max` bytes (none
                    // of them a line end) and leave the rest unread.
                    self.line.extend_from_slice(&avail[..room]);
                    self.inner.consume(room);
                    self.rest_pending = true;
                    self.handed_out = true;
                    self.long_lines += 1;
                    return Ok(Some(Line::Long(&self.line)));
                }
            }
        }
    }

    /// Passes over the rest of the current long line, up to and including
    /// its `\n`, or to the end of the input (the rest then stays pending);
    /// returns the bytes passed over (0 when no long line is pending).
    ///
    /// # Errors
    /// The input's read error; the rest is then still pending.
    pub fn skip_rest(&mut self) -> io::Result<u64> {
        self.copy_rest(&mut io::sink())
    }

    /// Copies the rest of the current long line, up to and including its
    /// `\n` (or to the end of the input: the rest then stays pending, for an
    /// input that may grow), to `out` without holding it; returns the bytes
    /// copied (0 when no long line is pending).
    ///
    /// # Errors
    /// The input's read error or `out`'s write error; what was copied stays
    /// copied and the rest is still pending.
    pub fn copy_rest(&mut self, out: &mut dyn Write) -> io::Result<u64> {
        let mut copied = 0u64;
        while self.rest_pending {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                break;
            }
            let (n, done) = match memchr::memchr(b'\n', avail) {
                Some(nl) => (nl + 1, true),
                None => (avail.len(), false),
            };
            out.write_all(&avail[..n])?;
            self.inner.consume(n);
            copied += n as u64;
            self.rest_pending = !done;
        }
        Ok(copied)
    }

    /// Appends whole lines to `buf` until it holds at least `target` bytes
    /// and ends at a line end, or the input ends; returns whether it ended.
    ///
    /// Lines longer than the limit are left out (and counted in
    /// [`long_lines`](Self::long_lines)), and the chunk ends at the first line
    /// end at or past `target`, so `buf` holds at most `target` plus the
    /// limit bytes. At the end of the input the last line
    /// may lack its `\n` (a torn line). The lines are copied straight from
    /// the input's buffer, several at a time.
    ///
    /// # Errors
    /// The input's read error. `buf` then holds the lines read before it,
    /// and possibly the start of the line being read.
    pub fn fill_chunk(&mut self, buf: &mut Vec<u8>, target: usize) -> io::Result<bool> {
        // The start in `buf` of the line being read.
        let mut line_start = buf.len();
        loop {
            if self.rest_pending {
                self.skip_rest()?;
                if self.rest_pending {
                    return Ok(true);
                }
            }
            if line_start == buf.len() && buf.len() >= target {
                return Ok(false);
            }
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok(true);
            }
            // Bytes of the current line already in `buf` (only the first line
            // of `avail` can have any).
            let mut head = buf.len() - line_start;
            // `avail[copy_from..line_at]` is whole lines not yet copied;
            // `avail[line_at..]` is the line being read.
            let mut copy_from = 0;
            let mut line_at = 0;
            let mut full = false;
            for nl in memchr::memchr_iter(b'\n', avail) {
                if head + (nl - line_at) > self.max {
                    buf.extend_from_slice(&avail[copy_from..line_at]);
                    buf.truncate(buf.len() - head);
                    self.long_lines += 1;
                    copy_from = nl + 1;
                }
                head = 0;
                line_at = nl + 1;
                if buf.len() + (line_at - copy_from) >= target {
                    full = true;
                    break;
                }
            }
            if full {
                buf.extend_from_slice(&avail[copy_from..line_at]);
                self.inner.consume(line_at);
                return Ok(false);
            }
            let n = avail.len();
            let tail = head + (n - line_at);
            if tail > self.max {
                buf.extend_from_slice(&avail[copy_from..line_at]);
                buf.truncate(buf.len() - head);
                self.long_lines += 1;
                self.rest_pending = true;
                line_start = buf.len();
            } else {
                buf.extend_from_slice(&avail[copy_from..]);
                line_start = buf.len() - tail;
            }
            self.inner.consume(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reader that hands out at most `step` bytes per `fill_buf`, like a
    /// pipe or a decompressor.
    struct Trickle<'a> {
        data: &'a [u8],
        pos: usize,
        step: usize,
    }

    impl io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let b = self.fill_buf()?;
            let n = b.len().min(buf.len());
            buf[..n].copy_from_slice(&b[..n]);
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for Trickle<'_> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            let end = (self.pos + self.step).min(self.data.len());
            Ok(&self.data[self.pos..end])
        }
        fn consume(&mut self, n: usize) {
            self.pos += n;
        }
    }

    fn trickle(data: &[u8], step: usize) -> Trickle<'_> {
        Trickle { data, pos: 0, step }
    }

    /// What the readers must produce: the lines of at most `max` bytes
    /// (without `\n`), with their `\n`, and the number of longer ones.
    fn expected(data: &[u8], max: usize) -> (Vec<Vec<u8>>, u64) {
        let mut whole = Vec::new();
        let mut long = 0;
        let mut rest = data;
        while !rest.is_empty() {
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(nl) => (&rest[..=nl], &rest[nl + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            if line.strip_suffix(b"\n").unwrap_or(line).len() > max {
                long += 1;
            } else {
                whole.push(line.to_vec());
            }
            rest = next;
        }
        (whole, long)
    }

    fn arb_text() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                4 => (0usize..12).prop_map(|n| [b"a".repeat(n), b"\n".to_vec()].concat()),
                1 => (12usize..80).prop_map(|n| [b"b".repeat(n), b"\n".to_vec()].concat()),
                1 => (0usize..80).prop_map(|n| b"c".repeat(n)),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn lines_come_whole_or_are_counted_long_whatever_the_reads(data in arb_text(), max in 1usize..30, step in 1usize..50) {
            let (want, want_long) = expected(&data, max);
            let mut r = LineReader::with_limit(trickle(&data, step), max);
            let mut got = Vec::new();
            let mut long_prefixes = 0;
            while let Some(line) = r.next_line().expect("read") {
                match line {
                    Line::Whole(l) => got.push(l.to_vec()),
                    Line::Long(p) => {
                        prop_assert_eq!(p.len(), max);
                        prop_assert!(!p.contains(&b'\n'));
                        long_prefixes += 1;
                    }
                }
            }
            prop_assert_eq!(got, want);
            prop_assert_eq!(long_prefixes, want_long);
            prop_assert_eq!(r.long_lines(), want_long);
        }

        #[test]
        fn chunks_hold_exactly_the_short_lines(data in arb_text(), max in 1usize..30, step in 1usize..50, target in 1usize..100) {
            let (want, want_long) = expected(&data, max);
            let mut r = LineReader::with_limit(trickle(&data, step), max);
            let mut all = Vec::new();
            loop {
                let mut buf = Vec::new();
                let end = r.fill_chunk(&mut buf, target).expect("read");
                prop_assert!(buf.len() <= target + max, "chunk of {} bytes", buf.len());
                if !end {
                    prop_assert!(buf.ends_with(b"\n"));
                }
                all.extend_from_slice(&buf);
                if end {
                    break;
                }
            }
            prop_assert_eq!(all, want.concat());
            prop_assert_eq!(r.long_lines(), want_long);
        }

        #[test]
        fn copying_the_rest_of_long_lines_gives_back_the_input(data in arb_text(), max in 1usize..30, step in 1usize..50) {
            let mut r = LineReader::with_limit(trickle(&data, step), max);
            let mut out = Vec::new();
            loop {
                let long = match r.next_line().expect("read") {
                    None => break,
                    Some(Line::Whole(l)) => {
                        out.extend_from_slice(l);
                        false
                    }
                    Some(Line::Long(p)) => {
                        out.extend_from_slice(p);
                        true
                    }
                };
                if long {
                    r.copy_rest(&mut out).expect("copy");
                }
            }
            prop_assert_eq!(out, data);
        }
    }

    /// A file that is still being appended to.
    struct Growing {
        data: Vec<u8>,
        pos: usize,
    }

    impl io::Read for Growing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = (self.data.len() - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    impl BufRead for Growing {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            Ok(&self.data[self.pos..])
        }
        fn consume(&mut self, n: usize) {
            self.pos += n;
        }
    }

    fn growing(data: &[u8], max: usize) -> LineReader<Growing> {
        LineReader::with_limit(
            Growing {
                data: data.to_vec(),
                pos: 0,
            },
            max,
        )
    }

    #[test]
    fn an_unended_line_of_a_growing_input_is_kept_until_its_end_arrives() {
        let mut r = growing(b"ab", 10);
        assert_eq!(r.next_ended_line().expect("read"), None);
        assert_eq!(r.unended_len(), 2);
        r.inner.data.extend_from_slice(b"c\nd");
        assert_eq!(r.next_ended_line().expect("read"), Some(Line::Whole(&b"abc\n"[..])));
        assert_eq!(r.unended_len(), 0);
        assert_eq!(r.next_ended_line().expect("read"), None);
        assert_eq!(r.unended_len(), 1);
        assert_eq!(r.next_line().expect("read"), Some(Line::Whole(&b"d"[..])));
        assert_eq!(r.next_line().expect("read"), None);
    }

    #[test]
    fn a_long_line_the_input_ends_in_goes_on_when_it_grows() {
        let mut r = growing(b"xxxxxx", 4);
        assert_eq!(r.next_ended_line().expect("read"), Some(Line::Long(&b"xxxx"[..])));
        let mut out = Vec::new();
        assert_eq!(r.copy_rest(&mut out).expect("copy"), 2);
        assert!(r.in_long_line(), "the rest is pending until its line end");
        r.inner.data.extend_from_slice(b"yy\nok\n");
        assert_eq!(r.copy_rest(&mut out).expect("copy"), 3);
        assert_eq!(out, b"xxyy\n");
        assert!(!r.in_long_line());
        assert_eq!(r.next_ended_line().expect("read"), Some(Line::Whole(&b"ok\n"[..])));

        // Passed over rather than copied: the growth is still that line.
        let mut r = growing(b"xxxxxx", 4);
        assert!(matches!(r.next_line().expect("read"), Some(Line::Long(_))));
        assert_eq!(r.next_line().expect("read"), None);
        r.inner.data.extend_from_slice(b"zz\nok\n");
        assert_eq!(r.next_line().expect("read"), Some(Line::Whole(&b"ok\n"[..])));
        assert_eq!(r.long_lines(), 1);
    }

    #[test]
    fn the_longest_record_is_read_whole() {
        let line = crate::record::worst_case_record().to_ndjson();
        let mut lines = LineReader::new(line.as_bytes());
        assert_eq!(lines.next_line().expect("read"), Some(Line::Whole(line.as_bytes())));
    }

    #[test]
    fn a_long_line_costs_its_limit_in_memory_not_its_length() {
        let mut data = b"x".repeat(10 << 20);
        data.extend_from_slice(b"\nnext\n");
        let mut r = LineReader::with_limit(trickle(&data, 1 << 16), 1000);
        assert!(matches!(r.next_line().expect("read"), Some(Line::Long(_))));
        assert_eq!(r.next_line().expect("read"), Some(Line::Whole(&b"next\n"[..])));
        assert!(
            r.line.capacity() < 64 << 10,
            "line buffer grew to {}",
            r.line.capacity()
        );
        let mut r = LineReader::with_limit(trickle(&data, 1 << 16), 1000);
        let mut buf = Vec::new();
        assert!(r.fill_chunk(&mut buf, 4096).expect("read"));
        assert_eq!(buf, b"next\n");
        assert!(buf.capacity() < 256 << 10, "chunk buffer grew to {}", buf.capacity());
        assert_eq!(r.long_lines(), 1);
    }
}
