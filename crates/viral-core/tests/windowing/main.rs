//! The windowing engine against the windowing rules (docs/ARCHITECTURE.md): hand-worked
//! examples, and properties checked on random streams against a deliberately naive model
//! of those rules.
//!
//! - `model`: the test's view of a mention, the engine driver, and the naive reference.
//! - `examples`: hand-worked cases of the basic rules.
//! - `hostile`: times and sizes a stranger can send (the past, the future, a month at
//!   once, huge samples) and what they may cost.
//! - `properties`: the engine equals the reference on random streams, chunked and
//!   restored at random points.

mod examples;
mod hostile;
mod model;
mod properties;
