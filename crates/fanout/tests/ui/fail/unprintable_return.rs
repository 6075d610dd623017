use fanout::prelude::*;
struct Opaque;
/// Returns something the model cannot read
#[tool]
fn opaque(x: u8) -> Opaque { let _ = x; Opaque }
fn main() {}
