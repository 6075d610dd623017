use fanout::prelude::*;
/// Destructures
#[tool]
fn pattern((a, b): (u8, u8)) -> u8 { a + b }
fn main() {}
