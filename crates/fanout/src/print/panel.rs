//! Agno's heavy boxes: `┏━ Title ━━┓`, `┃ text ┃`, `┗━━┛`, with a blank line of padding. Drawn
//! row by row, so a panel whose body streams in can reuse the rows it already drew.

use unicode_width::UnicodeWidthStr;

use super::style::{Color, Line, Style};

/// A whole panel `width` columns wide around `body` (whose lines fit `width - 4`).
pub(crate) fn draw(title: &str, body: Vec<Line>, width: usize, color: Color, ansi: bool) -> Vec<String> {
    let mut lines = Vec::with_capacity(body.len() + 4);
    lines.push(top(title, width, color, ansi));
    lines.push(blank(width, color, ansi));
    lines.extend(body.iter().map(|line| row(line, width, color, ansi)));
    lines.push(blank(width, color, ansi));
    lines.push(bottom(width, color, ansi));
    lines
}

/// `┏━ Title ━━┓`
pub(crate) fn top(title: &str, width: usize, color: Color, ansi: bool) -> String {
    let border = Style::color(color);
    let fill = width.saturating_sub(title.width() + 5);
    let mut line = Line::styled("┏━ ", border);
    line.push(title, Style { bold: true, ..border });
    line.push(format!(" {}┓", "━".repeat(fill)), border);
    line.render(ansi)
}

/// `┃ text   ┃`: `body` padded to the panel's inner width.
pub(crate) fn row(body: &Line, width: usize, color: Color, ansi: bool) -> String {
    let edge = Line::styled("┃", Style::color(color)).render(ansi);
    let pad = width.saturating_sub(4).saturating_sub(body.width());
    let mut row = edge.clone();
    row.push(' ');
    row.push_str(&body.render(ansi));
    row.extend(std::iter::repeat_n(' ', pad + 1));
    row.push_str(&edge);
    row
}

/// `┃      ┃`
pub(crate) fn blank(width: usize, color: Color, ansi: bool) -> String {
    row(&Line::default(), width, color, ansi)
}

/// `┗━━━━━━┛`
pub(crate) fn bottom(width: usize, color: Color, ansi: bool) -> String {
    Line::styled(format!("┗{}┛", "━".repeat(width.saturating_sub(2))), Style::color(color)).render(ansi)
}
