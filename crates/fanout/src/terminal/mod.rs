//! What the printer and the logger share about the terminal: the live region at the bottom of
//! the screen, and [`inert`], which makes text fanout did not write itself safe to show.

pub(crate) mod ctrl_c;
mod inert;
pub(crate) mod live;

pub use inert::inert;
pub(crate) use inert::inert_line;
