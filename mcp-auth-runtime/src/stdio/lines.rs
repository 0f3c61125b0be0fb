//! Newline-delimited messages: one JSON-RPC message per line in, the same out (MCP
//! transports, stdio).

use std::borrow::Cow;

use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::StreamExt;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// One line read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// A line of at most the limit, without its newline.
    Message(Vec<u8>),
    /// A line longer than the limit, read and dropped as it came: never held whole.
    TooLong,
}

/// Reads lines of at most `limit` bytes from `input`.
pub(super) struct Lines<R> {
    input: R,
    limit: usize,
    line: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> Lines<R> {
    pub(super) fn new(input: R, limit: usize) -> Self {
        Lines {
            input,
            limit,
            line: Vec::new(),
        }
    }

    /// The next line; `None` at the end of the input. A last line without a newline counts.
    pub(super) async fn next(&mut self) -> std::io::Result<Option<Line>> {
        self.line.clear();
        let mut too_long = false;
        loop {
            let available = self.input.fill_buf().await?;
            if available.is_empty() {
                return Ok(match (too_long, self.line.is_empty()) {
                    (true, _) => Some(Line::TooLong),
                    (false, true) => None,
                    (false, false) => Some(Line::Message(std::mem::take(&mut self.line))),
                });
            }
            let end = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..end.unwrap_or(available.len())];
            if !too_long {
                if self.line.len() + chunk.len() > self.limit {
                    too_long = true;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            let consumed = end.map_or(available.len(), |end| end + 1);
            self.input.consume(consumed);
            if end.is_some() {
                return Ok(Some(if too_long {
                    Line::TooLong
                } else {
                    Line::Message(std::mem::take(&mut self.line))
                }));
            }
        }
    }
}

/// Writes each message of `messages` as a line to `output`, flushing whenever none is
/// waiting, until `messages` ends.
pub(super) async fn write_lines<W: AsyncWrite + Unpin>(
    messages: &mut mpsc::UnboundedReceiver<Bytes>,
    output: &mut W,
) -> std::io::Result<()> {
    while let Some(message) = messages.next().await {
        write_line(output, &message).await?;
        while let Ok(message) = messages.try_recv() {
            write_line(output, &message).await?;
        }
        output.flush().await?;
    }
    Ok(())
}

/// One message and its newline. The messages are compact JSON, so a raw newline in one can
/// only be whitespace between tokens (one inside a string is escaped); it becomes a space, so
/// that nothing can ever split a message over two lines.
pub(super) async fn write_line<W: AsyncWrite + Unpin>(
    output: &mut W,
    message: &[u8],
) -> std::io::Result<()> {
    let message = if message.contains(&b'\n') {
        Cow::Owned(
            message
                .iter()
                .map(|&b| if b == b'\n' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(message)
    };
    output.write_all(&message).await?;
    output.write_all(b"\n").await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8], limit: usize) -> Vec<Line> {
        // A tiny buffer, so that lines arrive in many pieces.
        let reader = tokio::io::BufReader::with_capacity(3, input);
        let mut lines = Lines::new(reader, limit);
        let mut all = Vec::new();
        while let Some(line) = lines.next().await.expect("reads") {
            all.push(line);
        }
        all
    }

    #[tokio::test]
    async fn lines_longer_than_the_limit_are_dropped_whole() {
        let message = |s: &str| Line::Message(s.as_bytes().to_vec());
        assert_eq!(
            lines_of(b"abc\n0123456789\n\nxyz", 5).await,
            [message("abc"), Line::TooLong, message(""), message("xyz")]
        );
        assert_eq!(
            lines_of(b"12345\n123456", 5).await,
            [message("12345"), Line::TooLong]
        );
        assert_eq!(lines_of(b"", 5).await, []);
    }

    #[tokio::test]
    async fn a_raw_newline_never_splits_a_message() {
        let mut out = Vec::new();
        write_line(&mut out, b"{\"a\":\n1}").await.expect("writes");
        assert_eq!(out, b"{\"a\": 1}\n");
    }
}
