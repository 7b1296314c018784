//! What every viral process shares, whatever stage it runs.
//!
//! # Layout
//!
//! - [`clock`]: wall-clock or accelerated simulation time, one trait for both.

pub mod clock;
