//! The outer framing of a channel: Noise messages behind a u16 big-endian length, read and written
//! through buffers so that one system call moves many Noise messages.
//!
//! Every socket read and write is bounded by the channel's I/O timeout, and nothing here allocates
//! more than one Noise message (65535 bytes) beyond the batch sizes below, whatever the peer sends.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::timeout;

use super::ChannelError;

/// Bytes of the length in front of every Noise message.
const LEN_BYTES: usize = 2;

/// The read buffer of a channel that has only seen small messages.
const SMALL_READ_BUF: usize = 16 * 1024;

/// The read buffer once a Noise message did not fit the small one.
const LARGE_READ_BUF: usize = 512 * 1024;

/// A read is not attempted into less free space than this; the buffer is compacted first.
const MIN_READ: usize = 4 * 1024;

/// Buffered outgoing bytes are written once they reach this size.
pub(super) const WRITE_BATCH: usize = 512 * 1024;

/// Reads length-prefixed Noise messages from the receiving half of a TCP stream.
pub(super) struct FrameReader {
    half: OwnedReadHalf,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    io_timeout: Duration,
}

impl FrameReader {
    /// A reader whose every socket read is bounded by `io_timeout`.
    pub(super) fn new(half: OwnedReadHalf, io_timeout: Duration) -> Self {
        FrameReader {
            half,
            buf: vec![0; SMALL_READ_BUF],
            start: 0,
            end: 0,
            io_timeout,
        }
    }

    /// The next Noise message; `None` when the peer closed the connection before its first byte,
    /// [`ChannelError::Closed`] when it closed it in the middle.
    pub(super) async fn next(&mut self) -> Result<Option<&[u8]>, ChannelError> {
        if !self.fill(LEN_BYTES).await? {
            return Ok(None);
        }
        let prefix = [self.buf[self.start], self.buf[self.start + 1]];
        let len = usize::from(u16::from_be_bytes(prefix));
        self.fill(LEN_BYTES + len).await?;
        let body = self.start + LEN_BYTES;
        self.start = body + len;
        Ok(Some(&self.buf[body..body + len]))
    }

    /// Whether any received byte waits in the buffer.
    pub(super) fn has_buffered(&self) -> bool {
        self.start < self.end
    }

    /// Buffers at least `n` bytes. False on a clean EOF (nothing buffered); an EOF after part of
    /// the `n` bytes is [`ChannelError::Closed`].
    async fn fill(&mut self, n: usize) -> Result<bool, ChannelError> {
        while self.end - self.start < n {
            self.make_room(n);
            if self.read_some().await? == 0 {
                return match self.start == self.end {
                    true => Ok(false),
                    false => Err(ChannelError::Closed),
                };
            }
        }
        Ok(true)
    }

    /// Makes room for `n` buffered bytes and a worthwhile read behind the buffered ones.
    fn make_room(&mut self, n: usize) {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        let cramped = self.buf.len() - self.end < MIN_READ;
        if self.start > 0 && (cramped || self.buf.len() - self.start < n) {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.buf.len() < n {
            self.buf.resize(n.max(LARGE_READ_BUF), 0);
        }
    }

    /// One socket read into the free end of the buffer, bounded by the I/O timeout.
    async fn read_some(&mut self) -> Result<usize, ChannelError> {
        let read = self.half.read(&mut self.buf[self.end..]);
        let got = timeout(self.io_timeout, read)
            .await
            .map_err(|_| ChannelError::Timeout { what: "read" })??;
        self.end += got;
        Ok(got)
    }
}

/// Collects length-prefixed Noise messages and writes them to the sending half of a TCP stream.
pub(super) struct FrameWriter {
    half: OwnedWriteHalf,
    buf: Vec<u8>,
    filled: usize,
    io_timeout: Duration,
}

impl FrameWriter {
    /// A writer whose every socket write is bounded by `io_timeout`.
    pub(super) fn new(half: OwnedWriteHalf, io_timeout: Duration) -> Self {
        FrameWriter {
            half,
            buf: Vec::new(),
            filled: 0,
            io_timeout,
        }
    }

    /// Appends the length of a Noise message of `len` bytes and returns the room for the message
    /// itself, which the caller must fill completely.
    pub(super) fn slot(&mut self, len: usize) -> Result<&mut [u8], ChannelError> {
        let prefix = u16::try_from(len)
            .map_err(|_| ChannelError::Frame(format!("a Noise message of {len} bytes")))?;
        let body = self.filled + LEN_BYTES;
        if self.buf.len() < body + len {
            self.buf.resize(body + len, 0);
        }
        self.buf[self.filled..body].copy_from_slice(&prefix.to_be_bytes());
        self.filled = body + len;
        Ok(&mut self.buf[body..body + len])
    }

    /// Appends one Noise message.
    pub(super) fn push(&mut self, message: &[u8]) -> Result<(), ChannelError> {
        self.slot(message.len())?.copy_from_slice(message);
        Ok(())
    }

    /// Bytes waiting to be written.
    pub(super) fn pending(&self) -> usize {
        self.filled
    }

    /// Writes everything buffered, bounded by the I/O timeout.
    pub(super) async fn flush(&mut self) -> Result<(), ChannelError> {
        let write = self.half.write_all(&self.buf[..self.filled]);
        timeout(self.io_timeout, write)
            .await
            .map_err(|_| ChannelError::Timeout { what: "write" })??;
        self.filled = 0;
        Ok(())
    }

    /// Appends bytes as they are, for tests that break the framing.
    #[cfg(test)]
    pub(super) fn push_raw(&mut self, bytes: &[u8]) {
        self.buf.truncate(self.filled);
        self.buf.extend_from_slice(bytes);
        self.filled = self.buf.len();
    }

    /// The buffered bytes, for tests that tamper with them before they are written.
    #[cfg(test)]
    pub(super) fn buffered_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.filled]
    }
}
