use fanout::prelude::*;
/// Documents a missing argument
///
/// # Arguments
/// * `dealy` - A typo
#[tool]
fn typo(delay: u8) -> u8 { delay }
fn main() {}
