//! Hostile text from a model, a tool and a server reaches the terminal inert: shown, never
//! obeyed, in plain and in live mode.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;

use fanout::RetryPolicy;
use fanout::models::openai::OpenAIChat;
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::print::{Mode, PrintOptions, Printer};
use fanout_testserver::{Reply, Script, Server};
use futures::StreamExt;

/// Clipboard write, window title, clear screen, a bare BEL, a C1 CSI, DEL, and a markdown
/// character reference that decodes to ESC.
const HOSTILE: &str = "clip \x1b]52;c;cm0gLXJmIH4=\x07 title \x1b]0;pwned\x1b\\ clear \x1b[2J bell \x07 \
                       c1 \u{9b}31m del \x7f ref &#27;[2J 日本語 👩‍👩‍👧 e\u{301} שלום";

/// Look a key up
///
/// # Arguments
/// * `key` - The key
#[tool(show_result)]
async fn lookup(key: String) -> String {
    info!("looking up {key}");
    format!("found \x1b[2J\u{9b}1;1H for {}", key.len())
}

/// What a terminal would act on. Our own escape codes in live mode are SGR colours (`m`), cursor
/// moves and clears (`F`, `J`) and cursor visibility (`?25l`, `?25h`); anything else came from
/// the hostile text.
fn assert_inert(output: &str) {
    assert!(!output.contains('\x07'), "a BEL survived");
    assert!(!output.contains('\u{9b}') && !output.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)));
    assert!(!output.contains('\x7f'));
    let mut rest = output;
    while let Some(at) = rest.find('\x1b') {
        let sequence = &rest[at + 1..];
        let params = sequence.strip_prefix('[').unwrap_or_else(|| panic!("not a CSI: {:?}", &rest[at..]));
        let end = params.find(|c: char| !(c.is_ascii_digit() || c == ';' || c == '?')).unwrap();
        let (params, last) = (&params[..end], params[end..].chars().next().unwrap());
        let ours = match last {
            'm' | 'F' => true,
            'J' => params.is_empty(),
            'l' | 'h' => params == "?25",
            _ => false,
        };
        assert!(ours, "escape sequence not written by fanout: ESC [{params}{last}");
        rest = &sequence[1 + end..];
    }
    for c in output.chars() {
        assert!(!c.is_control() || c == '\n' || c == '\x1b', "control character {c:?} survived");
    }
}

/// The text without fanout's colours, to look for content across styled spans.
fn strip_colours(output: &str) -> String {
    let mut text = String::new();
    let mut rest = output;
    while let Some(at) = rest.find("\x1b[") {
        text.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find(|c: char| !(c.is_ascii_digit() || c == ';' || c == '?')).unwrap();
        if after[end..].starts_with('m') {
            rest = &after[end + 1..];
        } else {
            text.push_str(&rest[at..at + 2]);
            rest = after;
        }
    }
    text.push_str(rest);
    text
}

async fn print_run(agent: &Agent, mode: Mode) -> String {
    let mut options = PrintOptions::default();
    options.width = Some(100);
    options.height = Some(200);
    options.mode = Some(mode);
    options.show_results_for = HashSet::from(["lookup".to_owned()]);
    let mut printer = Printer::new(Vec::new(), options);
    printer.start(HOSTILE).unwrap();
    let mut events = agent.run(HOSTILE).stream().map(|e| e.map(|e| e.kind));
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => printer.event(&event).unwrap(),
            Err(err) => {
                printer.error(&err).unwrap();
                break;
            }
        }
        printer.tick().unwrap();
    }
    printer.finish().unwrap();
    String::from_utf8(printer.into_inner()).unwrap()
}

#[tokio::test]
async fn a_scripted_model_answering_hostile_text() {
    let answer = format!("# {HOSTILE}\n\n{HOSTILE}\n\n- `{HOSTILE}`\n\n```sh\n{HOSTILE}\n\tindented\n```\n");
    let model =
        ScriptedModel::new([Turn::call("lookup", serde_json::json!({"key": HOSTILE})), Turn::text(answer)]);
    let agent = Agent::builder().model(model).tool(lookup).markdown(true).build().unwrap();
    for mode in [Mode::Plain, Mode::Live] {
        let output = print_run(&agent, mode).await;
        assert_inert(&output);
        let output = strip_colours(&output);
        // Shown, whole: in the message, the arguments, the result and the answer.
        assert!(
            output.contains("clip ␛]52;c;cm0gLXJmIH4=␇ title ␛]0;pwned␛\\ clear ␛[2J bell ␇"),
            "{output}"
        );
        assert!(output.contains("c1 \\u{9b}31m del ␡ ref ␛[2J"), "{output}");
        assert!(output.contains("found ␛[2J\\u{9b}1;1H for"), "{output}");
        assert!(
            output.contains(r#"lookup(key="clip \u001b]52;c;"#),
            "arguments, as JSON shows them: {output}"
        );
        assert!(output.contains("日本語 👩‍👩‍👧 e\u{301} שלום"), "unicode untouched: {output}");
        assert!(output.contains("    indented"), "tabs become spaces: {output}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_with_hostile_text_is_reported_inert_once() {
    let server = Server::start(Script::sequence([Reply::error(400, HOSTILE)])).await.unwrap();
    let model = OpenAIChat::new("gpt-5-mini").api_key("sk-test").base_url(server.url());
    let agent = Agent::builder().model(model).retry_policy(RetryPolicy::none()).build().unwrap();
    for mode in [Mode::Plain, Mode::Live] {
        let output = print_run(&agent, mode).await;
        assert_inert(&output);
        assert_eq!(output.matches("Error: ").count(), 1, "{output}");
        assert!(output.contains("␛]52;c;cm0gLXJmIH4=␇"), "{output}");
        assert!(!output.contains("Response ("), "no empty response panel after an error: {output}");
    }
}
