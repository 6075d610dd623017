//! Streaming parse throughput of the Anthropic provider: SSE framing plus content-block
//! assembly on a Messages API stream shaped like `benches/sse.rs`'s (300 text tokens, three
//! tool_use blocks of five input fragments each), fed in network-sized chunks.
//!
//! `cargo bench -p fanout --bench sse_anthropic`

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fanout::models::anthropic::parse_recorded_stream;
use serde_json::json;

fn recorded_stream() -> Vec<u8> {
    let mut body = String::new();
    let mut event = |data: serde_json::Value| {
        let kind = data["type"].as_str().unwrap().to_owned();
        body.push_str(&format!("event: {kind}\ndata: {data}\n\n"));
    };
    event(json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 120, "output_tokens": 1, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}}));
    event(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
    for i in 0..300 {
        event(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": format!("token{i} ")}}),
        );
    }
    event(json!({"type": "content_block_stop", "index": 0}));
    for (i, name) in ["atask1", "atask2", "atask3"].iter().enumerate() {
        let index = i + 1;
        event(json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": format!("toolu_{i}"), "name": name, "input": {}}}));
        for fragment in ["{\"", "delay", "\":", " 3", "}"] {
            event(json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": fragment}}));
        }
        event(json!({"type": "content_block_stop", "index": index}));
    }
    event(json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
        "usage": {"output_tokens": 340}}));
    event(json!({"type": "message_stop"}));
    body.into_bytes()
}

fn parse(c: &mut Criterion) {
    let stream = recorded_stream();
    let mut group = c.benchmark_group("sse_parse_anthropic");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    for size in [64usize, 1024, 16 * 1024] {
        let chunks: Vec<&[u8]> = stream.chunks(size).collect();
        group.bench_function(format!("chunks_of_{size}B"), |b| {
            b.iter(|| {
                let deltas = parse_recorded_stream(black_box(&chunks)).unwrap();
                // Who answered, 300 text deltas, 3 calls, the replay, the usage, the stop reason.
                assert_eq!(deltas.len(), 307);
                deltas
            });
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
