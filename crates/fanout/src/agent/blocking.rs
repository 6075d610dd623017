//! The runtime behind the blocking API: one multi-threaded tokio runtime, made on first use.

use std::future::Future;
use std::sync::OnceLock;

use crate::error::{Error, Result};

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// Run `future` to completion on fanout's own runtime.
pub(super) fn block_on<F: Future>(future: F) -> Result<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::config(
            "a blocking fanout call was made inside an async runtime; use the async method and `.await` it",
        ));
    }
    let runtime = match RUNTIME.get() {
        Some(runtime) => runtime,
        None => {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("fanout").build()?;
            // If another thread won the race, its runtime is used and this one is dropped.
            let _ = RUNTIME.set(runtime);
            RUNTIME.get().ok_or_else(|| Error::config("fanout's runtime could not be kept"))?
        }
    };
    Ok(runtime.block_on(future))
}
