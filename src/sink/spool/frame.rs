//! The on-disk framing of one spooled record.
//!
//! ```text
//! magic u32 LE | len u32 LE | seq u64 LE | crc32 u32 LE (of len, seq, payload) | payload (len bytes)
//! ```
//!
//! The payload is the record's canonical NDJSON line without its `\n`. The
//! sequence number is global to the spool and grows by one per record, so a
//! reader that finds a gap knows exactly how many records were lost to damage.
//!
//! Reading is bounded whatever a segment holds: a frame is at most
//! [`MAX_FRAME`] bytes, its sequence number lies within what its place in the
//! segment allows, and the search for the next frame after damage checksums
//! at most a [`Budget`] of bytes per segment.

/// Marks the start of a segment file.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"PLSPOOL1";
/// Marks the start of a frame, so a reader can find the next one after damage.
const FRAME_MAGIC: u32 = 0x5246_4c50; // "PLFR" little-endian
/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 20;
/// The longest payload accepted when reading: the longest line a record can
/// be; longer lengths are damage.
pub(crate) const MAX_PAYLOAD: usize = crate::record::MAX_LINE_LEN;
/// The longest frame accepted when reading.
pub(crate) const MAX_FRAME: usize = HEADER_LEN + MAX_PAYLOAD;
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

/// The bytes of checksums the search for frames after damage may compute in
/// one segment: a few times the segment's size, so a segment crafted to make
/// every position look like the start of a long frame costs no more than
/// reading it a few times. Past it, the rest of the segment counts as damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget(u64);

impl Budget {
    /// The budget for a segment of `len` bytes.
    pub(crate) fn for_segment(len: usize) -> Budget {
        Budget((4 * len as u64).saturating_add(2 * MAX_FRAME as u64))
    }

    /// Whether it is spent.
    pub(crate) fn is_spent(self) -> bool {
        self.0 == 0
    }
}

/// The highest sequence number a frame at byte `at` of a segment whose first
/// record is `first_seq` can have: every frame before it takes at least a
/// header, and the sequence numbers in a segment grow by one from its first.
fn highest_seq_at(first_seq: u64, at: usize) -> u64 {
    let before = at.saturating_sub(SEGMENT_MAGIC.len()) / HEADER_LEN;
    first_seq.saturating_add(before as u64)
}

/// Parses the frame starting at `buf[at..]`, a segment whose first record is
/// `first_seq`: a frame whose sequence number its place in the segment does
/// not allow (below `first_seq`, or above one per header before it) is
/// invalid.
pub(crate) fn parse(buf: &[u8], at: usize, first_seq: u64) -> Parse<'_> {
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
    if len_usize > MAX_PAYLOAD || seq > MAX_SEQ || seq < first_seq || seq > highest_seq_at(first_seq, at) {
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

/// The position of the next valid frame at or after `from` in a segment
/// whose first record is `first_seq`, if any within `budget`; once the
/// budget is spent, `None` (and it stays spent).
pub(crate) fn resync(buf: &[u8], from: usize, first_seq: u64, budget: &mut Budget) -> Option<usize> {
    let magic = FRAME_MAGIC.to_le_bytes();
    let mut i = from;
    while i + HEADER_LEN <= buf.len() {
        let rel = buf[i..].windows(4).position(|w| w == magic)?;
        let at = i + rel;
        // The checksum of a candidate covers its header and payload.
        let len = buf
            .get(at + 4..at + 8)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let cost = (HEADER_LEN + len.min(MAX_PAYLOAD)) as u64;
        if cost > budget.0 {
            budget.0 = 0;
            return None;
        }
        budget.0 -= cost;
        if let Parse::Frame(_) = parse(buf, at, first_seq) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment whose first record is `first` holding `payloads`.
    fn segment(first: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut buf = SEGMENT_MAGIC.to_vec();
        for (i, p) in payloads.iter().enumerate() {
            encode(first + i as u64, p, &mut buf);
        }
        buf
    }

    const M: usize = SEGMENT_MAGIC.len();

    #[test]
    fn encoded_frame_parses_back() {
        let buf = segment(7, &[b"hello", b""]);
        let Parse::Frame(f) = parse(&buf, M, 7) else {
            panic!("first frame")
        };
        assert_eq!((f.seq, f.payload), (7, &b"hello"[..]));
        let Parse::Frame(g) = parse(&buf, f.end, 7) else {
            panic!("second frame")
        };
        assert_eq!((g.seq, g.payload, g.end), (8, &b""[..], buf.len()));
    }

    #[test]
    fn a_flipped_payload_bit_makes_the_frame_invalid() {
        let mut buf = segment(1, &[b"payload"]);
        buf[M + HEADER_LEN + 2] ^= 0x01;
        assert_eq!(parse(&buf, M, 1), Parse::Invalid);
    }

    #[test]
    fn a_cut_frame_is_short_and_resync_finds_the_next_whole_one() {
        let buf = segment(1, &[b"first", b"second"]);
        // Two bytes short of the first frame's end.
        let cut = M + HEADER_LEN + b"first".len() - 2;
        assert_eq!(parse(&buf[..cut], M, 1), Parse::Short);
        let mut damaged = buf.clone();
        damaged[M + HEADER_LEN] ^= 0xff;
        let mut budget = Budget::for_segment(damaged.len());
        let next = resync(&damaged, M + 1, 1, &mut budget).expect("second frame found");
        let Parse::Frame(f) = parse(&damaged, next, 1) else {
            panic!("frame")
        };
        assert_eq!(f.seq, 2);
    }

    #[test]
    fn a_sequence_number_its_place_in_the_segment_does_not_allow_is_invalid() {
        // Valid checksums, numbers no spool writes there.
        for (first, seq) in [(1, MAX_SEQ - 5), (10, 9), (10, 11)] {
            let mut buf = SEGMENT_MAGIC.to_vec();
            encode(seq, b"x", &mut buf);
            assert_eq!(parse(&buf, M, first), Parse::Invalid, "{first} {seq}");
        }
        // The second frame of a segment may be one past the first.
        let buf = segment(10, &[b"a", b"b"]);
        assert!(matches!(parse(&buf, M + HEADER_LEN + 1, 10), Parse::Frame(f) if f.seq == 11));
    }

    #[test]
    fn resync_checksums_at_most_its_budget_however_many_frames_the_bytes_fake() {
        // A frame start claiming a long payload at every 8 bytes.
        let mut buf = SEGMENT_MAGIC.to_vec();
        for _ in 0..20_000 {
            buf.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
            buf.extend_from_slice(&100_000u32.to_le_bytes());
        }
        let start = Budget::for_segment(buf.len());
        let mut budget = start;
        assert_eq!(resync(&buf, M, 1, &mut budget), None);
        assert!(budget.is_spent(), "the search stopped at its budget");
        // Spent, it stays spent: a later search checksums nothing.
        assert_eq!(resync(&buf, M, 1, &mut budget), None);
        assert!(start.0 <= 4 * buf.len() as u64 + 2 * MAX_FRAME as u64);
    }
}
