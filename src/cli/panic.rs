//! The panic hook: a bug must not print a secret. Panic messages (which may hold a value being processed)
//! and backtraces go through the secret registry like every other output, and say that this is a bug.

use std::any::Any;
use std::panic::Location;

/// Replace the default hook with one that redacts. Installed first thing in `cli::main`.
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let backtrace = std::backtrace::Backtrace::capture();
        let mut text = message(info.payload(), info.location());
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            text.push_str(&format!("\n{backtrace}"));
        }
        eprintln!("{}", crate::redact::redact(&text));
    }));
}

/// What the hook prints (before redaction).
pub fn message(payload: &dyn Any, location: Option<&Location<'_>>) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
    let at = location.map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
    format!("hlprov panicked (thread '{thread}'){at}: {what}\nThis is a bug in hlprov; please report it (set RUST_BACKTRACE=1 for a backtrace).")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_redacted() {
        crate::redact::register("panic-canary-7f3a");
        let payload: Box<dyn Any + Send> = Box::new("unexpected value 'panic-canary-7f3a'".to_string());
        let text = message(payload.as_ref(), Some(Location::caller()));
        assert!(text.contains("panic-canary-7f3a") && text.contains("src/cli/panic.rs:"), "{text}");
        let shown = crate::redact::redact(&text);
        assert!(!shown.contains("panic-canary-7f3a") && shown.contains(crate::redact::MASK), "{shown}");
    }
}
