//! modprobe: load or unload a kernel module, and keep it loaded at boot (/etc/modules-load.d/NAME.conf) with
//! its parameters (/etc/modprobe.d/NAME.conf). One probe reads whether it is loaded, whether the host is a
//! container, and every file of both folders. A container cannot load or unload modules: that fails with a
//! message saying so, while a module its host already loaded counts as present and persistence files are
//! written for real. Decisions and results follow community.general.modprobe.

use super::helpers::host::{CONTAINER_SNIPPET, Probe, container_kind, container_refusal};
use super::helpers::remote_file::{self, WriteSpec};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::join;

pub struct Modprobe;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().help("The kernel module, e.g. br_netfilter."),
    ArgSpec::new("state", ArgKind::Str).choices(&["present", "absent"]).default("present").help("Loaded (present) or not (absent)."),
    ArgSpec::new("params", ArgKind::Str).default("").help("Module parameters, `key=value` separated by spaces."),
    ArgSpec::new("persistent", ArgKind::Str)
        .choices(&["disabled", "present", "absent"])
        .default("disabled")
        .help("present: load at boot (modules-load.d) with the params (modprobe.d); absent: comment those lines out; disabled: leave boot configuration alone."),
])
.changes(&["load", "unload", "boot config"]);

const MODULES_LOAD: &str = "/etc/modules-load.d";
const MODPROBE_D: &str = "/etc/modprobe.d";

/// A file of one of the two folders.
#[derive(Clone, Debug)]
struct ConfFile {
    path: String,
    text: String,
}

/// `^ *NAME *([#;].*)?$`: the module listed in a modules-load.d file.
fn lists_module(line: &str, name: &str) -> bool {
    let rest = line.trim_start_matches(' ');
    let Some(after) = rest.strip_prefix(name) else { return false };
    let after = after.trim_end_matches('\n').trim_start_matches(' ');
    after.is_empty() || after.starts_with('#') || after.starts_with(';')
}

/// `^options NAME (\w+=\S+) *([#;].*)?$`: one parameter line of a modprobe.d file.
fn option_param(line: &str, name: &str) -> Option<String> {
    let rest = line.trim_end_matches('\n').strip_prefix("options ")?.strip_prefix(name)?.strip_prefix(' ')?;
    let (param, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let (k, v) = param.split_once('=')?;
    let ok = !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_') && !v.is_empty();
    let tail = tail.trim_start_matches(' ');
    (ok && (tail.is_empty() || tail.starts_with('#') || tail.starts_with(';'))).then(|| param.to_string())
}

/// Comment out the lines `matches` selects; None when none does.
fn comment_out(text: &str, matches: impl Fn(&str) -> bool) -> Option<String> {
    let mut changed = false;
    let out: String = text
        .split_inclusive('\n')
        .map(|l| {
            if matches(l) {
                changed = true;
                format!("#{l}")
            } else {
                l.to_string()
            }
        })
        .collect();
    changed.then_some(out)
}

/// Every modprobe.d file with this module's `options` lines commented out (the files that had any).
fn disable_old_params<'a>(files: &'a [ConfFile], name: &str) -> Vec<(String, Option<&'a ConfFile>, String)> {
    files.iter().filter_map(|f| comment_out(&f.text, |l| option_param(l, name).is_some()).map(|t| (f.path.clone(), Some(f), t))).collect()
}

fn parse_files(text: &str) -> Vec<ConfFile> {
    use base64::Engine;
    text.lines()
        .filter_map(|l| {
            let (path, b64) = l.split_once('\t')?;
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
            Some(ConfFile { path: path.to_string(), text: String::from_utf8_lossy(&bytes).into_owned() })
        })
        .collect()
}

