//! Styled text: spans with a style, rendered with ANSI escapes or as plain text; width-aware
//! wrapping that never splits an escape code (styles are applied after wrapping).

use std::borrow::Cow;

use unicode_width::UnicodeWidthStr;

use crate::terminal::inert_line;

/// Text attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Style {
    pub(crate) bold: bool,
    pub(crate) italic: bool,
    pub(crate) dim: bool,
    pub(crate) color: Option<Color>,
}

/// The few colours the printer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Color {
    Green,
    Red,
    Yellow,
    Cyan,
    Blue,
}

impl Style {
    pub(crate) const PLAIN: Style = Style { bold: false, italic: false, dim: false, color: None };

    pub(crate) fn bold() -> Self {
        Style { bold: true, ..Style::PLAIN }
    }

    pub(crate) fn dim() -> Self {
        Style { dim: true, ..Style::PLAIN }
    }

    pub(crate) fn color(color: Color) -> Self {
        Style { color: Some(color), ..Style::PLAIN }
    }

    /// Append the SGR sequence of this style to `out`; false (nothing written) for plain text.
    fn write_ansi(self, out: &mut String) -> bool {
        let color = match self.color {
            Some(Color::Red) => "31",
            Some(Color::Green) => "32",
            Some(Color::Yellow) => "33",
            Some(Color::Blue) => "34",
            Some(Color::Cyan) => "36",
            None => "",
        };
        let codes = [(self.bold, "1"), (self.dim, "2"), (self.italic, "3"), (!color.is_empty(), color)];
        let mut first = true;
        for (on, code) in codes {
            if on {
                out.push_str(if first { "\x1b[" } else { ";" });
                out.push_str(code);
                first = false;
            }
        }
        if !first {
            out.push('m');
        }
        !first
    }
}

/// A line of styled spans.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Line {
    pub(crate) spans: Vec<(String, Style)>,
}

impl Line {
    pub(crate) fn plain(text: impl Into<String>) -> Self {
        Self::styled(text, Style::PLAIN)
    }

    pub(crate) fn styled(text: impl Into<String>, style: Style) -> Self {
        Line { spans: vec![(inert_span(text.into()), style)] }
    }

    pub(crate) fn push(&mut self, text: impl Into<String>, style: Style) {
        self.spans.push((inert_span(text.into()), style));
    }

    pub(crate) fn width(&self) -> usize {
        self.spans.iter().map(|(t, _)| t.width()).sum()
    }

    /// The text with ANSI styles when `color`, plain otherwise.
    pub(crate) fn render(&self, color: bool) -> String {
        let mut out = String::with_capacity(self.spans.iter().map(|(t, _)| t.len() + 12).sum());
        for (text, style) in &self.spans {
            let styled = color && style.write_ansi(&mut out);
            out.push_str(text);
            if styled {
                out.push_str("\x1b[0m");
            }
        }
        out
    }
}

/// The last line of defence: whatever reaches a span is inert, even if a caller forgot. Text is
/// made inert where it comes in, before it is measured, so this normally changes nothing.
fn inert_span(text: String) -> String {
    match inert_line(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(clean) => clean,
    }
}

/// Wrap styled words to `width` columns: breaks at spaces, splits words longer than a line.
pub(crate) fn wrap(spans: &[(String, Style)], width: usize, indent: &str) -> Vec<Line> {
    let width = width.max(8);
    let indent_width = indent.width();
    let mut lines = Vec::new();
    let mut line = Line::plain(indent);
    let mut line_width = indent_width;
    let mut pending_space: Option<Style> = None;
    for (text, style) in spans {
        for (i, word) in text.split(' ').enumerate() {
            if i > 0 {
                pending_space = Some(*style);
            }
            if word.is_empty() {
                continue;
            }
            let mut word = word.to_owned();
            loop {
                let space = usize::from(pending_space.is_some() && line_width > indent_width);
                let word_width = word.width();
                if line_width + space + word_width <= width {
                    if space == 1 {
                        line.push(" ", pending_space.unwrap_or(Style::PLAIN));
                    }
                    line.push(word, *style);
                    line_width += space + word_width;
                    pending_space = None;
                    break;
                }
                if line_width > indent_width {
                    lines.push(std::mem::replace(&mut line, Line::plain(indent)));
                    line_width = indent_width;
                    pending_space = None;
                    continue;
                }
                // A word longer than a whole line: split it at the width.
                let (head, tail) = split_at_width(&word, width - indent_width);
                line.push(head, *style);
                lines.push(std::mem::replace(&mut line, Line::plain(indent)));
                line_width = indent_width;
                word = tail;
                if word.is_empty() {
                    break;
                }
            }
        }
    }
    if line_width > indent_width || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn split_at_width(word: &str, width: usize) -> (String, String) {
    let mut used = 0;
    for (i, c) in word.char_indices() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width.max(1) && i > 0 {
            return (word[..i].to_owned(), word[i..].to_owned());
        }
        used += w;
    }
    (word.to_owned(), String::new())
}

/// Cut `text` to at most `width` columns, with an ellipsis when cut.
pub(crate) fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let (head, _) = split_at_width(text, width.saturating_sub(1).max(1));
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, Style)> {
        vec![(text.to_owned(), Style::PLAIN)]
    }

    #[test]
    fn wraps_at_spaces_and_splits_long_words() {
        let lines = wrap(&words("the quick brown fox jumps"), 10, "");
        let texts: Vec<String> = lines.iter().map(|l| l.render(false)).collect();
        assert_eq!(texts, ["the quick", "brown fox", "jumps"]);
        let lines = wrap(&words("a supercalifragilistic word"), 10, "  ");
        let texts: Vec<String> = lines.iter().map(|l| l.render(false)).collect();
        assert_eq!(texts, ["  a", "  supercal", "  ifragili", "  stic", "  word"]);
        assert!(lines.iter().all(|l| l.width() <= 10));
    }

    #[test]
    fn wide_characters_count_double() {
        let lines = wrap(&words("日本語のテキスト です"), 10, "");
        assert!(lines.iter().all(|l| l.width() <= 10), "{lines:?}");
        assert_eq!(lines.iter().map(|l| l.render(false)).collect::<String>(), "日本語のテキストです");
    }

    #[test]
    fn spans_are_inert_whatever_the_caller_passes() {
        let mut line = Line::plain("a\x1b[2J");
        line.push("\u{9b}31m\n", Style::bold());
        assert_eq!(line.render(false), "a␛[2J\\u{9b}31m␊");
    }

    #[test]
    fn styles_apply_after_wrapping() {
        let spans = vec![("bold words here".to_owned(), Style::bold())];
        let lines = wrap(&spans, 10, "");
        assert_eq!(lines[0].render(true), "\x1b[1mbold\x1b[0m\x1b[1m \x1b[0m\x1b[1mwords\x1b[0m");
        assert_eq!(lines[1].render(false), "here");
    }
}
