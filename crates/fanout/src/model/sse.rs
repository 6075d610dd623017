//! A Server-Sent Events parser over arbitrary byte chunks: lines may be split anywhere (even
//! inside a UTF-8 sequence or between `\r` and `\n`); LF, CRLF and CR end lines; comment lines
//! (`: keep-alive`) and fields other than `data` are skipped; several `data:` lines of one event
//! are joined with `\n`. An event larger than a bound (16 MiB by default) is an error rather than
//! unbounded memory: a server cannot make the client buffer without end.

/// The largest event (line or joined data) accepted by default.
pub(crate) const MAX_EVENT_BYTES: usize = 16 << 20;

/// An event grew past the parser's bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventTooLarge {
    /// The bound, in bytes.
    pub(crate) limit: usize,
}

impl std::fmt::Display for EventTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a stream event is larger than {} MiB", self.limit >> 20)
    }
}

/// Incremental SSE parser: feed bytes, get the `data` of each complete event.
#[derive(Debug)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    /// The last byte fed was `\r`: a `\n` right after it belongs to the same line end.
    after_cr: bool,
    max_event: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::with_limit(MAX_EVENT_BYTES)
    }
}

impl SseParser {
    /// A parser that rejects events larger than `max_event` bytes.
    pub(crate) fn with_limit(max_event: usize) -> Self {
        Self { line: Vec::new(), data: String::new(), has_data: false, after_cr: false, max_event }
    }

    /// Parse `bytes`, appending the data of every event they complete to `events`. After an
    /// error the parser's state is undefined: the stream must be abandoned.
    pub(crate) fn feed(&mut self, bytes: &[u8], events: &mut Vec<String>) -> Result<(), EventTooLarge> {
        let mut rest = bytes;
        if self.after_cr && rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
        self.after_cr = false;
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..end]);
            let is_cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            self.line_complete(&line, events);
            if self.data.len() > self.max_event {
                return Err(EventTooLarge { limit: self.max_event });
            }
        }
        self.line.extend_from_slice(rest);
        if self.line.len() > self.max_event {
            return Err(EventTooLarge { limit: self.max_event });
        }
        Ok(())
    }

    fn line_complete(&mut self, line: &[u8], events: &mut Vec<String>) {
        if line.is_empty() {
            if self.has_data {
                events.push(std::mem::take(&mut self.data));
                self.has_data = false;
            }
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        if field == b"data" {
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(&String::from_utf8_lossy(value));
            self.has_data = true;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut events).unwrap();
        }
        events
    }

    #[test]
    fn an_endless_event_is_refused() {
        let mut parser = SseParser::with_limit(1024);
        let mut events = Vec::new();
        assert!(parser.feed(&[b'x'; 1000], &mut events).is_ok());
        assert_eq!(parser.feed(&[b'x'; 100], &mut events), Err(EventTooLarge { limit: 1024 }));
        let mut parser = SseParser::with_limit(1024);
        let line = format!("data: {}\n", "y".repeat(600));
        assert!(parser.feed(line.as_bytes(), &mut events).is_ok());
        assert!(parser.feed(line.as_bytes(), &mut events).is_err(), "two data lines of one event add up");
        assert!(events.is_empty());
    }

    #[test]
    fn events_comments_and_line_endings() {
        let stream = b": keep-alive\n\ndata: {\"a\":1}\n\nevent: x\r\nid: 3\r\ndata: b\r\ndata: c\r\n\r\ndata: [DONE]\r\r";
        assert_eq!(parse(&[stream]), ["{\"a\":1}", "b\nc", "[DONE]"]);
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let stream = "data: {\"é\":\"ü\"}\r\n\r\ndata:x\n\n".as_bytes();
        let whole = parse(&[stream]);
        for i in 0..stream.len() {
            for j in i..stream.len() {
                assert_eq!(parse(&[&stream[..i], &stream[i..j], &stream[j..]]), whole, "split at {i}, {j}");
            }
        }
    }
}
