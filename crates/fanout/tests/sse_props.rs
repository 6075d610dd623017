//! Property tests for the streaming parser: any split of a valid recorded stream gives the same
//! deltas, and no input makes it panic. A long run:
//! `PROPTEST_CASES=1000000 cargo test --release -p fanout --test sse_props`.
#![allow(clippy::unwrap_used, missing_docs)]

use fanout::models::openai::parse_recorded_stream;
use proptest::prelude::*;

fn recorded() -> Vec<u8> {
    let mut body = String::from(": keep-alive\r\n\r\n");
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        let c = serde_json::json!({"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    body += &chunk(serde_json::json!({"role": "assistant", "content": "Héllo — "}), None);
    body += &chunk(serde_json::json!({"content": "wörld ✓"}), None);
    for (i, name) in ["atask1", "atask2"].iter().enumerate() {
        body += &chunk(
            serde_json::json!({"tool_calls": [{"index": i, "id": format!("c{i}"), "type": "function", "function": {"name": name, "arguments": ""}}]}),
            None,
        );
        for fragment in ["{\"de", "lay\": ", "3}"] {
            body += &chunk(
                serde_json::json!({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}),
                None,
            );
        }
    }
    body += &chunk(serde_json::json!({}), Some("tool_calls"));
    body += "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}\r\n\r\n";
    body += "data: [DONE]\n\n";
    body.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_split_gives_the_same_deltas(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let stream = recorded();
        let whole = parse_recorded_stream(&[&stream]).unwrap();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for p in points {
            chunks.push(&stream[from..p]);
            from = p;
        }
        chunks.push(&stream[from..]);
        prop_assert_eq!(parse_recorded_stream(&chunks).unwrap(), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), cut in any::<prop::sample::Index>()) {
        let at = cut.index(bytes.len() + 1);
        let _ = parse_recorded_stream(&[&bytes[..at], &bytes[at..]]);
    }

    #[test]
    fn mutated_streams_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut stream = recorded();
        for (at, byte) in edits {
            let i = at.index(stream.len());
            stream[i] = byte;
        }
        let _ = parse_recorded_stream(&[&stream]);
    }
}
