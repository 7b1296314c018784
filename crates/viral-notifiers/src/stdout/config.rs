//! Options of the stdout notifier. It has none today: `notifiers.stdout = true` is the whole
//! configuration. The type exists so every notifier has the same shape (a folder with a
//! config), and so a `[notifiers.stdout]` table with a misspelt key is rejected rather than
//! ignored if the configuration grows into one.

use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {}
