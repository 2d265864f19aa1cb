//! The on-disk queue of statuses the collector has not yet acknowledged: the reason a collector
//! restart or a dead WAN link no longer loses a site's reports.
//!
//! A folder with one file per status, named by its sequence (`00000000000000000042.status`, so
//! names sort in sending order), each written atomically (temporary file, fsync, rename, and on
//! Unix an fsync of the folder). A `state` file, written the same way, keeps the spool's random
//! id and the next sequence, so sequences never repeat across restarts. A status is removed only
//! when its acknowledgement arrives; a crash between writing and acknowledging leaves the file,
//! and it is sent again (the collector deduplicates by spool id and sequence).
//!
//! The spool is bounded: when `max_entries` are waiting, the oldest go. The drops are counted
//! in the state file and the count travels in `dropped_statuses` of the first status written
//! once there is room again (typically the first scan after the collector came back and took
//! the backlog): that status says "this many were lost before me". Statuses already in the
//! spool are never rewritten, so a re-sent status is byte-for-byte the one first sent, and a
//! status that carried a count and is dropped in turn hands its count on: every drop is
//! reported exactly once.
//!
//! A status that breaks the collector's rules (`vigia::validate`, the collector's own check) is
//! not written at all: it would be refused on every reconnect. It is counted as dropped like
//! one the spool had no room for, and [`Spool::push`] says which field is at fault.

use prost::Message;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use vigia::pb::RecordingStatus;

const ENTRY_SUFFIX: &str = ".status";
const STATE_FILE: &str = "state";
const TMP_SUFFIX: &str = ".tmp";
const CORRUPT_SUFFIX: &str = ".corrupt";
/// Suffix of an entry the collector refused as invalid (kept for inspection, never re-sent).
const REJECTED_SUFFIX: &str = ".rejected";
const LOCK_FILE: &str = "lock";

