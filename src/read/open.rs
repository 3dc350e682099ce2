//! Opening record and log files: `-` is standard input, and input that
//! starts with the gzip magic bytes is decompressed as it is read, never
//! whole. Every reader of files in privlog opens them here.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

/// The first two bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The read buffer of a decoded input.
const BUFFER: usize = 1 << 16;

/// Opens a record file: `-` is standard input; input that starts with the
/// gzip magic bytes is decompressed as it is read, never whole.
///
/// # Errors
/// The I/O error with the path in its message.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let raw = open_input(path).map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))?;
    Ok(Box::new(decode(raw)?))
}

/// The raw bytes of `path`: standard input for `-`, else the file.
///
/// # Errors
/// The operating system's error of opening the file, as it is.
pub(crate) fn open_input(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(io::stdin()))
    } else {
        Ok(Box::new(File::open(path)?))
    }
}

/// An input as it was read before its first bytes were looked at.
pub(crate) type Sniffed<R> = io::Chain<io::Take<io::Cursor<[u8; 2]>>, R>;

/// Buffers `input`, decompressing it when it starts with the gzip magic
/// bytes (several gzip members in a row are read as one stream).
///
/// # Errors
/// The error of reading the first two bytes.
pub(crate) fn decode<R: Read>(mut input: R) -> io::Result<Decoded<Sniffed<R>>> {
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut input, &mut magic)?;
    let gzip = n == 2 && magic == GZIP_MAGIC;
    let chained = io::Cursor::new(magic).take(n as u64).chain(input);
    Ok(Decoded::new(chained, gzip))
}

/// A buffered input, decompressed as it is read when it is gzip.
#[derive(Debug)]
pub(crate) enum Decoded<R> {
    /// Plain text.
    Plain(BufReader<R>),
    /// One or more gzip members.
    Gzip(BufReader<MultiGzDecoder<R>>),
}

impl<R: Read> Decoded<R> {
    /// `input`, decompressed when `gzip` (as found by [`decode`] before).
    pub(crate) fn new(input: R, gzip: bool) -> Self {
        if gzip {
            Decoded::Gzip(BufReader::with_capacity(BUFFER, MultiGzDecoder::new(input)))
        } else {
            Decoded::Plain(BufReader::with_capacity(BUFFER, input))
        }
    }

    /// Whether the input is decompressed.
    pub(crate) fn is_gzip(&self) -> bool {
        matches!(self, Decoded::Gzip(_))
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Plain(r) => r.read(buf),
            Decoded::Gzip(r) => r.read(buf),
        }
    }
}

impl<R: Read> BufRead for Decoded<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Decoded::Plain(r) => r.fill_buf(),
            Decoded::Gzip(r) => r.fill_buf(),
        }
    }

    fn consume(&mut self, n: usize) {
        match self {
            Decoded::Plain(r) => r.consume(n),
            Decoded::Gzip(r) => r.consume(n),
        }
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write as _;

    fn gzip(members: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in members {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(m).expect("gz");
            out.extend(enc.finish().expect("finish"));
        }
        out
    }

    proptest! {
        #[test]
        fn any_input_reads_back_as_it_was_written_plain_or_gzip(
            a in prop::collection::vec(any::<u8>(), 0..300),
            b in prop::collection::vec(any::<u8>(), 0..300),
            compress in any::<bool>(),
        ) {
            // Plain text never starts with the magic bytes; binary input
            // that does is taken for gzip.
            prop_assume!(compress || !a.starts_with(&GZIP_MAGIC));
            let input = if compress { gzip(&[&a, &b]) } else { [a.clone(), b.clone()].concat() };
            let mut d = decode(&input[..]).expect("first bytes");
            prop_assert_eq!(d.is_gzip(), compress);
            let mut back = Vec::new();
            d.read_to_end(&mut back).expect("read");
            prop_assert_eq!(back, [a, b].concat());
        }
    }
}
