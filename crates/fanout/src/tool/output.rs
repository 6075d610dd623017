//! How `#[tool]` turns a function's return value into text for the model: `Display` when the
//! type has it (strings and numbers stay unquoted), JSON through `Serialize` otherwise.
//!
//! This is autoref specialisation: the macro calls `(&&Wrap(value)).__fanout_output()`, and
//! method resolution picks the `Display` impl first when it applies.

use std::fmt::Display;

use serde::Serialize;

use super::ToolError;

#[doc(hidden)]
#[derive(Debug)]
pub struct Wrap<T>(pub T);

#[doc(hidden)]
pub trait ViaDisplay {
    fn __fanout_output(&self) -> Result<String, ToolError>;
}

impl<T: Display> ViaDisplay for &Wrap<T> {
    fn __fanout_output(&self) -> Result<String, ToolError> {
        Ok(self.0.to_string())
    }
}

#[doc(hidden)]
pub trait ViaSerialize {
    fn __fanout_output(&self) -> Result<String, ToolError>;
}

impl<T: Serialize> ViaSerialize for Wrap<T> {
    fn __fanout_output(&self) -> Result<String, ToolError> {
        serde_json::to_string(&self.0)
            .map_err(|e| ToolError::Failed(format!("the result could not be serialized: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::needless_borrow)] // the double borrow is what selects the impl
    use super::*;

    #[derive(Serialize)]
    struct Point {
        x: i32,
    }

    #[test]
    fn display_wins_over_serialize() {
        assert_eq!((&&Wrap("plain")).__fanout_output().unwrap(), "plain");
        assert_eq!((&&Wrap(String::from("s"))).__fanout_output().unwrap(), "s");
        assert_eq!((&&Wrap(1.5_f64)).__fanout_output().unwrap(), "1.5");
        assert_eq!((&&Wrap(Point { x: 3 })).__fanout_output().unwrap(), r#"{"x":3}"#);
        assert_eq!((&&Wrap(vec![1, 2])).__fanout_output().unwrap(), "[1,2]");
    }
}
