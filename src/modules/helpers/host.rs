//! What several system modules need to know about a host besides their own state, learned in the same round
//! trip as their probe: whether it is a container (which cannot load kernel modules, set most sysctls or really
//! reboot), whether systemd runs it, which package manager it has. [`Probe`] runs several read-only shell
//! snippets in one exec and hands back each one's output and exit status.

use std::sync::OnceLock;

use crate::modules::{ModuleCtx, ModuleError};

/// A word that scripts print to tell hlprov something apart from their commands' output (`what`: section,
/// skip…). Random per process, so no output can forge it.
pub fn output_marker(what: &str) -> String {
    static TOKEN: OnceLock<u64> = OnceLock::new();
    format!("__hlprov_{what}_{:016x}__", TOKEN.get_or_init(rand::random::<u64>))
}

/// Separates the snippets' outputs.
fn marker() -> String {
    output_marker("section")
}

/// What one snippet printed and how it exited.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Section {
    pub rc: i32,
    pub out: String,
}

impl Section {
    pub fn ok(&self) -> bool {
        self.rc == 0
    }
    pub fn trimmed(&self) -> &str {
        self.out.trim()
    }
}

/// Several read-only snippets, run in one round trip, each in its own subshell (an `exit` ends only its part).
/// Their stdout is split per snippet; stderr is not captured per snippet.
#[derive(Default)]
pub struct Probe {
    snippets: Vec<String>,
}

impl Probe {
    pub fn new() -> Probe {
        Probe::default()
    }

    /// Add a snippet; its index in the result is the order of the calls.
    pub fn add(&mut self, snippet: impl Into<String>) -> usize {
        self.snippets.push(snippet.into());
        self.snippets.len() - 1
    }

    pub fn script(&self) -> String {
        let mut s = String::new();
        for snippet in &self.snippets {
            s.push_str(&format!("( {snippet}\n); {}\n", end_section()));
        }
        s
    }

    /// Run it (allowed in check mode) and split the output.
    pub async fn run(&self, ctx: &ModuleCtx<'_>) -> Result<Vec<Section>, ModuleError> {
        self.run_input(ctx, "", None).await
    }

    /// Run it after `prelude` (shell lines whose variables the snippets see), feeding `stdin` to the prelude.
    pub async fn run_input(&self, ctx: &ModuleCtx<'_>, prelude: &str, stdin: Option<&[u8]>) -> Result<Vec<Section>, ModuleError> {
        let out = ctx.read_input(&format!("{prelude}\n{}", self.script()), stdin).await?;
        let sections = split(&out.stdout_text());
        if sections.len() != self.snippets.len() {
            return Err(ModuleError::failed(format!("inspecting the host failed (rc={}): {}", out.rc(), out.stderr_text().trim())));
        }
        Ok(sections)
    }
}

/// The shell command that ends a section: prints the marker with the previous command's exit status.
pub fn end_section() -> String {
    format!("printf '\\n%s %s\\n' {} $?", marker())
}

/// Split output at the markers [`end_section`] prints.
pub fn split(text: &str) -> Vec<Section> {
    let sep = format!("\n{} ", marker());
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(&sep) {
        let body = &rest[..at];
        let after = &rest[at + sep.len()..];
        let (rc, tail) = after.split_once('\n').unwrap_or((after, ""));
        out.push(Section { rc: rc.trim().parse().unwrap_or(-1), out: body.to_string() });
        rest = tail;
    }
    out
}

/// Prints the container technology the host runs in (`docker`, `lxc`, `podman`, …) or `none`.
pub const CONTAINER_SNIPPET: &str = "if [ -f /.dockerenv ]; then echo docker; \
    elif [ -f /run/.containerenv ]; then echo podman; \
    elif v=$(systemd-detect-virt --container 2>/dev/null) && [ -n \"$v\" ] && [ \"$v\" != none ]; then echo \"$v\"; \
    elif [ -r /proc/1/environ ] && tr '\\0' '\\n' < /proc/1/environ | grep -q '^container='; then tr '\\0' '\\n' < /proc/1/environ | sed -n 's/^container=//p' | head -n 1; \
    else echo none; fi";

/// The container technology from [`CONTAINER_SNIPPET`]'s output, if the host is one.
pub fn container_kind(section: &Section) -> Option<String> {
    let v = section.trimmed();
    if v.is_empty() || v == "none" { None } else { Some(v.to_string()) }
}

/// Succeeds when systemd is the running init (sd_booted's test).
pub const SYSTEMD_SNIPPET: &str = "[ -d /run/systemd/system ]";

/// Prints the package manager found: apt, dnf, yum, zypper, apk, pacman, or unknown.
pub const PKG_MGR_SNIPPET: &str = "for m in apt-get dnf yum zypper apk pacman; do if command -v $m >/dev/null 2>&1; then \
    [ $m = apt-get ] && echo apt || echo $m; exit 0; fi; done; echo unknown";

/// A plain explanation for a container that cannot do something with the kernel.
pub fn container_refusal(what: &str, kind: &str) -> ModuleError {
    ModuleError::Unsupported(format!(
        "{what}: this host is a container ({kind}); it shares its host's kernel and cannot do that from inside. \
         Do it on the machine that runs the container."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> String {
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(script).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn sections_come_back_with_their_status_even_when_a_snippet_exits() {
        let mut p = Probe::new();
        p.add("echo one; echo two");
        p.add("exit 3");
        p.add("printf 'no newline'");
        p.add("echo err >&2; false");
        let got = split(&sh(&p.script()));
        assert_eq!(
            got,
            vec![
                Section { rc: 0, out: "one\ntwo\n".into() },
                Section { rc: 3, out: "".into() },
                Section { rc: 0, out: "no newline".into() },
                Section { rc: 1, out: "".into() },
            ]
        );
    }

    #[test]
    fn container_kind_reads_the_snippet_output() {
        assert_eq!(container_kind(&Section { rc: 0, out: "docker\n".into() }).as_deref(), Some("docker"));
        assert_eq!(container_kind(&Section { rc: 0, out: "none\n".into() }), None);
        // The snippet itself runs under any POSIX shell.
        assert!(!sh(CONTAINER_SNIPPET).trim().is_empty());
    }
}
