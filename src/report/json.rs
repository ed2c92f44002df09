//! `--output json`: one JSON object per line on stdout, for CI.

use std::io::Write;
use std::sync::Mutex;

use super::{Event, Sink};

pub struct JsonLines {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonLines {
    pub fn stdout() -> JsonLines {
        JsonLines { out: Mutex::new(Box::new(std::io::stdout())) }
    }
    pub fn to(w: Box<dyn Write + Send>) -> JsonLines {
        JsonLines { out: Mutex::new(w) }
    }
}

impl Sink for JsonLines {
    fn event(&self, e: &Event) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(line) = serde_json::to_string(e) {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}
