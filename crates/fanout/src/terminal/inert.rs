//! Hostile text made harmless: a model, a tool or a server can send `ESC ] 52 ; c ; … BEL` (write
//! the clipboard), `ESC [ 2 J` (clear the screen) or a C1 `CSI`; printed as is, the terminal would
//! obey. Here every such character is replaced by a visible stand-in, so the whole sequence shows
//! as text and does nothing.

use std::borrow::Cow;

/// `text` with every character a terminal would interpret replaced by a visible stand-in: C0
/// controls other than newline and tab by their control pictures (`ESC` → `␛`, `BEL` → `␇`,
/// a lone `CR` → `␍`), DEL by `␡`, C1 controls (U+0080–U+009F) by `\u{9b}`-style escapes. `\r\n`
/// becomes `\n`. An escape sequence thus shows whole, as `␛]52;c;…␇`, and is never interpreted.
/// All other text — CJK, emoji, combining marks, right-to-left scripts — is untouched.
///
/// fanout applies this to everything it prints that it did not write itself: model text and
/// reasoning, tool names, arguments and results, error messages, log lines. Use it when you print
/// [`RunEvent`](crate::RunEvent)s yourself.
///
/// ```
/// use fanout::terminal::inert;
///
/// assert_eq!(inert("\x1b]0;pwned\x07title"), "␛]0;pwned␇title");
/// assert_eq!(inert("\u{9b}2J"), "\\u{9b}2J");
/// assert_eq!(inert("line one\r\n\tline two ✓ 日本"), "line one\n\tline two ✓ 日本");
/// ```
pub fn inert(text: &str) -> Cow<'_, str> {
    clean(text, false)
}

/// [`inert`] for text drawn as one line of a panel: newlines show as `␊` too, tabs become four
/// spaces (a tab's width depends on the column, which would misalign the panel's border).
pub(crate) fn inert_line(text: &str) -> Cow<'_, str> {
    clean(text, true)
}

fn clean(text: &str, one_line: bool) -> Cow<'_, str> {
    let needs_work = |b: u8| b < 0x20 || b == 0x7f || b == 0xc2;
    if !text.bytes().any(needs_work) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' if one_line => out.push_str("    "),
            '\t' => out.push('\t'),
            '\n' if !one_line => out.push('\n'),
            '\r' if !one_line && chars.peek() == Some(&'\n') => {}
            '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('�')),
            '\u{7f}' => out.push('␡'),
            '\u{80}'..='\u{9f}' => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            _ => out.push(c),
        }
    }
    if out == text { Cow::Borrowed(text) } else { Cow::Owned(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal acts only on C0 controls, DEL and C1 controls: none may survive.
    fn assert_inert(shown: &str) {
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
            "a control character survived in {shown:?}"
        );
    }

    #[test]
    fn osc_sequences_show_whole() {
        let clipboard = "copy \x1b]52;c;cm0gLXJmIH4=\x07 done";
        assert_eq!(inert(clipboard), "copy ␛]52;c;cm0gLXJmIH4=␇ done");
        let title = "\x1b]0;owned\x1b\\";
        assert_eq!(inert(title), "␛]0;owned␛\\");
        assert_inert(&inert(clipboard));
    }

    #[test]
    fn csi_sequences_and_bell() {
        assert_eq!(inert("\x1b[2J\x1b[H\x07"), "␛[2J␛[H␇");
        assert_eq!(inert("a\x08b\x0bc\x0cd\x00e"), "a␈b␋c␌d␀e");
        assert_eq!(inert("rm\x7f"), "rm␡");
    }

    #[test]
    fn c1_controls_are_escaped() {
        assert_eq!(inert("\u{9b}2J\u{9d}0;t\u{9c}\u{85}"), "\\u{9b}2J\\u{9d}0;t\\u{9c}\\u{85}");
        // U+00A0 and the rest of Latin-1 share the lead byte 0xC2 and stay as they are.
        assert!(matches!(inert("a\u{a0}b ©"), Cow::Borrowed(_)));
    }

    #[test]
    fn newlines_tabs_and_carriage_returns() {
        assert_eq!(inert("a\r\nb\tc\rd"), "a\nb\tc␍d");
        assert_eq!(inert_line("a\nb\tc"), "a␊b    c");
    }

    #[test]
    fn unicode_text_is_untouched() {
        for text in ["日本語のテキスト", "emoji 👩‍👩‍👧 ✓", "e\u{301} combining", "שלום עולם", "مرحبا"]
        {
            assert!(matches!(inert(text), Cow::Borrowed(_)), "{text}");
            assert!(matches!(inert_line(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn every_control_character_is_replaced() {
        let all: String = (0u32..0x100).filter_map(char::from_u32).collect();
        assert_inert(&inert(&all));
        assert_inert(&inert_line(&all));
    }
}
