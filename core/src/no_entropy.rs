//! The entropy source registered on `wasm32-unknown-unknown`.
//!
//! The rope's skip list is always seeded explicitly, so nothing ever asks for entropy; but
//! `getrandom` (a dependency of the rope's RNG crate) refuses to build for this target without a
//! source. This one always refuses, and keeps JavaScript bindings out of the core.

fn refuse(_: &mut [u8]) -> Result<(), getrandom::Error> {
    Err(getrandom::Error::UNSUPPORTED)
}

getrandom::register_custom_getrandom!(refuse);