/// Why the spool could not be read or written; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file or folder operation failed.
    #[error("spool {}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Another process holds the spool.
    #[error("spool {}: in use by another vigia-probe (a `run` service and a scheduled `send-once` cannot share one spool)", .path.display())]
    Locked {
        /// The spool folder.
        path: PathBuf,
    },
    /// The status breaks the rules the collector checks (`vigia::validate`): never written,
    /// counted as dropped.
    #[error("status of recorder {recorder:?} not spooled, the collector would refuse it: {reason}; counted as dropped")]
    Invalid {
        /// The recorder the status is about.
        recorder: String,
        /// The field at fault and what is wrong with it.
        reason: vigia::validate::InvalidField,
    },
    /// The state file is not ours or is damaged.
    #[error("spool {}: damaged state file: {reason}", .path.display())]
    BadState {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What [`Spool::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The sequence given to the new status.
    pub sequence: u64,
    /// How many old statuses were dropped to make room for it.
    pub dropped: u64,
}

/// The persistent part of the spool besides its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    spool_id: String,
    next_sequence: u64,
    /// Drops not yet written into any status (no status was waiting to carry them).
    pending_dropped: u64,
}

impl State {
    fn render(&self) -> String {
        format!(
            "# vigia-probe spool state; do not edit\nspool_id = {}\nnext_sequence = {}\npending_dropped = {}\n",
            self.spool_id, self.next_sequence, self.pending_dropped
        )
    }

    fn parse(text: &str, path: &Path) -> Result<State, SpoolError> {
        let bad = |reason: String| SpoolError::BadState {
            path: path.to_path_buf(),
            reason,
        };
        let (mut id, mut next, mut pending) = (None, None, 0);
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| bad(format!("line {line:?} is not KEY = VALUE")))?;
            let value = value.trim();
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| bad(format!("{} is not a number: {value:?}", key.trim())))
            };
            match key.trim() {
                "spool_id" => {
                    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(bad(format!("spool_id {value:?} is not hexadecimal")));
                    }
                    id = Some(value.to_string());
                }
                "next_sequence" => next = Some(number()?),
                "pending_dropped" => pending = number()?,
                other => return Err(bad(format!("unknown key {other:?}"))),
            }
        }
        Ok(State {
            spool_id: id.ok_or_else(|| bad("no spool_id".into()))?,
            next_sequence: next.ok_or_else(|| bad("no next_sequence".into()))?,
            pending_dropped: pending,
        })
    }
}

/// A new random spool id: 128 bits, hexadecimal.
fn new_spool_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SpoolError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes a rename durable (Unix needs the folder synced; Windows cannot open folders so).
fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The spool folder, opened.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_entries: usize,
    state: State,
    entries: BTreeSet<u64>,
    dropped_since_open: u64,
    /// The collector's message size limit a status is checked against before it is written.
    max_message_bytes: usize,
    /// Held open (and locked) for as long as the spool is: one process per spool.
    _lock: File,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, keeping at most `max_entries` statuses.
    pub fn open(dir: &Path, max_entries: usize) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        if !fs4::fs_std::FileExt::try_lock_exclusive(&lock).map_err(io_err(&lock_path))? {
            return Err(SpoolError::Locked {
                path: dir.to_path_buf(),
            });
        }
        let mut entries = BTreeSet::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(TMP_SUFFIX) {
                // A write that never reached its rename: the status was never acknowledged
                // as spooled, so it is simply not there.
                let _ = fs::remove_file(entry.path());
                continue;
            }
            if let Some(seq) = name
                .strip_suffix(ENTRY_SUFFIX)
                .and_then(|s| s.parse::<u64>().ok())
            {
                entries.insert(seq);
            }
        }
        let state_path = dir.join(STATE_FILE);
        let mut state = match fs::read_to_string(&state_path) {
            Ok(text) => State::parse(&text, &state_path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State {
                spool_id: new_spool_id(),
                next_sequence: 1,
                pending_dropped: 0,
            },
            Err(e) => return Err(io_err(&state_path)(e)),
        };
        // A crash after writing an entry but before the state: never reuse its sequence.
        if let Some(last) = entries.last() {
            state.next_sequence = state.next_sequence.max(last + 1);
        }
        let spool = Spool {
            dir: dir.to_path_buf(),
            max_entries: max_entries.max(1),
            state,
            entries,
            dropped_since_open: 0,
            max_message_bytes: vigia::validate::DEFAULT_MAX_MESSAGE_BYTES,
            _lock: lock,
        };
        spool.save_state()?;
        Ok(spool)
    }

    /// The largest encoded status accepted (the collector's `max_message_bytes`; default
    /// [`vigia::validate::DEFAULT_MAX_MESSAGE_BYTES`]).
    pub fn with_max_message_bytes(mut self, max: usize) -> Spool {
        self.max_message_bytes = max;
        self
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This spool's random id, sent in every status so the collector can deduplicate.
    pub fn spool_id(&self) -> &str {
        &self.state.spool_id
    }

    /// The sequence the next status will get.
    pub fn next_sequence(&self) -> u64 {
        self.state.next_sequence
    }

    /// Statuses waiting for their acknowledgement.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The waiting sequences, oldest first.
    pub fn sequences(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries.iter().copied()
    }

    /// How many waiting statuses have a sequence up to `sequence` (those in flight when
    /// everything up to it was sent).
    pub fn count_through(&self, sequence: u64) -> usize {
        self.entries.range(..=sequence).count()
    }

    /// True while `sequence` waits for its acknowledgement.
    pub fn contains(&self, sequence: u64) -> bool {
        self.entries.contains(&sequence)
    }

    /// Statuses dropped (spool full) since this spool was opened.
    pub fn dropped_since_open(&self) -> u64 {
        self.dropped_since_open
    }

    fn entry_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}{ENTRY_SUFFIX}"))
    }

    fn save_state(&self) -> Result<(), SpoolError> {
        write_atomically(&self.dir.join(STATE_FILE), self.state.render().as_bytes())
    }

    fn read_entry(&self, seq: u64) -> Result<RecordingStatus, ReadError> {
        let path = self.entry_path(seq);
        let bytes = fs::read(&path).map_err(|e| ReadError::Io(io_err(&path)(e)))?;
        // An empty file decodes as a status of sequence 0 and no site, which the collector
        // refuses on every reconnect: check what was read back against the entry's name.
        if bytes.is_empty() {
            return Err(ReadError::Corrupt("empty file".into()));
        }
        let status = RecordingStatus::decode(bytes.as_slice())
            .map_err(|e| ReadError::Corrupt(e.to_string()))?;
        if status.sequence != seq {
            return Err(ReadError::Corrupt(format!(
                "holds sequence {} but is named for {seq}",
                status.sequence
            )));
        }
        Ok(status)
    }

    fn write_entry(&self, status: &RecordingStatus) -> Result<(), SpoolError> {
        write_atomically(&self.entry_path(status.sequence), &status.encode_to_vec())
    }

    /// Gives `status` the next sequence and this spool's id, makes room by dropping the oldest
    /// statuses when full, and writes it durably. Returns once it is safe from a crash. A
    /// status the collector would refuse is not written ([`SpoolError::Invalid`]), and counted
    /// as dropped; it takes no sequence.
    pub fn push(&mut self, mut status: RecordingStatus) -> Result<Pushed, SpoolError> {
        let seq = self.state.next_sequence;
        status.sequence = seq;
        status.spool_id = self.state.spool_id.clone();

        let victims: Vec<u64> = self
            .entries
            .iter()
            .copied()
            .take((self.entries.len() + 1).saturating_sub(self.max_entries))
            .collect();
        let mut pending = self.state.pending_dropped;
        for &v in &victims {
            // A dropped status hands on the drops it was carrying.
            let carried = self.read_entry(v).map_or(0, |s| s.dropped_statuses);
            pending += 1 + carried;
        }
        if victims.is_empty() {
            // Room again: this status reports what was lost before it.
            status.dropped_statuses = pending;
            pending = 0;
        } else {
            status.dropped_statuses = 0;
        }
        // Checked as it would go on the wire, count of drops included; nothing has changed yet,
        // so a refusal only adds itself to the drops the next status reports.
        if let Err(reason) = vigia::validate::status(&status, self.max_message_bytes) {
            self.state.pending_dropped += 1;
            self.dropped_since_open += 1;
            self.save_state()?;
            return Err(SpoolError::Invalid {
                recorder: status.recorder,
                reason,
            });
        }

        // The new status first, then the state, then the removals: a crash in between at worst
        // reports a drop twice or sends a status that is also counted dropped, never loses one.
        self.write_entry(&status)?;
        self.entries.insert(seq);
        self.state.next_sequence = seq + 1;
        self.state.pending_dropped = pending;
        self.save_state()?;
        for v in &victims {
            self.remove_file(*v)?;
            self.entries.remove(v);
        }
        self.dropped_since_open += victims.len() as u64;
        Ok(Pushed {
            sequence: seq,
            dropped: victims.len() as u64,
        })
    }

    /// Drops counted but not yet written into a status (waiting for room in the spool).
    pub fn pending_dropped(&self) -> u64 {
        self.state.pending_dropped
    }

    fn remove_file(&self, seq: u64) -> Result<(), SpoolError> {
        let path = self.entry_path(seq);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Up to `limit` waiting statuses with a sequence above `after`, oldest first. A damaged
    /// entry is set aside (renamed `.corrupt`), logged, and counted as dropped.
    pub fn read_after(
        &mut self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordingStatus>, SpoolError> {
        use std::ops::Bound::{Excluded, Unbounded};
        let from = after.map_or(Unbounded, Excluded);
        let wanted: Vec<u64> = self
            .entries
            .range((from, Unbounded))
            .copied()
            .take(limit)
            .collect();
        let mut out = Vec::with_capacity(wanted.len());
        for seq in wanted {
            match self.read_entry(seq) {
                Ok(s) => out.push(s),
                Err(ReadError::Io(e)) => return Err(e),
                Err(ReadError::Corrupt(reason)) => {
                    let path = self.entry_path(seq);
                    tracing::error!(path = %path.display(), %reason, "damaged spool entry set aside");
                    self.set_aside(seq, CORRUPT_SUFFIX, 0)?;
                }
            }
        }
        Ok(out)
    }

    /// The collector refused `sequence` as invalid: it can never be delivered, and keeping it
    /// would block every later status behind it. Set it aside (renamed `.rejected`, for the
    /// technician to look at) and count it as dropped, so the next status tells the collector.
    /// False when it was not waiting.
    pub fn reject(&mut self, sequence: u64) -> Result<bool, SpoolError> {
        if !self.entries.contains(&sequence) {
            return Ok(false);
        }
        let carried = self.read_entry(sequence).map_or(0, |s| s.dropped_statuses);
        self.set_aside(sequence, REJECTED_SUFFIX, carried)?;
        Ok(true)
    }

    /// Renames an entry out of the queue (`suffix` says why) and counts it dropped, with the
    /// `carried` drops it was to report.
    fn set_aside(&mut self, sequence: u64, suffix: &str, carried: u64) -> Result<(), SpoolError> {
        let path = self.entry_path(sequence);
        let mut aside = path.as_os_str().to_owned();
        aside.push(suffix);
        fs::rename(&path, PathBuf::from(aside)).map_err(io_err(&path))?;
        self.entries.remove(&sequence);
        self.state.pending_dropped += 1 + carried;
        self.dropped_since_open += 1;
        self.save_state()
    }

    /// The collector made `sequence` durable: forget it. False when it was not waiting
    /// (a second acknowledgement, or one for a status already dropped).
    pub fn ack(&mut self, sequence: u64) -> Result<bool, SpoolError> {
        if !self.entries.contains(&sequence) {
            return Ok(false);
        }
        // No fsync: if the removal is lost in a crash, the status is sent again and the
        // collector acknowledges it as a duplicate.
        self.remove_file(sequence)?;
        self.entries.remove(&sequence);
        Ok(true)
    }
}

#[derive(Debug)]
enum ReadError {
    Io(SpoolError),
    Corrupt(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A status the collector accepts (the spool checks the collector's rules).
    fn status(recorder: &str) -> RecordingStatus {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        vigia::status_builder::StatusBuilder::new(at)
            .recorder(recorder)
            .files(7, 7 << 20)
            .build()
    }

    fn seqs(spool: &Spool) -> Vec<u64> {
        spool.sequences().collect()
    }

    #[test]
    fn statuses_keep_their_order_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id;
        {
            let mut spool = Spool::open(dir.path(), 100).expect("open");
            id = spool.spool_id().to_string();
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
            for r in ["a", "b", "c"] {
                spool.push(status(r)).expect("push");
            }
            assert!(spool.ack(2).expect("ack"));
            assert!(!spool.ack(2).expect("second ack"), "already gone");
        }
        let mut spool = Spool::open(dir.path(), 100).expect("reopen");
        assert_eq!(spool.spool_id(), id, "the id survives restarts");
        assert_eq!(seqs(&spool), vec![1, 3]);
        let read = spool.read_after(None, 10).expect("read");
        assert_eq!(
            read.iter()
                .map(|s| (s.sequence, s.recorder.as_str(), s.spool_id.as_str()))
                .collect::<Vec<_>>(),
            vec![(1, "a", id.as_str()), (3, "c", id.as_str())]
        );
        assert_eq!(read[0].file_count, 7);
        let pushed = spool.push(status("d")).expect("push");
        assert_eq!(pushed.sequence, 4, "sequences never repeat");
        assert_eq!(
            spool
                .read_after(Some(1), 10)
                .expect("read")
                .iter()
                .map(|s| s.sequence)
                .collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(spool.read_after(None, 1).expect("read").len(), 1);
    }

    #[test]
    fn sequences_continue_after_everything_was_acknowledged() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut spool = Spool::open(dir.path(), 10).expect("open");
            for _ in 0..5 {
                let p = spool.push(status("a")).expect("push");
                spool.ack(p.sequence).expect("ack");
            }
            assert!(spool.is_empty());
        }
        let mut spool = Spool::open(dir.path(), 10).expect("reopen");
        assert_eq!(spool.push(status("a")).expect("push").sequence, 6);
    }

    #[test]
    fn a_lost_state_file_never_reuses_a_waiting_sequence() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut spool = Spool::open(dir.path(), 10).expect("open");
            for _ in 0..3 {
                spool.push(status("a")).expect("push");
            }
        }
        fs::remove_file(dir.path().join(STATE_FILE)).expect("remove state");
        let mut spool = Spool::open(dir.path(), 10).expect("reopen");
        assert_eq!(spool.push(status("a")).expect("push").sequence, 4);
    }

    #[test]
    fn leftover_temporary_files_are_ignored_and_cleaned() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut spool = Spool::open(dir.path(), 10).expect("open");
            spool.push(status("a")).expect("push");
        }
        let half = dir
            .path()
            .join(format!("{:020}{ENTRY_SUFFIX}{TMP_SUFFIX}", 2));
        fs::write(&half, b"half a status").expect("write");
        let spool = Spool::open(dir.path(), 10).expect("reopen");
        assert_eq!(seqs(&spool), vec![1]);
        assert!(!half.exists());
    }

    #[test]
    fn a_spool_is_held_by_one_opener_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), 10).expect("open");
        let err = Spool::open(dir.path(), 10).expect_err("second opener");
        assert!(matches!(err, SpoolError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("in use by another vigia-probe"));
        drop(spool);
        Spool::open(dir.path(), 10).expect("free again");
    }

    #[test]
    fn a_damaged_state_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(STATE_FILE), "spool_id = xyz\n").expect("write");
        let err = Spool::open(dir.path(), 10).expect_err("damaged");
        let msg = err.to_string();
        assert!(
            msg.contains("state") && msg.contains("hexadecimal"),
            "{msg}"
        );
    }

    fn counts(spool: &mut Spool) -> Vec<(u64, u64)> {
        spool
            .read_after(None, 100)
            .expect("read")
            .iter()
            .map(|s| (s.sequence, s.dropped_statuses))
            .collect()
    }

    #[test]
    fn a_full_spool_drops_the_oldest_and_the_first_status_with_room_carries_the_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 5).expect("open");
        let mut dropped = 0;
        for _ in 0..8 {
            dropped += spool.push(status("a")).expect("push").dropped;
        }
        assert_eq!(dropped, 3);
        assert_eq!(spool.dropped_since_open(), 3);
        assert_eq!(spool.pending_dropped(), 3);
        assert_eq!(
            counts(&mut spool),
            vec![(4, 0), (5, 0), (6, 0), (7, 0), (8, 0)],
            "waiting statuses are never rewritten"
        );
        // The count survives a restart, and the backlog is delivered.
        drop(spool);
        let mut spool = Spool::open(dir.path(), 5).expect("reopen");
        assert_eq!(spool.pending_dropped(), 3);
        for seq in 4..=8 {
            assert!(spool.ack(seq).expect("ack"));
        }
        spool.push(status("a")).expect("push");
        assert_eq!(
            counts(&mut spool),
            vec![(9, 3)],
            "the next status reports 3 dropped"
        );
        assert_eq!(spool.pending_dropped(), 0);
        spool.push(status("a")).expect("push");
        assert_eq!(counts(&mut spool), vec![(9, 3), (10, 0)], "reported once");
    }

    #[test]
    fn a_dropped_carrier_hands_its_count_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 2).expect("open");
        for _ in 0..3 {
            spool.push(status("a")).expect("push"); // 1, 2, then 3 drops 1
        }
        spool.ack(2).expect("ack");
        spool.push(status("a")).expect("push"); // 4 has room: carries 1
        assert_eq!(counts(&mut spool), vec![(3, 0), (4, 1)]);
        spool.push(status("a")).expect("push"); // 5 drops 3
        spool.push(status("a")).expect("push"); // 6 drops 4, which carried 1
        assert_eq!(spool.pending_dropped(), 3);
        spool.ack(5).expect("ack");
        spool.ack(6).expect("ack");
        spool.push(status("a")).expect("push");
        assert_eq!(
            counts(&mut spool),
            vec![(7, 3)],
            "1, 3 and 4 were dropped (4 carried the report of 1): 7 reports all three"
        );
    }

    #[test]
    fn a_spool_of_one_reports_every_drop_once_there_is_room() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 1).expect("open");
        for _ in 0..4 {
            spool.push(status("a")).expect("push");
        }
        assert_eq!(counts(&mut spool), vec![(4, 0)]);
        spool.ack(4).expect("ack");
        spool.push(status("a")).expect("push");
        assert_eq!(counts(&mut spool), vec![(5, 3)]);
    }

    #[test]
    fn a_status_the_collector_would_refuse_is_not_spooled_but_counted_and_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 10).expect("open");
        spool.push(status("a")).expect("push");
        let bad = RecordingStatus {
            scan_duration: Some(prost_types::Duration {
                seconds: 5,
                nanos: -1,
            }),
            ..status("b")
        };
        let err = spool.push(bad).expect_err("refused");
        let SpoolError::Invalid { recorder, reason } = &err else {
            panic!("not an Invalid: {err}");
        };
        assert_eq!(recorder, "b");
        assert_eq!(reason.field, "scan_duration", "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("recorder \"b\"") && msg.contains("counted as dropped"),
            "{msg}"
        );
        assert_eq!(seqs(&spool), vec![1], "nothing written");
        assert_eq!(
            fs::read_dir(dir.path())
                .expect("dir")
                .filter(|e| e
                    .as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(ENTRY_SUFFIX)))
                .count(),
            1
        );
        assert_eq!(spool.pending_dropped(), 1);
        assert_eq!(spool.dropped_since_open(), 1);
        // The count survives a restart and the next good status reports it; no sequence is
        // spent on the refused one.
        drop(spool);
        let mut spool = Spool::open(dir.path(), 10).expect("reopen");
        assert_eq!(spool.pending_dropped(), 1);
        let p = spool.push(status("a")).expect("push");
        assert_eq!(p.sequence, 2);
        assert_eq!(counts(&mut spool), vec![(1, 0), (2, 1)]);
    }

    #[test]
    fn the_size_limit_is_the_collectors() {
        let big = RecordingStatus {
            errors: (0..20)
                .map(|i| vigia::pb::ScanError {
                    path: format!("/rec/{i}/{}", "x".repeat(1000)),
                    reason: "unreadable".into(),
                })
                .collect(),
            ..status("a")
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 10).expect("open");
        spool
            .push(big.clone())
            .expect("20 kB fits the default 1 MiB");
        drop(spool);
        let mut spool = Spool::open(dir.path(), 10)
            .expect("open")
            .with_max_message_bytes(16 * 1024);
        let err = spool.push(big).expect_err("over 16 KiB");
        assert!(err.to_string().contains("max_message_bytes"), "{err}");
    }

    #[test]
    fn a_damaged_entry_is_set_aside_and_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 10).expect("open");
        for _ in 0..2 {
            spool.push(status("a")).expect("push");
        }
        fs::write(spool.entry_path(1), b"\xff\xff\xff not protobuf").expect("damage");
        let read = spool.read_after(None, 10).expect("read");
        assert_eq!(read.iter().map(|s| s.sequence).collect::<Vec<_>>(), vec![2]);
        assert_eq!(seqs(&spool), vec![2]);
        assert!(dir
            .path()
            .join(format!("{:020}{ENTRY_SUFFIX}{CORRUPT_SUFFIX}", 1))
            .exists());
        assert_eq!(spool.pending_dropped(), 1, "counted as dropped");
        let p = spool.push(status("a")).expect("push");
        let read = spool.read_after(Some(2), 10).expect("read");
        assert_eq!(
            (read[0].sequence, read[0].dropped_statuses),
            (p.sequence, 1)
        );
    }

    #[test]
    fn an_empty_or_misnamed_entry_is_set_aside_not_sent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 10).expect("open");
        for _ in 0..3 {
            spool.push(status("a")).expect("push");
        }
        fs::write(spool.entry_path(1), b"").expect("empty it");
        let mut other = spool.read_entry(3).expect("read 3");
        other.sequence = 7;
        fs::write(spool.entry_path(2), other.encode_to_vec()).expect("misname it");
        let read = spool.read_after(None, 10).expect("read");
        assert_eq!(read.iter().map(|s| s.sequence).collect::<Vec<_>>(), vec![3]);
        for seq in [1, 2] {
            assert!(dir
                .path()
                .join(format!("{seq:020}{ENTRY_SUFFIX}{CORRUPT_SUFFIX}"))
                .exists());
        }
        assert_eq!(spool.pending_dropped(), 2, "both counted as dropped");
    }
}