#[async_trait::async_trait]
impl Module for Modprobe {
    fn name(&self) -> &'static str {
        "modprobe"
    }
    fn summary(&self) -> &'static str {
        "Load or unload a kernel module, and load it at boot with its parameters"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Inside a container, loading or unloading fails with a message saying the container shares its host's kernel \
         (check mode too, since the real run would fail); a module the host already has loaded counts as present \
         there, and persistence files are still managed. A module counts as loaded when /proc/modules lists it, \
         /sys/module has it, or modules.builtin names it. Commented-out lines keep their line breaks (Ansible's \
         module doubles them)."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let name = args.req("name")?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(ModuleError::Args(format!("'{name}' is not a kernel module name")));
        }
        let params = args.req("params")?;
        let param_words = super::args::shell_words(params).map_err(|e| ModuleError::Args(format!("params: {e}")))?;
        for w in &param_words {
            if !w.contains('=') {
                return Err(ModuleError::Args(format!("params: '{w}' is not key=value")));
            }
        }
        let (state, persistent) = (args.req("state")?, args.req("persistent")?);
        let under = name.replace('-', "_");
        let mut p = Probe::new();
        p.add(format!(
            "grep -q '^{under} ' /proc/modules 2>/dev/null || [ -d /sys/module/{under} ] || grep -q '/{name}\\.ko' /lib/modules/$(uname -r)/modules.builtin 2>/dev/null"
        ));
        p.add(CONTAINER_SNIPPET);
        let list_files =
            |dir: &str| format!("for f in {dir}/*; do [ -f \"$f\" ] && printf '%s\\t%s\\n' \"$f\" \"$(base64 -w0 < \"$f\")\"; done; true");
        p.add(list_files(MODULES_LOAD));
        p.add(list_files(MODPROBE_D));
        let s = p.run(ctx).await?;
        let loaded = s[0].ok();
        let container = container_kind(&s[1]);
        let load_files = parse_files(&s[2].out);
        let option_files = parse_files(&s[3].out);

        let listed = load_files.iter().any(|f| f.text.split_inclusive('\n').any(|l| lists_module(l, name)));
        let set_params: std::collections::BTreeSet<String> =
            option_files.iter().flat_map(|f| f.text.split_inclusive('\n').filter_map(|l| option_param(l, name)).collect::<Vec<_>>()).collect();
        let wanted_params: std::collections::BTreeSet<String> = params.split_whitespace().map(str::to_string).collect();
        let params_set = set_params == wanted_params;

        let mut plan = Plan::unchanged().with("name", name).with("params", params).with("state", state);
        // Loading and unloading: modprobe -n checks the module can be loaded (or unloaded) without doing it.
        let kernel_action = match state {
            "present" if !loaded => Some("load"),
            "absent" if loaded => Some("unload"),
            _ => None,
        };
        if let Some(action) = kernel_action {
            if let Some(kind) = &container {
                return Err(container_refusal(&format!("cannot {action} kernel module '{name}'"), kind));
            }
            let argv = modprobe_argv(action, name, &param_words);
            let dry: Vec<String> =
                std::iter::once(argv[0].clone()).chain(std::iter::once("-n".to_string())).chain(argv[1..].iter().cloned()).collect();
            let out = ctx.read(&join(&dry)).await?;
            if !out.success() {
                return Err(modprobe_failure(&out, name, params, state));
            }
            let d = remote_file::property_diff(
                name,
                &[("kernel module", if loaded { "loaded" } else { "not loaded" }.into())],
                &[("kernel module", if action == "load" { "loaded" } else { "not loaded" }.into())],
            );
            plan = plan.change(Change::new(action, d, Step::Module));
        }

        // Boot-time configuration: (path, new content) for each file to write.
        let mut writes: Vec<(String, Option<&ConfFile>, String)> = Vec::new();
        if persistent == "present" && !(listed && params_set) {
            if !listed {
                let path = format!("{MODULES_LOAD}/{name}.conf");
                writes.push((path.clone(), load_files.iter().find(|f| f.path == path), format!("{name}\n")));
            }
            if !params_set {
                writes.extend(disable_old_params(&option_files, name));
                let path = format!("{MODPROBE_D}/{name}.conf");
                let content: String = params.split_whitespace().map(|p| format!("options {name} {p}\n")).collect::<String>();
                let content = if content.is_empty() { "\n".to_string() } else { content };
                writes.retain(|(p, _, _)| *p != path);
                writes.push((path.clone(), option_files.iter().find(|f| f.path == path), content));
            }
        } else if persistent == "absent" && (listed || !set_params.is_empty()) {
            for f in &load_files {
                if let Some(t) = comment_out(&f.text, |l| lists_module(l, name)) {
                    writes.push((f.path.clone(), Some(f), t));
                }
            }
            writes.extend(disable_old_params(&option_files, name));
        }
        for (path, old, content) in writes {
            let before = remote_file::FileState { exists: old.is_some(), content: old.map(|f| f.text.clone().into_bytes()), ..Default::default() };
            let expect = old.map(|f| remote_file::sha256_hex(f.text.as_bytes()));
            let write =
                WriteSpec { create_parents: Some(remote_file::Attrs::default()), ..WriteSpec::new(&path, content.as_bytes(), expect.as_deref()) };
            plan = plan.change(Change::new("boot config", remote_file::content_diff(&path, &before, content.as_bytes()), Step::Write(write)));
        }
        Ok(plan)
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        let (name, params, state) = (args.req("name")?, args.req("params")?, args.req("state")?);
        let param_words = super::args::shell_words(params).map_err(|e| ModuleError::Args(format!("params: {e}")))?;
        let mut scratch = serde_json::Map::new();
        for c in &plan.changes {
            match c.step {
                Step::Module => {
                    let out = ctx.write(&join(&modprobe_argv(c.kind, name, &param_words)), None).await?;
                    if !out.success() {
                        return Err(modprobe_failure(&out, name, params, state));
                    }
                }
                _ => super::apply_step(ctx, &c.step, &mut scratch).await?,
            }
        }
        Ok(Outcome::from_plan(&plan))
    }
}

