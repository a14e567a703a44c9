//! Validates the bot's REST bodies against Discord's official OpenAPI spec
//! (`data/discord-openapi.json` in this crate, or `DISCORD_OPENAPI` when set).
//!
//! Each operation's request schema is compiled once (with the spec's `components` as the root,
//! so `#/components/schemas/...` references resolve) and cached for the test binary's lifetime.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// The spec, loaded once.
struct Spec {
    /// `(path template split into segments, method, request schema)` for every JSON body.
    operations: Vec<(Vec<String>, String, Value)>,
    /// The spec's `components`, the root every reference resolves against.
    components: Value,
    /// Compiled validators by operation index.
    compiled: Mutex<HashMap<usize, Arc<jsonschema::Validator>>>,
}

/// Discord's spec as this crate ships it, built into the binary so a program using the
/// simulator (the bot's sandbox) runs from anywhere.
const BUILT_IN_SPEC: &str = include_str!("../data/discord-openapi.json");

/// The spec's text: `DISCORD_OPENAPI`'s file when set, else the built-in one.
fn spec_text() -> String {
    match std::env::var_os("DISCORD_OPENAPI") {
        Some(path) => std::fs::read_to_string(&path).unwrap_or_else(|err| {
            panic!(
                "cannot read Discord's OpenAPI spec at {}: {err}",
                PathBuf::from(path).display()
            )
        }),
        None => BUILT_IN_SPEC.to_owned(),
    }
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = spec_text();
        let mut doc: Value = serde_json::from_str(&text).expect("openapi.json is JSON");
        let mut components = doc["components"].take();
        accept_string_permissions(&mut components);
        let mut operations = Vec::new();
        if let Some(paths) = doc["paths"].as_object() {
            for (template, item) in paths {
                let segments: Vec<String> = template
                    .trim_start_matches('/')
                    .split('/')
                    .map(str::to_owned)
                    .collect();
                let Some(item) = item.as_object() else {
                    continue;
                };
                for (method, op) in item {
                    if let Some(schema) =
                        op.pointer("/requestBody/content/application~1json/schema")
                    {
                        operations.push((segments.clone(), method.to_uppercase(), schema.clone()));
                    }
                }
            }
        }
        Spec {
            operations,
            components,
            compiled: Mutex::new(HashMap::new()),
        }
    })
}

/// Discord's spec types `default_member_permissions` as an integer in request bodies, while the
/// documentation (and serenity) send a string of digits: accept both.
fn accept_string_permissions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "default_member_permissions" && child.is_object() {
                    let original = child.take();
                    *child = serde_json::json!({
                        "anyOf": [original, {"type": "string", "pattern": "^[0-9]+$"}]
                    });
                } else {
                    accept_string_permissions(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(accept_string_permissions),
        _ => {}
    }
}

/// Finds the operation for `method path` (path after `/api/v10`), preferring literal segments
/// over parameters (`/users/@me/channels` over `/users/{user_id}/...`).
fn find(method: &str, path: &str) -> Option<usize> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut best: Option<(usize, usize)> = None;
    for (index, (template, op_method, _)) in spec().operations.iter().enumerate() {
        if op_method != method || template.len() != segments.len() {
            continue;
        }
        let mut literals = 0;
        let fits = template.iter().zip(&segments).all(|(t, s)| {
            if t.starts_with('{') {
                true
            } else if t == s {
                literals += 1;
                true
            } else {
                false
            }
        });
        if fits && best.is_none_or(|(_, l)| literals > l) {
            best = Some((index, literals));
        }
    }
    best.map(|(index, _)| index)
}

/// Checks a JSON request body. `Err` lists every violation (or says no operation matches).
pub fn validate(method: &str, path: &str, body: &Value) -> Result<(), String> {
    let Some(index) = find(method, path) else {
        return Err(format!(
            "{method} {path}: no such operation with a JSON body in the spec"
        ));
    };
    let validator = {
        let mut compiled = spec().compiled.lock().unwrap_or_else(|p| p.into_inner());
        match compiled.get(&index) {
            Some(v) => v.clone(),
            None => {
                let mut schema = spec().operations[index].2.clone();
                if let Some(map) = schema.as_object_mut() {
                    map.insert("components".into(), spec().components.clone());
                }
                let validator = Arc::new(
                    jsonschema::validator_for(&schema)
                        .map_err(|e| format!("{method} {path}: schema does not compile: {e}"))?,
                );
                compiled.insert(index, validator.clone());
                validator
            }
        }
    };
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("at {}: {}", e.instance_path, e))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{method} {path}: body does not match Discord's OpenAPI spec: {}\nbody: {body}",
            errors.join("; ")
        ))
    }
}
