//! `--junit FILE`: a JUnit XML report (a test suite per play, a test case per task and host) for CI systems.

use std::path::PathBuf;
use std::sync::Mutex;

use super::{Event, Sink, Status, TaskResult};

pub struct Junit {
    path: PathBuf,
    results: Mutex<Vec<TaskResult>>,
}

impl Junit {
    pub fn new(path: PathBuf) -> Junit {
        Junit { path, results: Mutex::new(Vec::new()) }
    }
}

fn esc(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Sink for Junit {
    fn event(&self, e: &Event) {
        if let Event::TaskResult(r) = e {
            if !r.loop_summary || r.item.is_none() {
                self.results.lock().unwrap_or_else(|p| p.into_inner()).push((**r).clone());
            }
        }
    }

    fn finish(&self) {
        let results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        let mut suites: Vec<(String, Vec<&TaskResult>)> = Vec::new();
        for r in results.iter() {
            let suite = r.phase.clone().unwrap_or_else(|| r.play.clone());
            match suites.iter_mut().find(|(n, _)| *n == suite) {
                Some((_, v)) => v.push(r),
                None => suites.push((suite, vec![r])),
            }
        }
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"hlprov\">\n");
        for (suite, cases) in &suites {
            let failures = cases.iter().filter(|c| c.status == Status::Failed).count();
            let errors = cases.iter().filter(|c| c.status == Status::Unreachable).count();
            let skipped = cases.iter().filter(|c| c.status == Status::Skipped).count();
            let time: u64 = cases.iter().map(|c| c.duration_ms).sum();
            xml.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{:.3}\">\n",
                esc(suite),
                cases.len(),
                time as f64 / 1000.0
            ));
            for c in cases {
                let name = match &c.item {
                    Some(i) => format!("[{}] {} (item={})", c.host, c.task, i),
                    None => format!("[{}] {}", c.host, c.task),
                };
                xml.push_str(&format!(
                    "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3}\">",
                    esc(&c.host),
                    esc(&name),
                    esc(&c.location),
                    c.duration_ms as f64 / 1000.0
                ));
                let msg = c.msg.clone().unwrap_or_default();
                match c.status {
                    Status::Failed => xml.push_str(&format!("<failure message=\"{}\">{}</failure>", esc(&msg), esc(&c.result.to_string()))),
                    Status::Unreachable => xml.push_str(&format!("<error message=\"{}\"/>", esc(&msg))),
                    Status::Skipped => xml.push_str("<skipped/>"),
                    _ => {}
                }
                xml.push_str("</testcase>\n");
            }
            xml.push_str("  </testsuite>\n");
        }
        xml.push_str("</testsuites>\n");
        let _ = std::fs::write(&self.path, xml);
    }
}
