//! A `tools/call` result as text for the model: text as text, structured content as JSON,
//! binary content summarised (never base64 in the model's context), `isError` as an error.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

use crate::tool::{ToolError, ToolResult};

/// What the model reads of `result`.
pub(super) fn to_tool_result(result: CallToolResult) -> ToolResult {
    let mut parts: Vec<String> = result.content.iter().map(describe).collect();
    // Servers are asked to repeat structured content as text, and the text is what they meant
    // the model to read; the JSON is the fallback for servers that send nothing else.
    let has_text = result.content.iter().any(|block| matches!(block, ContentBlock::Text(_)));
    if let (Some(structured), false) = (&result.structured_content, has_text) {
        parts.push(structured.to_string());
    }
    let text = parts.join("\n");
    if result.is_error == Some(true) {
        Err(ToolError::Failed(if text.is_empty() { "the tool reported an error".to_owned() } else { text }))
    } else {
        Ok(text)
    }
}

fn describe(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => binary("image", &image.mime_type, &image.data),
        ContentBlock::Audio(audio) => binary("audio", &audio.mime_type, &audio.data),
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { uri, text, .. } => format!("[resource {uri}]\n{text}"),
            ResourceContents::BlobResourceContents { uri, mime_type, blob, .. } => {
                let kind = format!("resource {uri}");
                binary(&kind, mime_type.as_deref().unwrap_or("application/octet-stream"), blob)
            }
            _ => "[resource of a kind this client does not show]".to_owned(),
        },
        ContentBlock::ResourceLink(link) => {
            let mime = link.mime_type.as_deref().map(|m| format!(", {m}")).unwrap_or_default();
            format!("[resource link {} ({}{mime})]", link.uri, link.name)
        }
        // A content type newer than this client: say so rather than drop it silently.
        _ => "[content of a type this client does not show]".to_owned(),
    }
}

/// `[image image/png, 1234 bytes]`: the size decoded from the base64 length.
fn binary(kind: &str, mime_type: &str, base64: &str) -> String {
    let data = base64.trim_end_matches('=').len();
    format!("[{kind} {mime_type}, {} bytes]", data * 3 / 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ContentBlock as Content;
    use serde_json::json;

    #[test]
    fn text_structured_binary_and_errors() {
        let result =
            CallToolResult::success(vec![Content::text("hello"), Content::image("aGVsbG8=", "image/png")]);
        assert_eq!(to_tool_result(result).unwrap(), "hello\n[image image/png, 5 bytes]");

        let mut result = CallToolResult::success(vec![Content::text("pong")]);
        result.structured_content = Some(json!({"result": "pong"}));
        assert_eq!(to_tool_result(result).unwrap(), "pong", "the text, not both");

        let mut result = CallToolResult::success(Vec::new());
        result.structured_content = Some(json!({"a": 1}));
        assert_eq!(to_tool_result(result).unwrap(), r#"{"a":1}"#);

        let result = CallToolResult::structured(json!({"temperature": 22.5}));
        assert_eq!(to_tool_result(result).unwrap(), r#"{"temperature":22.5}"#);

        let result = CallToolResult::error(vec![Content::text("no such city")]);
        assert_eq!(to_tool_result(result).unwrap_err(), ToolError::Failed("no such city".into()));
    }
}
