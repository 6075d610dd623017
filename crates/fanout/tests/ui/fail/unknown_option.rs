use fanout::prelude::*;
/// Typo
#[tool(timeout_secs = 5, exclusiv)]
fn typo(x: u8) -> u8 { x }
fn main() {}
