//! The body of a panel whose text streams in (the response, the reasoning). Rows of text that can
//! no longer change are drawn once and kept; only the open end is drawn again, so a frame costs
//! the size of the last block, not of the whole answer.

use super::markdown;
use super::panel;
use super::style::{Color, Line, Style, wrap};
use crate::terminal::inert_line;

/// Text received so far and its panel rows.
#[derive(Debug)]
pub(crate) struct Body {
    markdown: bool,
    style: Style,
    /// The panel's width and colours, to draw rows.
    width: usize,
    color: Color,
    ansi: bool,
    source: String,
    /// Where the open end of `source` starts: everything before it is drawn in `rows`.
    open: usize,
    rows: Vec<String>,
    /// Rows of the open end, as of the last [`update`](Body::update).
    tail: Vec<String>,
    changed: bool,
}

impl Body {
    pub(crate) fn new(markdown: bool, style: Style, width: usize, color: Color, ansi: bool) -> Self {
        Self {
            markdown,
            style,
            width,
            color,
            ansi,
            source: String::new(),
            open: 0,
            rows: Vec::new(),
            tail: Vec::new(),
            changed: false,
        }
    }

    pub(crate) fn push(&mut self, text: &str) {
        self.source.push_str(text);
        self.changed |= !text.is_empty();
    }

    /// `json` as this body shows code: in a fenced block when it renders markdown.
    pub(crate) fn fenced_json(&self, json: &str) -> String {
        if self.markdown { format!("```json\n{json}\n```\n") } else { json.to_owned() }
    }

    pub(crate) fn clear(&mut self) {
        self.source.clear();
        self.open = 0;
        self.rows.clear();
        self.tail.clear();
        self.changed = false;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.source.is_empty()
    }

    /// Draw what arrived since the last call: settle what can no longer change, redraw the rest.
    pub(crate) fn update(&mut self) {
        if !self.changed {
            return;
        }
        self.changed = false;
        let inner = self.width.saturating_sub(4);
        let open = &self.source[self.open..];
        // Only whole lines can settle: how a line is read (a table row or a paragraph?) may
        // depend on how it goes on.
        let whole_lines = open.rfind('\n').map_or(0, |i| i + 1);
        let settle = if self.markdown { markdown::settled_prefix(&open[..whole_lines]) } else { whole_lines };
        if settle > 0 {
            let lines = self.render(&open[..settle], inner, true);
            self.rows.extend(lines.iter().map(|line| panel::row(line, self.width, self.color, self.ansi)));
            self.open += settle;
        }
        let lines = self.render(&self.source[self.open..], inner, false);
        self.tail = lines.iter().map(|line| panel::row(line, self.width, self.color, self.ansi)).collect();
    }

    /// Settled rows, then the rows of the open end.
    pub(crate) fn rows(&self) -> (&[String], &[String]) {
        (&self.rows, &self.tail)
    }

    fn render(&self, text: &str, inner: usize, settled: bool) -> Vec<Line> {
        if self.markdown {
            return if settled {
                markdown::render_blocks(text, inner)
            } else {
                markdown::render(text, inner)
            };
        }
        let text = text.strip_suffix('\n').unwrap_or(text);
        if text.is_empty() && !settled {
            return Vec::new();
        }
        text.split('\n')
            .flat_map(|line| wrap(&[(inert_line(line).into_owned(), self.style)], inner, ""))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(text: &str, markdown: bool, step: usize) -> Vec<String> {
        let mut body = Body::new(markdown, Style::PLAIN, 44, Color::Blue, false);
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(step) {
            body.push(&piece.iter().collect::<String>());
            body.update();
        }
        let (rows, tail) = body.rows();
        rows.iter().chain(tail).cloned().collect()
    }

    fn whole(text: &str) -> Vec<String> {
        markdown::render(text, 40).iter().map(|line| panel::row(line, 44, Color::Blue, false)).collect()
    }

    const ANSWER: &str = "# Title\n\nA paragraph that is long enough to wrap over more than one line of the panel.\n\
        Setext\n---\n\n- one\n- two\n\n  continued\n3. three\n\n> quoted\nlazy\n\n```rust\nfn main() {\n\n    x();\n}\n```\n\n\
        | a | b |\n|---|---|\n| 1 | 2 |\n\n    indented\n\n    code\n\n***\n<div>\nhtml\n</div>\n\nDone &amp; dusted.\n";

    #[test]
    fn streamed_markdown_renders_as_the_whole_answer_does() {
        for step in [1, 3, 4, 7, 64] {
            assert_eq!(streamed(ANSWER, true, step), whole(ANSWER), "deltas of {step} chars");
        }
    }

    #[test]
    fn settled_rows_are_never_redrawn() {
        let mut body = Body::new(true, Style::PLAIN, 44, Color::Blue, false);
        body.push("First paragraph.\n\nSecond");
        body.update();
        assert_eq!(body.rows().0.len(), 0, "a block settles once the next one has a whole line");
        body.push(" paragraph,\ngrowing");
        body.update();
        assert_eq!(body.rows().0.len(), 2, "the first paragraph and its blank line settled");
        body.push(" and growing.");
        body.update();
        assert_eq!(body.rows().0.len(), 2);
        assert_eq!(body.rows().1.len(), 1);
    }

    #[test]
    fn plain_text_settles_whole_lines() {
        let mut body = Body::new(false, Style::PLAIN, 24, Color::Blue, false);
        body.push("one\ntwo\nthr");
        body.update();
        assert_eq!(body.rows().0.len(), 2);
        body.push("ee\x1b[2J");
        body.update();
        assert_eq!(body.rows().1, ["┃ three␛[2J            ┃"]);
    }
}
