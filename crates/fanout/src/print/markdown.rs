//! Markdown to terminal lines: headings, paragraphs wrapped at word boundaries, nested lists,
//! tables sized to their content, code blocks with their language, inline styles and links.
//!
//! Every piece of text is made inert here, after parsing: markdown's character references
//! (`&#27;`) would otherwise turn harmless source into control characters.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use unicode_width::UnicodeWidthStr;

use super::style::{Color, Line, Style, truncate, wrap};
use crate::terminal::inert_line;

const OPTIONS: Options = Options::ENABLE_TABLES.union(Options::ENABLE_STRIKETHROUGH);

/// Render `text` as lines at most `width` columns wide.
pub(crate) fn render(text: &str, width: usize) -> Vec<Line> {
    let mut lines = render_blocks(text, width);
    while lines.last().is_some_and(|l| l.width() == 0) {
        lines.pop();
    }
    lines
}

/// [`render`], keeping the blank line that follows the last block: for settled blocks, which
/// more blocks will follow.
pub(crate) fn render_blocks(text: &str, width: usize) -> Vec<Line> {
    let mut renderer = Renderer { width: width.max(10), ..Renderer::default() };
    for event in Parser::new_ext(text, OPTIONS) {
        renderer.event(event);
    }
    renderer.flush();
    renderer.out
}

