//! The schemas under `schemas/`, compiled with format checking on (`date-time` is
//! checked, not just annotated) and `$ref`s between them resolved from the folder, never
//! from the network.

use std::path::PathBuf;

use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

const BASE: &str = "https://viral.dev/schemas/v1/";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

struct FromFolder;

impl Retrieve for FromFolder {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri
            .as_str()
            .strip_prefix(BASE)
            .ok_or_else(|| format!("{uri} is not one of viral's schemas"))?;
        let text = std::fs::read_to_string(dir().join(name))?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// One compiled schema (`post`, `mention`, `window_count`, `alert`, `sample`).
pub struct Schema {
    name: String,
    validator: Validator,
}

impl Schema {
    pub fn load(name: &str) -> Self {
        let path = dir().join(format!("{name}.schema.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let schema: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .with_retriever(FromFolder)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", path.display()));
        Self {
            name: name.to_owned(),
            validator,
        }
    }

    /// Every violation, as readable lines; empty when the instance is valid.
    pub fn errors(&self, instance: &Value) -> Vec<String> {
        self.validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}: {e}", self.name, e.instance_path()))
            .collect()
    }

    /// Panics with every violation if `instance` does not validate.
    pub fn assert_valid(&self, instance: &Value) {
        let errors = self.errors(instance);
        assert!(errors.is_empty(), "{instance}\n{}", errors.join("\n"));
    }
}
