use fanout::prelude::*;
struct S;
impl S {
    /// Uses self
    #[tool]
    fn method(&self, x: u32) -> u32 { x }
}
fn main() {}