/// How much of `text` is settled: the byte offset of the line where its last top-level block
/// starts (0 when there is only one). The blocks before it are closed — more text appended to
/// `text` can only extend or change that last block — so they render the same now as in the whole
/// answer, and a streaming display renders them once.
pub(crate) fn settled_prefix(text: &str) -> usize {
    let mut depth = 0usize;
    let mut last = 0;
    for (event, range) in Parser::new_ext(text, OPTIONS).into_offset_iter() {
        match event {
            Event::Start(_) => {
                if depth == 0 {
                    last = range.start;
                }
                depth += 1;
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            _ if depth == 0 => last = range.start,
            _ => {}
        }
    }
    // Top-level blocks start on a line of their own; an indented code block's range starts after
    // its indentation, which must stay with it.
    text[..last].rfind('\n').map_or(0, |i| i + 1)
}

#[derive(Default)]
struct Table {
    rows: Vec<Vec<Vec<(String, Style)>>>,
    row: Vec<Vec<(String, Style)>>,
}

#[derive(Default)]
struct Renderer {
    width: usize,
    out: Vec<Line>,
    spans: Vec<(String, Style)>,
    styles: Vec<Style>,
    /// For each open list: the next number of an ordered list, `None` for bullets.
    lists: Vec<Option<u64>>,
    bullet: Option<String>,
    code: Option<(String, String)>,
    link: Option<String>,
    table: Option<Table>,
    quote: usize,
}

impl Renderer {
    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or_default()
    }

    fn push_style(&mut self, f: impl FnOnce(&mut Style)) {
        let mut style = self.style();
        f(&mut style);
        self.styles.push(style);
    }

    fn blank(&mut self) {
        if self.out.last().is_some_and(|l| l.width() > 0) {
            self.out.push(Line::default());
        }
    }

    fn prefix(&self) -> String {
        let mut prefix = "│ ".repeat(self.quote);
        prefix.push_str(&"   ".repeat(self.lists.len().saturating_sub(1)));
        prefix
    }

    /// Wrap the collected spans as one block, with the list bullet on its first line.
    fn flush(&mut self) {
        if self.spans.is_empty() && self.bullet.is_none() {
            return;
        }
        let prefix = self.prefix();
        let bullet = self.bullet.take();
        let hang = bullet.as_ref().map_or(0, |b| b.width());
        let indent = format!("{prefix}{}", " ".repeat(hang));
        let spans = std::mem::take(&mut self.spans);
        let mut lines = wrap(&spans, self.width, &indent);
        if let (Some(bullet), Some(first)) = (bullet, lines.first_mut())
            && let Some(span) = first.spans.first_mut()
        {
            span.0 = format!("{prefix}{bullet}");
        }
        self.out.extend(lines);
    }

    fn event(&mut self, event: Event<'_>) {
        if let Some((_, code)) = &mut self.code {
            match event {
                Event::Text(text) => return code.push_str(&text),
                Event::End(TagEnd::CodeBlock) => {}
                _ => return,
            }
        }
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => {
                let style = self.style();
                self.spans.push((inert_line(&text).into_owned(), style));
            }
            Event::Code(code) => {
                let style = Style { color: Some(Color::Cyan), ..self.style() };
                self.spans.push((inert_line(&code).into_owned(), style));
            }
            Event::SoftBreak => {
                let style = self.style();
                self.spans.push((" ".into(), style));
            }
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.flush();
                self.out.push(Line::styled("─".repeat(self.width), Style::dim()));
                self.blank();
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                let style = self.style();
                for (i, line) in html.lines().enumerate() {
                    if i > 0 {
                        self.spans.push((" ".into(), style));
                    }
                    self.spans.push((inert_line(line).into_owned(), style));
                }
            }
            Event::TaskListMarker(done) => {
                self.spans.push((if done { "☑ " } else { "☐ " }.into(), Style::PLAIN))
            }
            Event::FootnoteReference(_) | Event::InlineMath(_) | Event::DisplayMath(_) => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => {}
            Tag::Heading { level, .. } => {
                self.flush();
                self.push_style(|s| {
                    s.bold = true;
                    if level == HeadingLevel::H1 {
                        s.color = Some(Color::Blue);
                    }
                });
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.quote += 1;
            }
            Tag::CodeBlock(kind) => {
                self.flush();
                let lang = match kind {
                    CodeBlockKind::Fenced(lang) => inert_line(&lang).into_owned(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((lang, String::new()));
            }
            Tag::List(start) => {
                self.flush();
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                let bullet = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let bullet = format!("{n}. ");
                        *n += 1;
                        bullet
                    }
                    _ => "• ".to_owned(),
                };
                self.bullet = Some(bullet);
            }
            Tag::Emphasis => self.push_style(|s| s.italic = true),
            Tag::Strong => self.push_style(|s| s.bold = true),
            Tag::Strikethrough => self.push_style(|s| s.dim = true),
            Tag::Link { dest_url, .. } => {
                self.link = Some(inert_line(&dest_url).into_owned());
                self.push_style(|s| s.color = Some(Color::Blue));
            }
            Tag::Image { dest_url, .. } => {
                self.spans.push((format!("[image {}]", inert_line(&dest_url)), Style::dim()))
            }
            Tag::Table(_) => {
                self.flush();
                self.table = Some(Table::default());
            }
            Tag::TableHead | Tag::TableRow | Tag::TableCell => {}
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => {
                self.flush();
                if self.lists.is_empty() {
                    self.blank();
                }
            }
            TagEnd::Heading(_) => {
                self.flush();
                self.styles.pop();
                self.blank();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quote = self.quote.saturating_sub(1);
                self.blank();
            }
            TagEnd::CodeBlock => {
                if let Some((lang, code)) = self.code.take() {
                    let prefix = format!("{}  ", self.prefix());
                    if !lang.is_empty() {
                        self.out.push(Line::styled(format!("{prefix}{lang}"), Style::dim()));
                    }
                    for line in code.trim_end_matches('\n').lines() {
                        let text = truncate(&inert_line(line), self.width.saturating_sub(prefix.width()));
                        let mut l = Line::plain(prefix.clone());
                        l.push(text, Style::color(Color::Cyan));
                        self.out.push(l);
                    }
                    self.blank();
                }
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.blank();
                }
            }
            TagEnd::Item => self.flush(),
            TagEnd::HtmlBlock => {
                self.flush();
                self.blank();
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                self.styles.pop();
            }
            TagEnd::Link => {
                self.styles.pop();
                if let Some(url) = self.link.take() {
                    let text: String = self.spans.iter().map(|(t, _)| t.as_str()).collect();
                    if !text.ends_with(&url) {
                        self.spans.push((format!(" ({url})"), Style::dim()));
                    }
                }
            }
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.spans);
                if let Some(table) = &mut self.table {
                    table.row.push(cell);
                }
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                if let Some(table) = &mut self.table {
                    let row = std::mem::take(&mut table.row);
                    table.rows.push(row);
                }
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    self.render_table(table);
                }
            }
            _ => {}
        }
    }

    /// Columns sized to their content (shrunk to fit), two spaces apart, a rule under the header.
    fn render_table(&mut self, table: Table) {
        let prefix = format!("{} ", self.prefix());
        let text = |cell: &[(String, Style)]| cell.iter().map(|(t, _)| t.as_str()).collect::<String>();
        let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &table.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(text(cell).width());
            }
        }
        let available = self.width.saturating_sub(prefix.width() + 2 * columns.saturating_sub(1));
        while widths.iter().sum::<usize>() > available {
            let Some(widest) = widths.iter_mut().max() else { break };
            if *widest <= 3 {
                break;
            }
            *widest -= 1;
        }
        for (r, row) in table.rows.iter().enumerate() {
            let mut line = Line::plain(prefix.clone());
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map(|c| text(c)).unwrap_or_default();
                let cell = truncate(&cell, *width);
                let pad = width.saturating_sub(cell.width());
                let style = if r == 0 {
                    Style::bold()
                } else {
                    row.get(i).and_then(|c| c.first()).map_or(Style::PLAIN, |s| s.1)
                };
                line.push(cell, style);
                if i + 1 < widths.len() {
                    line.push(" ".repeat(pad + 2), Style::PLAIN);
                }
            }
            self.out.push(line);
            if r == 0 {
                let total = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
                let mut rule = Line::plain(prefix.clone());
                rule.push("─".repeat(total), Style::dim());
                self.out.push(rule);
            }
        }
        self.blank();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str, width: usize) -> Vec<String> {
        render(text, width).iter().map(|l| l.render(false).trim_end().to_owned()).collect()
    }

    #[test]
    fn the_seed_answer() {
        let text = "All tasks have finished.\n\n| # | result |\n|---|---|\n| 1 | Task 1 completed in 3.00s |\n| 2 | Task 2 completed in 3.00s |\n\nDone.";
        assert_eq!(
            plain(text, 60),
            [
                "All tasks have finished.",
                "",
                " #  result",
                " ────────────────────────────",
                " 1  Task 1 completed in 3.00s",
                " 2  Task 2 completed in 3.00s",
                "",
                "Done."
            ]
        );
    }

    #[test]
    fn lists_code_and_inline_styles() {
        let text = "# Title\n\n- one **bold** and `code`\n- two\n  1. nested\n  2. [link](https://x.io)\n\n```rust\nfn main() {}\n```\n";
        assert_eq!(
            plain(text, 40),
            [
                "Title",
                "",
                "• one bold and code",
                "• two",
                "   1. nested",
                "   2. link (https://x.io)",
                "",
                "  rust",
                "  fn main() {}"
            ]
        );
        let styled: String = render("**b** `c`", 20).iter().map(|l| l.render(true)).collect();
        assert!(styled.contains("\x1b[1mb\x1b[0m") && styled.contains("\x1b[36mc\x1b[0m"), "{styled:?}");
    }

    #[test]
    fn long_paragraphs_wrap_and_wide_tables_shrink() {
        let lines = render(&"word ".repeat(40), 30);
        assert!(lines.len() > 5 && lines.iter().all(|l| l.width() <= 30));
        let table = format!("| a | b |\n|---|---|\n| {} | {} |\n", "x".repeat(50), "y".repeat(50));
        assert!(render(&table, 40).iter().all(|l| l.width() <= 40));
    }
}
