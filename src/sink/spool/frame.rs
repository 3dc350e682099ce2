//! The on-disk framing of one spooled record.
//!
//! ```text
//! magic u32 LE | len u32 LE | seq u64 LE | crc32 u32 LE (of len, seq, payload) | payload (len bytes)
//! ```
//!
//! The payload is the record's canonical NDJSON line without its `\n`. The
//! sequence number is global to the spool and grows by one per record, so a
//! reader that finds a gap knows exactly how many records were lost to damage.

/// Marks the start of a segment file.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"PLSPOOL1";
/// Marks the start of a frame, so a reader can find the next one after damage.
const FRAME_MAGIC: u32 = 0x5246_4c50; // "PLFR" little-endian
/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 20;
/// The longest payload accepted when reading; longer lengths are damage.
pub(crate) const MAX_PAYLOAD: usize = 1 << 20;
/// The highest sequence number accepted when reading; higher ones are damage
/// (no spool appends 2^62 records, and sums stay far from overflowing).
pub(crate) const MAX_SEQ: u64 = 1 << 62;

/// Appends one frame to `out`.
pub(crate) fn encode(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&checksum(len, seq, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

fn checksum(len: u32, seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// One valid frame found in a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) seq: u64,
    pub(crate) payload: &'a [u8],
    /// Bytes from the start of the buffer to the end of this frame.
    pub(crate) end: usize,
}

/// What the bytes at a position hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parse<'a> {
    /// A valid frame.
    Frame(Frame<'a>),
    /// Fewer bytes than a whole frame: either the end of what was read or a torn write.
    Short,
    /// Not a valid frame.
    Invalid,
}

/// Parses the frame starting at `buf[at..]`.
pub(crate) fn parse(buf: &[u8], at: usize) -> Parse<'_> {
    let Some(head) = buf.get(at..at + HEADER_LEN) else {
        return Parse::Short;
    };
    let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    if word(0) != FRAME_MAGIC {
        return Parse::Invalid;
    }
    let len = word(4);
    let seq = u64::from(word(8)) | (u64::from(word(12)) << 32);
    let crc = word(16);
    let len_usize = len as usize;
    if len_usize > MAX_PAYLOAD || seq > MAX_SEQ {
        return Parse::Invalid;
    }
    let start = at + HEADER_LEN;
    let Some(payload) = buf.get(start..start + len_usize) else {
        return Parse::Short;
    };
    if checksum(len, seq, payload) != crc {
        return Parse::Invalid;
    }
    Parse::Frame(Frame {
        seq,
        payload,
        end: start + len_usize,
    })
}

/// The position of the next valid frame at or after `from`, if any.
pub(crate) fn resync(buf: &[u8], from: usize) -> Option<usize> {
    let magic = FRAME_MAGIC.to_le_bytes();
    let mut i = from;
    while i + HEADER_LEN <= buf.len() {
        let rel = buf[i..].windows(4).position(|w| w == magic)?;
        let at = i + rel;
        if let Parse::Frame(_) = parse(buf, at) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_frame_parses_back() {
        let mut buf = Vec::new();
        encode(7, b"hello", &mut buf);
        encode(8, b"", &mut buf);
        let Parse::Frame(f) = parse(&buf, 0) else {
            panic!("first frame")
        };
        assert_eq!((f.seq, f.payload), (7, &b"hello"[..]));
        let Parse::Frame(g) = parse(&buf, f.end) else {
            panic!("second frame")
        };
        assert_eq!((g.seq, g.payload, g.end), (8, &b""[..], buf.len()));
    }

    #[test]
    fn a_flipped_payload_bit_makes_the_frame_invalid() {
        let mut buf = Vec::new();
        encode(1, b"payload", &mut buf);
        buf[HEADER_LEN + 2] ^= 0x01;
        assert_eq!(parse(&buf, 0), Parse::Invalid);
    }

    #[test]
    fn a_cut_frame_is_short_and_resync_finds_the_next_whole_one() {
        let mut buf = Vec::new();
        encode(1, b"first", &mut buf);
        let cut = buf.len() - 2;
        encode(2, b"second", &mut buf);
        assert_eq!(parse(&buf[..cut], 0), Parse::Short);
        let mut damaged = buf.clone();
        damaged[HEADER_LEN] ^= 0xff;
        let next = resync(&damaged, 1).expect("second frame found");
        let Parse::Frame(f) = parse(&damaged, next) else {
            panic!("frame")
        };
        assert_eq!(f.seq, 2);
    }
}
