//! The live region: the bottom lines of the terminal, redrawn in place. It lives here, apart from
//! the printer that draws it, because the logger needs it too: while a region is on screen, log
//! lines are written above it (see [`write_above`]) so they never tear it.

use std::io::{self, Write};
use std::sync::Mutex;

/// Lines currently drawn at the bottom of the terminal.
#[derive(Debug, Default)]
pub(crate) struct Region {
    lines: Vec<String>,
}

impl Region {
    /// Move up over the drawn lines and clear them.
    fn clear(&mut self, out: &mut impl Write) -> io::Result<()> {
        if !self.lines.is_empty() {
            write!(out, "\x1b[{}F\x1b[J", self.lines.len())?;
        }
        self.lines.clear();
        Ok(())
    }

    /// Replace the drawn lines with `lines`, in one write. Lines equal to what is on screen are
    /// left alone (the cursor moves over them), so a frame only rewrites what changed. With
    /// `prompt`, the last line is a question: no newline after it, the cursor waits there, and
    /// the newline the user types with the answer completes the region.
    pub(crate) fn draw(&mut self, out: &mut impl Write, lines: Vec<String>, prompt: bool) -> io::Result<()> {
        if lines == self.lines && !prompt {
            return Ok(());
        }
        let same = self.lines.iter().zip(&lines).take_while(|(a, b)| a == b).count();
        let mut frame = String::new();
        let up = self.lines.len() - same;
        if up > 0 {
            frame.push_str(&format!("\x1b[{up}F\x1b[J"));
        }
        for (i, line) in lines.iter().enumerate().skip(same) {
            frame.push_str(line);
            if !(prompt && i + 1 == lines.len()) {
                frame.push('\n');
            }
        }
        out.write_all(frame.as_bytes())?;
        out.flush()?;
        self.lines = lines;
        Ok(())
    }

    /// Print `lines` for good above the region (they scroll off, never redrawn).
    pub(crate) fn settle(&mut self, out: &mut impl Write, settled: &[String]) -> io::Result<()> {
        self.clear(out)?;
        for line in settled {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }

    fn height(&self) -> usize {
        self.lines.len()
    }
}

/// The region of the printer drawing on stdout, if one is live.
pub(crate) static STDOUT: Mutex<Option<Region>> = Mutex::new(None);

/// Write `text` (whole lines, already made inert) to stderr; if a live region is on screen,
/// above it.
pub(crate) fn write_above(text: &[u8]) -> io::Result<()> {
    let mut guard = STDOUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match guard.as_mut() {
        Some(region) if region.height() > 0 => {
            let mut stdout = io::stdout().lock();
            let height = region.height();
            write!(stdout, "\x1b[{height}F\x1b[J")?;
            stdout.flush()?;
            io::stderr().write_all(text)?;
            io::stderr().flush()?;
            // Draw the region again from scratch below the new lines.
            let lines = std::mem::take(&mut region.lines);
            region.draw(&mut stdout, lines, false)
        }
        _ => {
            let mut stderr = io::stderr().lock();
            stderr.write_all(text)?;
            stderr.flush()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redraw_rewrites_only_what_changed() {
        let mut region = Region::default();
        let mut out = Vec::new();
        region.draw(&mut out, vec!["a".into(), "b".into()], false).unwrap_or_default();
        region.draw(&mut out, vec!["a".into(), "c".into(), "d".into()], false).unwrap_or_default();
        region.draw(&mut out, vec!["a".into(), "c".into(), "d".into()], false).unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&out), "a\nb\n\x1b[1F\x1b[Jc\nd\n");
        region.clear(&mut out).unwrap_or_default();
        assert!(String::from_utf8_lossy(&out).ends_with("d\n\x1b[3F\x1b[J"));
    }

    #[test]
    fn a_prompt_leaves_the_cursor_after_the_question() {
        let mut region = Region::default();
        let mut out = Vec::new();
        region.draw(&mut out, vec!["panel".into(), "Run x? [y/N] ".into()], true).unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&out), "panel\nRun x? [y/N] ");
        // The user typed "y⏎": the next frame replaces the question.
        region.draw(&mut out, vec!["panel".into(), "done".into()], false).unwrap_or_default();
        assert!(String::from_utf8_lossy(&out).ends_with("[y/N] \x1b[1F\x1b[Jdone\n"));
    }
}
