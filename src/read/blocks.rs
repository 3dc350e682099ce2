//! Reading files on every core: one thread opens the files one at a time,
//! in order, reads (and decompresses) each and cuts it into blocks of whole
//! lines; worker threads take the blocks as they come, each into a state of
//! its own. The `stats` and `audit` scans are both built on it.

use std::io::{self, BufRead, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Mutex, PoisonError};

use super::lines::LineReader;
use super::open::{decode, open_input};
use crate::record::MAX_LINE_LEN;

/// A block of whole lines (the last line of a file may lack its `\n`).
#[derive(Debug)]
pub(crate) struct Block {
    /// The index of its file in the list read.
    pub(crate) file: usize,
    /// Its place among its file's blocks, from 0.
    pub(crate) seq: u64,
    /// The lines.
    pub(crate) data: Vec<u8>,
}

/// What goes into the blocks, and what a read error does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lines {
    /// Record lines: a line longer than any record can be
    /// ([`MAX_LINE_LEN`]) is passed over without being held, and counted as
    /// damaged. A read error in the middle of a file (a truncated gzip
    /// member, an unreadable tail) loses the line being read, counted as
    /// damaged, and ends the file; the next one is read.
    Records,
    /// Every byte of any text: a line is kept whole up to 64 blocks long,
    /// and a longer one is handed on in pieces of that size. A read error
    /// stops the read.
    All,
}

/// What a [`BlockReader`] read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlocksRead {
    /// Files read to their end.
    pub(crate) files: u64,
    /// Bytes handed on in blocks (decompressed).
    pub(crate) bytes: u64,
    /// Lines lost: one per read error that ended a file, one per line
    /// passed over as too long.
    pub(crate) damaged: u64,
}

/// Why a [`BlockReader`] stopped.
#[derive(Debug)]
pub(crate) struct BlockError {
    /// The index of the file in the list read.
    pub(crate) file: usize,
    /// Whether the file could not be opened (else: not read).
    pub(crate) opening: bool,
    /// The operating system's (or the decompressor's) error.
    pub(crate) source: io::Error,
}

/// Reads files in blocks of whole lines and hands them to worker threads.
#[derive(Debug)]
pub(crate) struct BlockReader<'a> {
    /// The files, in order (`-` is standard input).
    pub(crate) paths: &'a [PathBuf],
    /// Worker threads (at least 1).
    pub(crate) threads: usize,
    /// Bytes a block holds before it is cut at the next line end.
    pub(crate) block_bytes: usize,
    /// What goes into the blocks, and what a read error does.
    pub(crate) lines: Lines,
    /// Counts the file bytes read (compressed bytes for gzip files).
    pub(crate) progress: Option<&'a AtomicU64>,
}

