//! JSON Schema validation of documents: a collection's schema compiled once, and the list
//! of a document's violations for the body of a 422.
//!
//! The draft comes from the schema's `$schema` (2020-12 when absent). References to other
//! files or URLs are never fetched (the `jsonschema` crate is built without its resolvers),
//! so a schema that needs one does not compile; references inside the schema work.

use serde_json::Value;

/// A compiled JSON Schema.
pub struct Schema(jsonschema::Validator);

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schema(..)")
    }
}

/// Why a schema does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid JSON Schema: {0}")]
pub struct Error(String);

/// One way a document breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The JSON Pointer of the offending value in the document (`""`: the whole document).
    pub path: String,
    /// The JSON Pointer of the keyword that failed, in the schema.
    pub schema_path: String,
    pub message: String,
}

impl Schema {
    /// Compiles a schema.
    pub fn compile(schema: &Value) -> Result<Schema, Error> {
        jsonschema::validator_for(schema).map(Schema).map_err(|e| Error(e.to_string()))
    }

    /// Whether the document is valid.
    pub fn is_valid(&self, doc: &Value) -> bool {
        self.0.is_valid(doc)
    }

    /// Up to `max` violations of the document, in the validator's order (none: it is valid).
    pub fn violations(&self, doc: &Value, max: usize) -> Vec<Violation> {
        if self.0.is_valid(doc) {
            return Vec::new();
        }
        self.0
            .iter_errors(doc)
            .take(max)
            .map(|e| Violation {
                path: e.instance_path().as_str().to_owned(),
                schema_path: e.schema_path().as_str().to_owned(),
                message: e.to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn violations_name_their_places() {
        let s = Schema::compile(&json!({
            "type": "object",
            "properties": {"qty": {"type": "integer", "minimum": 1}},
            "required": ["qty"]
        }))
        .unwrap();
        assert!(s.is_valid(&json!({"qty": 2})));
        assert!(s.violations(&json!({"qty": 2}), 10).is_empty());
        let v = s.violations(&json!({"qty": 0}), 10);
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].path.as_str(), v[0].schema_path.as_str()),
            ("/qty", "/properties/qty/minimum")
        );
        assert_eq!(s.violations(&json!([]), 10)[0].path, "");
        assert!(Schema::compile(&json!({"type": 5})).is_err());
    }

    #[test]
    fn remote_references_are_not_fetched() {
        let remote = json!({"$ref": "https://example.com/schema.json"});
        assert!(Schema::compile(&remote).is_err());
    }
}
