//! logger

/// Install the logger (stub until the printer work lands).
pub fn init() {}