impl BlockReader<'_> {
    /// Reads every file, calling `work` with each block on one of the
    /// worker threads, each with its own state made by `make`; returns the
    /// states of the workers (in no particular order) and what was read.
    ///
    /// # Errors
    /// The first file that cannot be opened, or (with [`Lines::All`])
    /// read; the states are then dropped.
    pub(crate) fn run<W: Send>(
        &self,
        make: impl Fn() -> W + Sync,
        work: impl Fn(&mut W, &Block) + Sync,
    ) -> Result<(Vec<W>, BlocksRead), BlockError> {
        let threads = self.threads.max(1);
        let (tx, rx) = sync_channel::<Block>(threads * 2);
        let rx = Mutex::new(rx);
        let (pool_tx, pool_rx) = sync_channel::<Vec<u8>>(threads * 3);
        let (make, work) = (&make, &work);
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    let (rx, pool) = (&rx, pool_tx.clone());
                    s.spawn(move || {
                        let mut state = make();
                        loop {
                            let next = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                            let Ok(block) = next else { break };
                            work(&mut state, &block);
                            let _ = pool.try_send(block.data);
                        }
                        state
                    })
                })
                .collect();
            drop(pool_tx);
            let read = self.read_all(tx, pool_rx);
            // A worker that panicked took its state with it: what it had
            // counted is missing from the result, as it would be from a
            // sequential read that failed.
            let states = workers.into_iter().filter_map(|w| w.join().ok()).collect();
            read.map(|read| (states, read))
        })
    }

    /// The reading thread's part: the files in order, cut into blocks.
    fn read_all(&self, tx: SyncSender<Block>, pool: Receiver<Vec<u8>>) -> Result<BlocksRead, BlockError> {
        let mut read = BlocksRead::default();
        for (file, path) in self.paths.iter().enumerate() {
            let fail = |opening| move |source| BlockError { file, opening, source };
            let raw = open_input(path).map_err(fail(true))?;
            let mut sent = Sender {
                file,
                seq: 0,
                tx: &tx,
                pool: &pool,
                capacity: self.block_bytes + MAX_LINE_LEN + 1,
                bytes: &mut read.bytes,
            };
            let ended = match self.progress {
                Some(counter) => {
                    let counted = Counted { inner: raw, counter };
                    self.read_file(decode(counted).map_err(fail(false))?, &mut sent)
                }
                None => self.read_file(decode(raw).map_err(fail(false))?, &mut sent),
            };
            match ended {
                Ok(damaged) => read.damaged += damaged,
                Err(Ended::Damaged(damaged)) => read.damaged += damaged,
                Err(Ended::Failed(source)) => return Err(fail(false)(source)),
                Err(Ended::WorkersGone) => {
                    return Err(fail(false)(io::Error::other("the scanning threads stopped")));
                }
            }
            read.files += 1;
        }
        Ok(read)
    }

    /// Cuts one file into blocks; returns the lines lost.
    fn read_file(&self, input: impl BufRead, out: &mut Sender<'_>) -> Result<u64, Ended> {
        match self.lines {
            Lines::Records => self.record_blocks(input, out),
            Lines::All => self.text_blocks(input, out),
        }
    }

    /// Blocks of record lines, leaving out lines longer than any record.
    fn record_blocks(&self, input: impl BufRead, out: &mut Sender<'_>) -> Result<u64, Ended> {
        let mut lines = LineReader::new(input);
        loop {
            let mut buf = out.buffer();
            let end = match lines.fill_chunk(&mut buf, self.block_bytes) {
                Ok(end) => end,
                Err(_) => {
                    // A truncated gzip member or an unreadable tail: the line
                    // being read is lost, counted once; the file ends here.
                    buf.truncate(memchr::memrchr(b'\n', &buf).map_or(0, |nl| nl + 1));
                    out.send(buf)?;
                    return Err(Ended::Damaged(1 + lines.long_lines()));
                }
            };
            out.send(buf)?;
            if end {
                return Ok(lines.long_lines());
            }
        }
    }

    /// Blocks of any text: every byte is handed on, lines kept whole up to
    /// 64 blocks long.
    fn text_blocks(&self, mut input: impl BufRead, out: &mut Sender<'_>) -> Result<u64, Ended> {
        let block_bytes = self.block_bytes;
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let mut data = std::mem::take(&mut carry);
            // At least one byte more than the carried partial line, or a
            // line longer than the carry would be carried forever.
            let want = block_bytes.max(data.len() + (block_bytes / 2).max(1));
            data.reserve(want.saturating_sub(data.len()));
            let mut eof = false;
            while data.len() < want {
                let start = data.len();
                data.resize(want, 0);
                match input.read(&mut data[start..]) {
                    Ok(0) => {
                        data.truncate(start);
                        eof = true;
                        break;
                    }
                    Ok(n) => data.truncate(start + n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => data.truncate(start),
                    Err(e) => return Err(Ended::Failed(e)),
                }
            }
            if !eof {
                // Keep the partial last line for the next block; a block without
                // any line end is sent whole once it is 64 times the block size.
                match memchr::memrchr(b'\n', &data) {
                    Some(p) => carry = data.split_off(p + 1),
                    None if data.len() < block_bytes.saturating_mul(64) => {
                        carry = data;
                        continue;
                    }
                    None => {}
                }
            }
            out.send(data)?;
            if eof {
                return Ok(0);
            }
        }
    }
}

/// How a file's read ended early.
enum Ended {
    /// A read error ended the file ([`Lines::Records`]); the lines lost.
    Damaged(u64),
    /// A read error that stops the read ([`Lines::All`]).
    Failed(io::Error),
    /// No worker takes blocks any more.
    WorkersGone,
}

/// Hands one file's blocks on, numbered, recycling the workers' buffers.
struct Sender<'a> {
    file: usize,
    seq: u64,
    tx: &'a SyncSender<Block>,
    pool: &'a Receiver<Vec<u8>>,
    capacity: usize,
    bytes: &'a mut u64,
}

impl Sender<'_> {
    /// An empty buffer: one a worker is done with, or a new one.
    fn buffer(&self) -> Vec<u8> {
        let mut buf = self
            .pool
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.capacity));
        buf.clear();
        buf
    }

    /// Sends `data` on unless it is empty.
    fn send(&mut self, data: Vec<u8>) -> Result<(), Ended> {
        if data.is_empty() {
            return Ok(());
        }
        *self.bytes += data.len() as u64;
        let block = Block {
            file: self.file,
            seq: self.seq,
            data,
        };
        self.seq += 1;
        self.tx.send(block).map_err(|_| Ended::WorkersGone)
    }
}

