//! The session store conformance suite on fanout's `MemoryStore`: the reference the SQL
//! backends are held to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use fanout::store::MemoryStore;
use support::Fixture;

async fn fixture() -> Option<Fixture> {
    Some(Fixture::new(Arc::new(MemoryStore::new()), ()))
}

crate::conformance!(fixture);
