//! Streaming parse throughput: SSE framing plus tool-call delta assembly on a recorded
//! Chat Completions stream (text tokens and three tool calls), fed in network-sized chunks.
//!
//! `cargo bench -p fanout --bench sse`

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fanout::models::openai::parse_recorded_stream;

fn recorded_stream() -> Vec<u8> {
    let mut body = String::new();
    let mut chunk = |delta: serde_json::Value, finish: Option<&str>| {
        let chunk = serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5-mini",
            "system_fingerprint": null, "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        body.push_str(&format!("data: {chunk}\n\n"));
    };
    chunk(serde_json::json!({"role": "assistant", "content": ""}), None);
    for i in 0..300 {
        chunk(serde_json::json!({"content": format!("token{i} ")}), None);
    }
    for (i, name) in ["atask1", "atask2", "atask3"].iter().enumerate() {
        chunk(
            serde_json::json!({"tool_calls": [{"index": i, "id": format!("call_{i}"), "type": "function", "function": {"name": name, "arguments": ""}}]}),
            None,
        );
        for fragment in ["{\"", "delay", "\":", " 3", "}"] {
            chunk(
                serde_json::json!({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}),
                None,
            );
        }
    }
    chunk(serde_json::json!({}), Some("tool_calls"));
    body.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":340,\"total_tokens\":460}}\n\n");
    body.push_str("data: [DONE]\n\n");
    body.into_bytes()
}

fn parse(c: &mut Criterion) {
    let stream = recorded_stream();
    let mut group = c.benchmark_group("sse_parse");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    for size in [64usize, 1024, 16 * 1024] {
        let chunks: Vec<&[u8]> = stream.chunks(size).collect();
        group.bench_function(format!("chunks_of_{size}B"), |b| {
            b.iter(|| {
                let deltas = parse_recorded_stream(black_box(&chunks)).unwrap();
                assert_eq!(deltas.len(), 306);
                deltas
            });
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