/// `modprobe NAME PARAMS…` to load, `modprobe -r NAME` to unload.
fn modprobe_argv(action: &str, name: &str, params: &[String]) -> Vec<String> {
    let mut argv = vec!["modprobe".to_string()];
    if action == "unload" {
        argv.push("-r".into());
        argv.push(name.into());
    } else {
        argv.push(name.into());
        argv.extend(params.iter().cloned());
    }
    argv
}

/// A failed modprobe, reported as Ansible's module reports it.
fn modprobe_failure(out: &crate::transport::Output, name: &str, params: &str, state: &str) -> ModuleError {
    ModuleError::failed(out.stderr_text().trim().to_string())
        .with("rc", out.rc())
        .with("stdout", out.stdout_text())
        .with("stderr", out.stderr_text())
        .with("name", name)
        .with("params", params)
        .with("state", state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_like_the_ansible_regexes() {
        assert!(lists_module("br_netfilter\n", "br_netfilter"));
        assert!(lists_module("  br_netfilter  # for k8s\n", "br_netfilter"));
        assert!(!lists_module("br_netfilter2\n", "br_netfilter"));
        assert!(!lists_module("#br_netfilter\n", "br_netfilter"));
        assert_eq!(option_param("options dummy numdummies=2\n", "dummy").as_deref(), Some("numdummies=2"));
        assert_eq!(option_param("options dummy numdummies=2 # two\n", "dummy").as_deref(), Some("numdummies=2"));
        assert_eq!(option_param("options dummy2 numdummies=2\n", "dummy"), None);
        assert_eq!(option_param("options dummy a=1 b=2\n", "dummy"), None, "one parameter per line, as Ansible writes them");
    }

    #[test]
    fn commenting_out_keeps_line_breaks() {
        assert_eq!(comment_out("a\nb\nc", |l| l.starts_with('b')).unwrap(), "a\n#b\nc");
        assert_eq!(comment_out("a\n", |_| false), None);
    }
}
