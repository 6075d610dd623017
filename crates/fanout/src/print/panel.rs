//! Agno's heavy boxes: `┏━ Title ━━┓`, `┃ text ┃`, `┗━━┛`, with a blank line of padding.

use unicode_width::UnicodeWidthStr;

use super::style::{Color, Line, Style};

/// A panel `width` columns wide around `body` (whose lines fit `width - 4`).
pub(crate) fn draw(title: &str, body: Vec<Line>, width: usize, color: Color, ansi: bool) -> Vec<String> {
    let border = Style::color(color);
    let paint = |text: String, style: Style| Line::styled(text, style).render(ansi);
    let inner = width.saturating_sub(4);
    let fill = width.saturating_sub(title.width() + 5);
    let mut lines = Vec::with_capacity(body.len() + 4);
    lines.push(format!(
        "{}{}{}",
        paint("┏━ ".into(), border),
        paint(title.to_owned(), Style { bold: true, ..border }),
        paint(format!(" {}┓", "━".repeat(fill)), border)
    ));
    let edge = paint("┃".into(), border);
    let blank = format!("{edge}{}{edge}", " ".repeat(width.saturating_sub(2)));
    lines.push(blank.clone());
    for line in body {
        let pad = inner.saturating_sub(line.width());
        lines.push(format!("{edge} {}{} {edge}", line.render(ansi), " ".repeat(pad)));
    }
    lines.push(blank);
    lines.push(paint(format!("┗{}┛", "━".repeat(width.saturating_sub(2))), border));
    lines
}
