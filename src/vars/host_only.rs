//! Values only a host can tell. `hlprov render` runs with no host: what a task that needs one would have
//! registered is stored as `{"__hlprov_host_only__": true}`, and a template that reads it (even under
//! `default()`, which would otherwise hide the gap) stops with "known only on a host", so the task reports
//! "needs a host" instead of deciding from a made-up value.

use serde_json::{Map, Value};

pub const HOST_ONLY_KEY: &str = "__hlprov_host_only__";

/// The stand-in for a value only a host can tell.
pub fn marker() -> Value {
    let mut m = Map::new();
    m.insert(HOST_ONLY_KEY.to_string(), Value::Bool(true));
    Value::Object(m)
}

pub fn is_marker(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.len() == 1 && m.contains_key(HOST_ONLY_KEY))
}
