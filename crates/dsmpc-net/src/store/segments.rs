//! Append-only segment files: where the store keeps the bulk of every bundle (its sealed shares),
//! one file per task, next to the SQLite database that indexes them.
//!
//! SQLite keeps what is small and queried (each bundle's DP, arrival position, signed core and the
//! offsets of its shares); the shares themselves, which grow with the vector length, are written
//! once to the end of their task's segment and read back with positioned reads. Measured on the
//! development machine (16 MiB records, `fsync` per record): SQLite blobs in WAL mode wrote 108–171
//! MB/s and read 1.1–1.3 GB/s, segment files wrote 168–183 MB/s and read 3.9–5.0 GB/s — SQLite
//! writes every blob twice (WAL, then checkpoint) and walks overflow pages to read it.
//!
//! # Durability
//!
//! [`Segments::sync`] flushes every file appended to since the last sync (`fdatasync`, and the
//! directory when a file was created) **before** the transaction that references the new bytes
//! commits, so a committed row never points past the durable end of its file. Bytes appended by a
//! batch whose transaction then failed (or was cut short by a crash) are never referenced; the next
//! append goes after them.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where the segments live.
#[derive(Debug)]
pub(crate) enum Segments {
    /// Files `<dir>/<task id hex>.seg`, the directory created on the first append.
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Files opened for appending, with their current length.
        open: HashMap<[u8; 16], (File, u64)>,
        /// Tasks appended to since the last sync.
        dirty: HashSet<[u8; 16]>,
        /// Whether a file was created since the last sync.
        created: bool,
    },
    /// In memory, for a store in memory.
    Memory(HashMap<[u8; 16], Vec<u8>>),
}

impl Segments {
    /// Segments in `dir` (created when first needed).
    pub(crate) fn in_dir(dir: PathBuf) -> Segments {
        Segments::Dir {
            dir,
            open: HashMap::new(),
            dirty: HashSet::new(),
            created: false,
        }
    }

    /// The segment directory that belongs to the database at `db`: `<db>.bundles`.
    pub(crate) fn dir_for(db: &Path) -> PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push(".bundles");
        PathBuf::from(name)
    }

    /// Appends `bytes` to `task`'s segment; returns the offset they start at. Not durable until
    /// [`Segments::sync`].
    pub(crate) fn append(&mut self, task: &[u8; 16], bytes: &[u8]) -> io::Result<u64> {
        match self {
            Segments::Memory(files) => {
                let file = files.entry(*task).or_default();
                let offset = file.len() as u64;
                file.extend_from_slice(bytes);
                Ok(offset)
            }
            Segments::Dir {
                dir,
                open,
                dirty,
                created,
            } => {
                if !open.contains_key(task) {
                    let (file, len, new) = open_for_append(dir, task)?;
                    *created |= new;
                    open.insert(*task, (file, len));
                }
                let Some((file, len)) = open.get_mut(task) else {
                    return Err(io::Error::other("segment file vanished"));
                };
                let offset = *len;
                file.write_all(bytes)?;
                *len += bytes.len() as u64;
                dirty.insert(*task);
                Ok(offset)
            }
        }
    }

    /// Makes everything appended so far durable.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        let Segments::Dir {
            dir,
            open,
            dirty,
            created,
        } = self
        else {
            return Ok(());
        };
        for task in dirty.drain() {
            if let Some((file, _)) = open.get(&task) {
                file.sync_data()?;
            }
        }
        if std::mem::take(created) {
            File::open(&*dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Reads the byte ranges `ranges` (offset, length) of `task`'s segment, in order; one file
    /// open for all of them.
    pub(crate) fn read(&self, task: &[u8; 16], ranges: &[(u64, u64)]) -> io::Result<Vec<Vec<u8>>> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Segments::Memory(files) => {
                let file = files.get(task).map_or(&[][..], Vec::as_slice);
                ranges
                    .iter()
                    .map(|&(offset, len)| slice(file, offset, len).map(<[u8]>::to_vec))
                    .collect()
            }
            Segments::Dir { dir, .. } => {
                let file = File::open(segment_path(dir, task))?;
                ranges
                    .iter()
                    .map(|&(offset, len)| read_at(&file, offset, len))
                    .collect()
            }
        }
    }
}

impl Segments {
    /// The tasks that have a segment file (none in memory, or before the directory exists);
    /// files whose names are not a task id are ignored.
    pub(crate) fn tasks(&self) -> io::Result<Vec<[u8; 16]>> {
        let Segments::Dir { dir, .. } = self else {
            return Ok(Vec::new());
        };
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let mut tasks = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let id = name
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(parse_task);
            tasks.extend(id);
        }
        Ok(tasks)
    }

    /// Cuts `task`'s segment back to `end` bytes if it is longer (bytes a batch appended but
    /// never committed); returns how many bytes were cut. Only for a store no one else is
    /// appending to or reading from: the cloud calls it once, on start, before it serves.
    pub(crate) fn trim(&mut self, task: &[u8; 16], end: u64) -> io::Result<u64> {
        match self {
            Segments::Memory(files) => {
                let file = files.entry(*task).or_default();
                let cut = (file.len() as u64).saturating_sub(end);
                file.truncate(usize::try_from(end).unwrap_or(usize::MAX).min(file.len()));
                Ok(cut)
            }
            Segments::Dir { dir, open, .. } => {
                open.remove(task);
                let path = segment_path(dir, task);
                let file = OpenOptions::new().write(true).open(&path)?;
                let len = file.metadata()?.len();
                if len <= end {
                    return Ok(0);
                }
                file.set_len(end)?;
                file.sync_all()?;
                Ok(len - end)
            }
        }
    }
}

fn parse_task(hex: &str) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

fn segment_path(dir: &Path, task: &[u8; 16]) -> PathBuf {
    let name: String = task.iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{name}.seg"))
}

/// Opens (creating the directory and file if needed) `task`'s segment for appending; returns it,
/// its length, and whether it was created.
fn open_for_append(dir: &Path, task: &[u8; 16]) -> io::Result<(File, u64, bool)> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(parent)?.sync_all()?;
        }
    }
    let path = segment_path(dir, task);
    let new = !path.exists();
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    let len = file.metadata()?.len();
    Ok((file, len, new))
}

fn slice(file: &[u8], offset: u64, len: u64) -> io::Result<&[u8]> {
    let start = usize::try_from(offset).map_err(|_| past_end(offset, len))?;
    let end = start
        .checked_add(usize::try_from(len).map_err(|_| past_end(offset, len))?)
        .ok_or_else(|| past_end(offset, len))?;
    file.get(start..end).ok_or_else(|| past_end(offset, len))
}

fn past_end(offset: u64, len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("segment range {offset}+{len} lies past the end of its file"),
    )
}

#[cfg(unix)]
fn read_at(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let size = usize::try_from(len).map_err(|_| past_end(offset, len))?;
    let mut buf = vec![0; size];
    file.read_exact_at(&mut buf, offset)
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => past_end(offset, len),
            _ => e,
        })?;
    Ok(buf)
}

#[cfg(not(unix))]
fn read_at(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file.try_clone()?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0; usize::try_from(len).map_err(|_| past_end(offset, len))?];
    file.read_exact(&mut buf)?;
    Ok(buf)
}
