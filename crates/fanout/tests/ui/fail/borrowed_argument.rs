use fanout::prelude::*;
/// Borrows
#[tool]
fn borrowed(count: u32, name: &str) -> String { format!("{name}{count}") }
fn main() {}
