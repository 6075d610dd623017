//! Reading a tool's description and its arguments' descriptions from the doc comment.
//!
//! Rustdoc style:
//!
//! ```text
//! /// What the tool does (first paragraph = description).
//! ///
//! /// # Arguments
//! /// * `delay` - The amount of time to delay the task
//! ```
//!
//! Python (Google) style is accepted too, for users porting Agno tools: `Args:` followed by
//! `delay (int): The amount of time …`.

use syn::{Attribute, Expr, ExprLit, Lit, Meta};

/// The parsed doc comment of a tool function.
pub(crate) struct Docs {
    /// The first paragraph, lines joined with spaces.
    pub(crate) description: String,
    /// `(argument name, description)` in the order documented.
    pub(crate) arguments: Vec<(String, String)>,
}

/// The text of all `///` lines (`#[doc = "..."]` attributes), one entry per line.
fn doc_lines(attrs: &[Attribute]) -> Vec<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if let Meta::NameValue(nv) = &attr.meta
            && nv.path.is_ident("doc")
            && let Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) = &nv.value
        {
            let value = s.value();
            if value.trim().is_empty() {
                // A blank `///` line: the paragraph break that ends the description.
                lines.push(String::new());
            }
            lines.extend(value.lines().map(|l| l.strip_prefix(' ').unwrap_or(l).to_owned()));
        }
    }
    lines
}

pub(crate) fn parse(attrs: &[Attribute]) -> Docs {
    let lines = doc_lines(attrs);
    let description = lines
        .iter()
        .map(|l| l.trim())
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && !l.starts_with('#') && !is_args_header(l))
        .collect::<Vec<_>>()
        .join(" ");

    let mut arguments: Vec<(String, String)> = Vec::new();
    let mut in_args = false;
    for line in &lines {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || is_args_header(trimmed) {
            in_args = is_args_header(trimmed)
                || trimmed.trim_start_matches('#').trim().eq_ignore_ascii_case("arguments");
            continue;
        }
        if !in_args {
            continue;
        }
        if let Some((name, text)) = argument_line(trimmed) {
            arguments.push((name, text));
        } else if !trimmed.is_empty()
            && line.starts_with(char::is_whitespace)
            && let Some((_, text)) = arguments.last_mut()
        {
            // An indented continuation of the previous argument's description.
            text.push(' ');
            text.push_str(trimmed);
        } else if trimmed.is_empty() {
            continue;
        } else if !trimmed.starts_with(['*', '-']) {
            in_args = false;
        }
    }
    Docs { description, arguments }
}

fn is_args_header(line: &str) -> bool {
    matches!(line, "Args:" | "Arguments:" | "Parameters:")
}

/// `` * `name` - text ``, `` - `name`: text ``, `name (type): text`, `name: text`.
fn argument_line(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix(['*', '-']).map(str::trim_start).unwrap_or(line);
    let (name, text) = if let Some(after) = rest.strip_prefix('`') {
        let (name, text) = after.split_once('`')?;
        (name.to_owned(), text.trim_start().trim_start_matches([':', '-', '–']).trim())
    } else {
        let (head, text) = rest.split_once(':')?;
        let name = head.split_once('(').map_or(head, |(n, _)| n).trim();
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
        (name.to_owned(), text.trim())
    };
    Some((name, text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Docs {
        let attrs: Vec<Attribute> = text
            .lines()
            .map(|l| {
                let l = format!(" {l}");
                syn::parse_quote!(#[doc = #l])
            })
            .collect();
        parse(&attrs)
    }

    #[test]
    fn rustdoc_style() {
        let d = docs(
            "Simulate a task that takes\na random amount of time\n\nMore.\n\n# Arguments\n* `delay` - The amount of time\n  to delay the task\n* `label` - A label",
        );
        assert_eq!(d.description, "Simulate a task that takes a random amount of time");
        assert_eq!(
            d.arguments,
            [
                ("delay".into(), "The amount of time to delay the task".into()),
                ("label".into(), "A label".into())
            ]
        );
    }

    #[test]
    fn python_style() {
        let d = docs("Simulate a task\nArgs:\n    delay (int): The amount of time to delay the task");
        assert_eq!(d.description, "Simulate a task");
        assert_eq!(d.arguments, [("delay".into(), "The amount of time to delay the task".into())]);
    }
}
