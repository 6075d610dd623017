//! A Server-Sent Events parser over arbitrary byte chunks: lines may be split anywhere (even
//! inside a UTF-8 sequence or between `\r` and `\n`); LF, CRLF and CR end lines; comment lines
//! (`: keep-alive`) and fields other than `data` are skipped; several `data:` lines of one event
//! are joined with `\n`.

/// Incremental SSE parser: feed bytes, get the `data` of each complete event.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    /// The last byte fed was `\r`: a `\n` right after it belongs to the same line end.
    after_cr: bool,
}

impl SseParser {
    /// Parse `bytes`, appending the data of every event they complete to `events`.
    pub(crate) fn feed(&mut self, bytes: &[u8], events: &mut Vec<String>) {
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
        }
        self.line.extend_from_slice(rest);
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
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut events);
        }
        events
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
