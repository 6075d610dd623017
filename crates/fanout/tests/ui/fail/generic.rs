use fanout::prelude::*;
/// Generic
#[tool]
fn generic<T: std::fmt::Display>(x: T) -> String { x.to_string() }
fn main() {}