/// Counts the bytes read through it.
struct Counted<'a, R> {
    inner: R,
    counter: &'a AtomicU64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write as _;

    fn text() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                6 => (0usize..60).prop_map(|n| [b"a".repeat(n), b"\n".to_vec()].concat()),
                1 => (0usize..40).prop_map(|n| b"b".repeat(n)),
            ],
            0..60,
        )
        .prop_map(|parts| parts.concat())
    }

    fn write(dir: &std::path::Path, i: usize, data: &[u8], gzip: bool) -> PathBuf {
        let path = dir.join(format!("{i}.log"));
        let mut f = std::fs::File::create(&path).expect("create");
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            enc.write_all(data).expect("gz");
            enc.finish().expect("finish");
        } else {
            f.write_all(data).expect("write");
        }
        path
    }

    /// Every block of every worker, in file and block order.
    fn read_back(reader: &BlockReader<'_>) -> (Vec<Vec<u8>>, BlocksRead) {
        let (parts, read) = reader
            .run(Vec::new, |got: &mut Vec<(usize, u64, Vec<u8>)>, b| {
                got.push((b.file, b.seq, b.data.clone()))
            })
            .expect("read");
        let mut blocks: Vec<_> = parts.into_iter().flatten().collect();
        blocks.sort_by_key(|(file, seq, _)| (*file, *seq));
        let mut files = vec![Vec::new(); reader.paths.len()];
        for (file, _, data) in blocks {
            files[file].extend_from_slice(&data);
        }
        (files, read)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn blocks_put_back_in_order_give_every_file_whole(
            files in prop::collection::vec((text(), any::<bool>()), 1..4),
            block_bytes in 1usize..200,
            threads in 1usize..4,
        ) {
            let dir = std::env::temp_dir().join(format!(
                "privlog-blocks-{}-{block_bytes}-{threads}-{}",
                std::process::id(),
                files.iter().map(|(t, _)| t.len()).sum::<usize>()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("dir");
            let paths: Vec<PathBuf> = files.iter().enumerate().map(|(i, (t, gz))| write(&dir, i, t, *gz)).collect();
            let progress = AtomicU64::new(0);
            for lines in [Lines::Records, Lines::All] {
                let reader = BlockReader { paths: &paths, threads, block_bytes, lines, progress: Some(&progress) };
                let (got, read) = read_back(&reader);
                prop_assert_eq!(read.files, files.len() as u64);
                prop_assert_eq!(read.damaged, 0, "no line here is longer than a record");
                for (got, (want, _)) in got.iter().zip(&files) {
                    prop_assert_eq!(got, want);
                }
                prop_assert_eq!(read.bytes, files.iter().map(|(t, _)| t.len() as u64).sum::<u64>());
            }
            let on_disk: u64 = paths.iter().map(|p| std::fs::metadata(p).expect("size").len()).sum();
            prop_assert_eq!(progress.load(Relaxed), 2 * on_disk, "file bytes are counted as read");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn record_blocks_leave_out_over_long_lines_and_a_torn_gzip_tail_and_count_them() {
        let dir = std::env::temp_dir().join(format!("privlog-blocks-damage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let long = "x".repeat(MAX_LINE_LEN + 1);
        let plain = write(&dir, 0, format!("a\n{long}\nb\n").as_bytes(), false);
        let gz = write(&dir, 1, "c\nd\n".repeat(10_000).as_bytes(), true);
        // Cut the compressed file short: its tail cannot be read.
        let bytes = std::fs::read(&gz).expect("read");
        std::fs::write(&gz, &bytes[..bytes.len() / 2]).expect("truncate");
        let paths = [plain.clone(), gz.clone()];
        let reader = BlockReader {
            paths: &paths,
            threads: 2,
            block_bytes: 64,
            lines: Lines::Records,
            progress: None,
        };
        let (got, read) = read_back(&reader);
        assert_eq!(got[0], b"a\nb\n");
        assert!(
            got[1].starts_with(b"c\nd\n") && got[1].ends_with(b"\n"),
            "whole lines of the readable part"
        );
        assert_eq!(read.damaged, 2, "the long line and the line the error cut");
        assert_eq!(read.files, 2);

        // Every byte of any text, and a read error stops the read.
        let reader = BlockReader {
            lines: Lines::All,
            ..reader
        };
        let e = reader.run(|| (), |(), _| {}).expect_err("a torn gzip member");
        assert_eq!((e.file, e.opening), (1, false));
        let reader = BlockReader {
            paths: &paths[..1],
            ..reader
        };
        let (got, _) = read_back(&reader);
        assert_eq!(got[0], format!("a\n{long}\nb\n").as_bytes());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_named_by_its_index() {
        let paths = [
            PathBuf::from("/nonexistent/privlog-a"),
            PathBuf::from("/nonexistent/privlog-b"),
        ];
        let reader = BlockReader {
            paths: &paths,
            threads: 1,
            block_bytes: 64,
            lines: Lines::Records,
            progress: None,
        };
        let e = reader.run(|| (), |(), _| {}).expect_err("missing");
        assert_eq!((e.file, e.opening, e.source.kind()), (0, true, io::ErrorKind::NotFound));
    }
}
