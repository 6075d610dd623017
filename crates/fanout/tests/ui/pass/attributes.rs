//! Attributes on a `#[tool]` function stay where they belong: function-only ones on the
//! function, `#[cfg]` on everything generated, lints and docs on both.
#![deny(warnings)]

use fanout::prelude::*;

/// Add two numbers
#[tool]
#[inline]
#[must_use]
#[allow(clippy::needless_pass_by_value)]
#[tracing::instrument(level = "debug")]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Only on Linux
#[tool]
#[cfg(target_os = "linux")]
async fn linux_only(path: String) -> String {
    path
}

/// Never compiled: a tool configured out disappears whole
#[tool]
#[cfg(any())]
fn gone(x: u8) -> u8 {
    x
}

/// Old
#[tool]
#[deprecated = "use add"]
#[allow(deprecated)]
fn old_add(a: i64) -> i64 {
    a
}

fn main() {
    assert_eq!(add::func(2, 3), 5);
    let _ = add.definition();
    #[cfg(target_os = "linux")]
    let _ = linux_only.definition();
    #[allow(deprecated)]
    let _ = old_add;
}
