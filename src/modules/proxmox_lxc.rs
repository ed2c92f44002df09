//! proxmox_lxc: an LXC guest on a Proxmox VE node, through the PVE API, from a spec (vmid, node, hostname,
//! template, cores, memory, swap, rootfs, network devices, privileges, features, boot order, tags, devN).
//!
//! It plans from the live config (GET /config, which includes pending values, GET /pending and the guest's
//! status): nothing differs, nothing is planned. Changes go in one PUT guarded by PVE's `digest`; what PVE
//! leaves pending on a running guest is applied by a restart that is reported. What only root@pam may set
//! (devN, features of a privileged guest, features but nesting) goes through a root@pam ticket when a password
//! is given, or through `pct set` as root on the node (the task's host) when it has `pct`; with neither, the
//! plan fails before anything is made. A vmid that holds another guest, an unknown node and refused credentials
//! fail with the guest named. A create that fails half-way is rolled back, or said to be left.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::helpers::pve::{self as api, Api};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::pve::props::{self, canonical, is_indexed, net_matches, net_merge};
use crate::pve::{PveClient, PveError};
use crate::transport::quote::join;

pub struct ProxmoxLxc;

static SPEC: ModuleSpec = ModuleSpec::new(crate::with_pve_api_args![
    ArgSpec::new("vmid", ArgKind::Int).required().help("The guest's id (100 to 999999999)."),
    ArgSpec::new("node", ArgKind::Str).required().help("The node the guest lives on (a name `GET /nodes` lists)."),
    ArgSpec::new("hostname", ArgKind::Str).required().help("The guest's host name; it also tells this guest from another one at the same vmid."),
    ArgSpec::new("state", ArgKind::Str)
        .choices(&["present", "started", "stopped", "restarted", "absent"])
        .default("present")
        .help("present: exists with this config (power state untouched, pending changes of a running guest applied by a restart); started/stopped: also running or not; restarted: restarted (or started) every run; absent: stopped and destroyed."),
    ArgSpec::new("ostemplate", ArgKind::Str).help("Template volume to create it from, e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst (needed to create)."),
    ArgSpec::new("cores", ArgKind::Int).help("CPU cores."),
    ArgSpec::new("memory", ArgKind::Int).help("Memory in MiB."),
    ArgSpec::new("swap", ArgKind::Int).help("Swap in MiB."),
    ArgSpec::new("rootfs", ArgKind::Str).help("Root file system, STORAGE:SIZE_GIB on creation (local-lvm:8); compared by storage and size afterwards."),
    ArgSpec::new("net", ArgKind::Raw).help("Network devices: a list (net0, net1, …) or a mapping of index to property string (name=eth0,bridge=vmbr0,ip=dhcp). Properties not named (hwaddr) are kept; netN not listed are removed."),
    ArgSpec::new("unprivileged", ArgKind::Bool).help("Unprivileged container (PVE's default when creating). Fixed once created: a difference is an error."),
    ArgSpec::new("features", ArgKind::Raw).help("Feature flags, a mapping (nesting: true) or a property string (nesting=1,keyctl=1); exactly these."),
    ArgSpec::new("onboot", ArgKind::Bool).help("Start the guest when the node boots."),
    ArgSpec::new("startup", ArgKind::Raw).help("Boot order and delays, a mapping or a property string (order=3,up=30)."),
    ArgSpec::new("tags", ArgKind::List).help("Tags (compared as a set)."),
    ArgSpec::new("devices", ArgKind::Raw).help("Devices passed through as dev0, dev1, …: property strings (/dev/dri/renderD128,gid=993,mode=0660) or mappings with path, gid, uid, mode, deny_write; exactly these. Only root@pam may set them."),
    ArgSpec::new("nameserver", ArgKind::Str).help("DNS servers for the guest."),
    ArgSpec::new("searchdomain", ArgKind::Str).help("DNS search domain for the guest."),
    ArgSpec::new("password", ArgKind::Str).help("root's password in the guest, on creation only (masked in output)."),
    ArgSpec::new("ssh_public_keys", ArgKind::Str).help("Public keys for root in the guest (authorized_keys text), on creation only."),
    ArgSpec::new("root_route", ArgKind::Str)
        .choices(&["auto", "ticket", "pct"])
        .default("auto")
        .help("How what only root@pam may set is set: a root@pam ticket (api_password), `pct set` over SSH on the node, or auto: the ticket if there is a password, else pct if the node has it."),
    ArgSpec::new("apply_pending", ArgKind::Bool).default("yes").help("Restart a running guest whose changes PVE left pending (reported as a change)."),
    ArgSpec::new("timeout", ArgKind::Int).default("300").help("Seconds to wait for each task (create, start, stop, destroy)."),
])
.required_one_of(&[&["api_token_secret", "api_password"]])
.changes(&["create", "config", "start", "stop", "restart", "remove"]);

/// Options a running container takes at once; the others stay pending until it restarts (pve-container
/// src/PVE/LXC/Config.pm: `$LXC_FASTPLUG_OPTIONS` and `vmconfig_hotplug_pending`).
const FASTPLUG: &[&str] = &["description", "onboot", "startup", "protection", "hostname", "hookscript", "cores", "tags", "lock"];
const HOTPLUG: &[&str] = &["cpulimit", "cpuunits", "memory", "swap"];

/// A guest's config as text values, the way `pct config` shows it (no digest, no raw lxc lines).
type Config = BTreeMap<String, String>;

/// One option that differs: its live value and what it becomes (None: deleted).
#[derive(Clone, Debug, PartialEq)]
struct Delta {
    key: String,
    before: Option<String>,
    after: Option<String>,
}

/// The spec, checked: option values as PVE text, plus what is given on creation only.
#[derive(Clone, Debug)]
struct Spec {
    vmid: u64,
    node: String,
    hostname: String,
    state: String,
    want: Config,
    /// Indexed options given as a whole list (`net`, `dev`): live ones not in `want` are removed.
    exact: Vec<&'static str>,
    ostemplate: Option<String>,
    unprivileged: Option<bool>,
    rootfs: Option<String>,
    password: Option<String>,
    ssh_public_keys: Option<String>,
}

impl Spec {
    fn label(&self) -> String {
        format!("CT {} ({}) on {}", self.vmid, self.hostname, self.node)
    }
}

/// A mapping (`nesting: true`) or property string, as PVE's property string.
fn prop_string(arg: &str, v: &Value) -> Result<String, ModuleError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Object(m) => Ok(m
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                format!("{}={text}", k.replace('_', "-"))
            })
            .collect::<Vec<_>>()
            .join(",")),
        other => Err(ModuleError::Args(format!("{arg} must be a mapping or a property string, not {}", super::args::type_name(other)))),
    }
}

/// A device: a property string, or a mapping with `path` first.
fn device_string(v: &Value) -> Result<String, ModuleError> {
    match v {
        Value::Object(m) => {
            let path = m.get("path").and_then(Value::as_str).ok_or_else(|| ModuleError::Args("a device mapping needs a path".into()))?;
            let mut rest = m.clone();
            rest.remove("path");
            let props = prop_string("devices", &Value::Object(rest))?;
            Ok(if props.is_empty() { path.to_string() } else { format!("{path},{props}") })
        }
        other => prop_string("devices", other),
    }
}

/// Indexed options (`net`, `devices`) from a list or an index → value mapping.
fn indexed(arg: &str, prefix: &str, v: &Value, each: impl Fn(&Value) -> Result<String, ModuleError>) -> Result<Config, ModuleError> {
    let mut out = Config::new();
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                out.insert(format!("{prefix}{i}"), each(item)?);
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                let idx = k.strip_prefix(prefix).unwrap_or(k);
                if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ModuleError::Args(format!("{arg}: '{k}' is not an index (0, 1, … or {prefix}0, {prefix}1, …)")));
                }
                out.insert(format!("{prefix}{idx}"), each(item)?);
            }
        }
        Value::String(s) => {
            out.insert(format!("{prefix}0"), s.clone());
        }
        other => return Err(ModuleError::Args(format!("{arg} must be a list or a mapping, not {}", super::args::type_name(other)))),
    }
    Ok(out)
}

fn spec_of(args: &Args) -> Result<Spec, ModuleError> {
    let vmid = args
        .int("vmid")
        .filter(|v| (100..=999_999_999).contains(v))
        .ok_or_else(|| ModuleError::Args("vmid must be between 100 and 999999999".into()))?;
    let hostname = args.req("hostname")?.to_string();
    let mut want = Config::new();
    want.insert("hostname".into(), hostname.clone());
    for k in ["cores", "memory", "swap"] {
        if let Some(v) = args.int(k) {
            want.insert(k.into(), v.to_string());
        }
    }
    if args.has("onboot") {
        want.insert("onboot".into(), if args.bool("onboot") { "1" } else { "0" }.into());
    }
    for k in ["nameserver", "searchdomain"] {
        if let Some(v) = args.str(k) {
            want.insert(k.into(), v.to_string());
        }
    }
    if let Some(v) = args.get("features") {
        want.insert("features".into(), canonical("features", &prop_string("features", v)?));
    }
    if let Some(v) = args.get("startup") {
        want.insert("startup".into(), canonical("startup", &prop_string("startup", v)?));
    }
    if args.has("tags") {
        want.insert("tags".into(), props::tags_text(&args.list("tags").join(";")));
    }
    let mut exact = Vec::new();
    if let Some(v) = args.get("net") {
        want.extend(indexed("net", "net", v, |i| prop_string("net", i))?);
        exact.push("net");
    }
    if let Some(v) = args.get("devices") {
        want.extend(indexed("devices", "dev", v, device_string)?);
        exact.push("dev");
    }
    for (k, v) in &want {
        if v.contains(['\n', '\r']) {
            return Err(ModuleError::Args(format!("{k} holds a line break")));
        }
    }
    for secret in ["password"] {
        if let Some(s) = args.str(secret) {
            crate::redact::register(s);
        }
    }
    Ok(Spec {
        vmid: vmid as u64,
        node: args.req("node")?.to_string(),
        hostname,
        state: args.req("state")?.to_string(),
        want,
        exact,
        ostemplate: args.str("ostemplate").map(str::to_string),
        unprivileged: args.has("unprivileged").then(|| args.bool("unprivileged")),
        rootfs: args.str("rootfs").map(str::to_string),
        password: args.str("password").map(str::to_string),
        ssh_public_keys: args.str("ssh_public_keys").map(str::to_string),
    })
}

/// What differs between the spec and a live config (pending values included, as GET /config gives them).
fn deltas(spec: &Spec, live: &Config) -> Vec<Delta> {
    let mut out = Vec::new();
    for (k, v) in &spec.want {
        let have = live.get(k);
        // An empty value (features: {}, tags: []) asks for the option to be absent.
        if canonical(k, v).is_empty() {
            if let Some(h) = have {
                out.push(Delta { key: k.clone(), before: Some(h.clone()), after: None });
            }
            continue;
        }
        let same = match have {
            Some(h) if is_indexed(k, "net") => net_matches(v, h),
            Some(h) => canonical(k, v) == canonical(k, h),
            None => false,
        };
        if !same {
            let after = if is_indexed(k, "net") { net_merge(v, have.map(String::as_str)) } else { canonical(k, v) };
            out.push(Delta { key: k.clone(), before: have.cloned(), after: Some(after) });
        }
    }
    for (k, v) in live {
        if spec.exact.iter().any(|p| is_indexed(k, p)) && !spec.want.contains_key(k) {
            out.push(Delta { key: k.clone(), before: Some(v.clone()), after: None });
        }
    }
    out
}

/// Whether PVE lets only root@pam make this change (pve-container src/PVE/LXC.pm check_ct_modify_config_perm:
/// any devN, features of a privileged guest, features but nesting of an unprivileged one).
fn root_only(d: &Delta, unprivileged: bool) -> bool {
    if is_indexed(&d.key, "dev") || d.key == "hookscript" {
        return true;
    }
    if d.key != "features" {
        return false;
    }
    if !unprivileged {
        return true;
    }
    let before = props::Props::parse(d.before.as_deref().unwrap_or_default(), None).pairs;
    let after = props::Props::parse(d.after.as_deref().unwrap_or_default(), None).pairs;
    before
        .keys()
        .chain(after.keys())
        .any(|k| k != "nesting" && before.get(k).map(|v| props::bool_text(v)) != after.get(k).map(|v| props::bool_text(v)))
}

/// Whether a change to a running guest stays pending until it restarts (PVE's hotplug rules).
fn stays_pending(d: &Delta, live: &Config) -> bool {
    let k = d.key.as_str();
    if FASTPLUG.contains(&k) || HOTPLUG.contains(&k) || is_indexed(k, "net") {
        return false;
    }
    // A new device is hot-plugged; a changed or removed one waits.
    !(is_indexed(k, "dev") && d.after.is_some() && !live.contains_key(k))
}

/// How what only root@pam may set is set.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Route {
    /// Everything through the main client (it is root@pam, or nothing root-only is asked for).
    Main,
    /// The root-only part through a root@pam ticket.
    Ticket,
    /// The root-only part through `pct set` on the node (the task's host).
    Pct,
}

/// Where the guest's vmid is in the cluster: (type, node, name).
async fn locate(main: &PveClient, vmid: u64) -> Result<Option<(String, String, String)>, PveError> {
    let list: Value = main.call(hyper::Method::GET, "/cluster/resources", &[("type".into(), "vm".into())]).await?;
    Ok(list.as_array().into_iter().flatten().find(|r| r["vmid"].as_u64() == Some(vmid)).map(|r| {
        let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
        (s("type"), s("node"), s("name"))
    }))
}

/// A config's raw `lxc.*` pairs, as GET /config returns them.
type RawPairs = Vec<(String, String)>;

/// The typed PVE config as text values (proxmox-api's GetOutput, printed back the way PVE writes it).
fn config_text(cfg: &proxmox_api::nodes::node::lxc::vmid::config::GetOutput) -> Result<(Config, String, RawPairs), ModuleError> {
    let v = serde_json::to_value(cfg).map_err(|e| ModuleError::Internal(format!("config: {e}")))?;
    let mut out = Config::new();
    if let Value::Object(m) = v {
        for (k, v) in m {
            if k == "digest" || k == "lxc" {
                continue;
            }
            let text = match v {
                Value::String(s) => s,
                Value::Bool(b) => if b { "1" } else { "0" }.to_string(),
                Value::Null => continue,
                other => other.to_string(),
            };
            out.insert(k, text);
        }
    }
    let raw = cfg.lxc.iter().filter_map(|p| Some((p.first()?.clone(), p.get(1).cloned().unwrap_or_default()))).collect();
    Ok((out, cfg.digest.clone(), raw))
}

/// Typed parameters from a JSON object, so the crate's schema (ranges, enums, formats) checks them first.
fn typed<T: serde::de::DeserializeOwned>(label: &str, what: &str, v: &Value) -> Result<T, ModuleError> {
    serde_json::from_str(&v.to_string()).map_err(|e| ModuleError::Args(format!("{label}: the {what} does not fit the PVE API schema: {e}")))
}

fn lines(cfg: &Config) -> String {
    cfg.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

/// What the guest is now.
#[derive(Clone, Debug, Default)]
struct Live {
    config: Config,
    digest: String,
    raw: RawPairs,
    running: bool,
    /// Options with a pending value or deletion (GET /pending).
    pending: Vec<String>,
}

async fn read_live(c: &PveClient, spec: &Spec) -> Result<Live, PveError> {
    use proxmox_api::nodes::node::lxc::vmid::config::GetParams;
    let ct = proxmox_api::nodes::NodesClient::new(c.clone()).node(&spec.node).lxc().vmid(vmid_of(spec.vmid));
    let cfg = ct.config().get(GetParams::default()).await?;
    let (config, digest, raw) = config_text(&cfg).map_err(|e| PveError::Decode(e.to_string()))?;
    let status: Value = c.call(hyper::Method::GET, &format!("{}/status/current", ct_path(spec)), &[]).await?;
    let pending: Value = c.call(hyper::Method::GET, &format!("{}/pending", ct_path(spec)), &[]).await?;
    let pending = pending
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i.get("pending").is_some_and(|p| !p.is_null()) || i.get("delete").is_some_and(|d| !d.is_null()))
        .filter_map(|i| i["key"].as_str().map(str::to_string))
        .collect();
    Ok(Live { config, digest, raw, running: status["status"].as_str() == Some("running"), pending })
}

fn vmid_of(vmid: u64) -> proxmox_api::types::VmId {
    proxmox_api::types::VmId::try_from(vmid as i128).unwrap_or_else(|_| unreachable!("checked in spec_of"))
}

fn ct_path(spec: &Spec) -> String {
    format!("/nodes/{}/lxc/{}", spec.node, spec.vmid)
}

/// Everything `apply` needs, decided while planning.
struct Found {
    spec: Spec,
    api: Api,
    route: Route,
    live: Option<Live>,
    /// Options to set or delete, split by who may change them.
    main_deltas: Vec<Delta>,
    root_deltas: Vec<Delta>,
    create: bool,
    start: bool,
    stop: bool,
    restart: bool,
    remove: bool,
    apply_pending: bool,
    task_limit: Duration,
}

#[async_trait::async_trait]
impl Module for ProxmoxLxc {
    fn name(&self) -> &'static str {
        "proxmox_lxc"
    }
    fn summary(&self) -> &'static str {
        "Ensure an LXC guest on a Proxmox VE node from a spec, through the PVE API"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Not community.general.proxmox: one guest per task, compared with its live config (check mode and --diff \
         show the planned config); pending changes of a running guest are applied by a reported restart; devN and \
         privileged features go through a root@pam ticket or `pct set` on the node (API tokens never may); raw lxc.* \
         lines are proxmox_lxc_raw's. The task's host is the PVE node (pct runs there). Bind mounts (mpN) are not managed."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let spec = spec_of(args)?;
        let label = spec.label();
        let api = api::connect(args, &label).await?;
        let fail = |e: PveError| api::fail(&label, e);

        // The node must be one of the cluster's.
        let nodes: Vec<proxmox_api::nodes::GetOutputItems> = proxmox_api::nodes::NodesClient::new(api.main.clone()).get().await.map_err(fail)?;
        if !nodes.iter().any(|n| n.node == spec.node) {
            let names: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
            return Err(ModuleError::failed(format!(
                "{label}: node '{}' is not a node of the cluster at {} (nodes: {})",
                spec.node,
                api.main.endpoint().url(),
                names.join(", ")
            ))
            .with("vmid", spec.vmid));
        }
        // The vmid must be free, or hold this guest.
        let exists = match locate(&api.main, spec.vmid).await.map_err(fail)? {
            None => false,
            Some((kind, node, name)) if kind != "lxc" => {
                return Err(ModuleError::failed(format!("{label}: vmid {} is taken by a {kind} guest '{name}' on node {node}", spec.vmid)));
            }
            Some((_, node, _)) if node != spec.node => {
                return Err(ModuleError::failed(format!(
                    "{label}: vmid {} is a container on node {node}, not on {} (hlprov does not migrate guests)",
                    spec.vmid, spec.node
                )));
            }
            Some(_) => true,
        };
        let live = if exists { Some(read_live(&api.main, &spec).await.map_err(fail)?) } else { None };
        if let Some(l) = &live {
            let name = l.config.get("hostname").map(String::as_str).unwrap_or_default();
            if name != spec.hostname {
                return Err(ModuleError::failed(format!(
                    "{label}: vmid {} on {} is a different guest (hostname '{name}'), not '{}': refusing to change it",
                    spec.vmid, spec.node, spec.hostname
                )));
            }
        }

        let mut plan = Plan::unchanged().with("vmid", spec.vmid).with("node", spec.node.clone()).with("hostname", spec.hostname.clone());
        let header = label.clone();
        let apply_pending = args.bool("apply_pending");
        let mut found = Found {
            spec: spec.clone(),
            api,
            route: Route::Main,
            live: live.clone(),
            main_deltas: Vec::new(),
            root_deltas: Vec::new(),
            create: false,
            start: false,
            stop: false,
            restart: false,
            remove: false,
            apply_pending,
            task_limit: Duration::from_secs(args.int("timeout").unwrap_or(300).max(1) as u64),
        };

        if spec.state == "absent" {
            let Some(l) = live else { return Ok(plan.with("status", "absent")) };
            found.remove = true;
            let d = Diff { before_header: header.clone(), after_header: header, before: lines(&l.config), after: "absent\n".into() };
            return Ok(plan.with("status", if l.running { "running" } else { "stopped" }).change(Change::new("remove", d, Step::Module)).keep(found));
        }

        // What would change, and who may change it.
        let (deltas, unprivileged, before_cfg) = match &live {
            None => {
                let Some(t) = &spec.ostemplate else {
                    return Err(ModuleError::failed(format!("{label}: the guest does not exist and no ostemplate was given to create it from")));
                };
                if spec.rootfs.as_deref().is_some_and(|r| props::parse_rootfs(r).is_none()) {
                    return Err(ModuleError::Args(format!("{label}: rootfs must be STORAGE:SIZE_GIB (local-lvm:8) to create the guest")));
                }
                plan = plan.with("ostemplate", t.clone());
                let d = deltas(&spec, &Config::new());
                (d, spec.unprivileged.unwrap_or(true), Config::new())
            }
            Some(l) => {
                let live_unpriv = l.config.get("unprivileged").is_some_and(|v| props::bool_text(v) == "1");
                if let Some(u) = spec.unprivileged.filter(|u| *u != live_unpriv) {
                    return Err(ModuleError::failed(format!(
                        "{label}: the guest is {}, the spec says {}: PVE cannot change that after creation (recreate the guest)",
                        if live_unpriv { "unprivileged" } else { "privileged" },
                        if u { "unprivileged" } else { "privileged" }
                    )));
                }
                if let (Some(want), Some(have)) =
                    (spec.rootfs.as_deref().and_then(props::parse_rootfs), l.config.get("rootfs").and_then(|r| props::parse_rootfs(r)))
                {
                    if want.storage != have.storage || want.size_gib.zip(have.size_gib).is_some_and(|(w, h)| (w - h).abs() > 0.01) {
                        return Err(ModuleError::failed(format!(
                            "{label}: rootfs is {} live, {} in the spec: hlprov does not move or resize a root file system (use `pct resize` or `pct move-volume`)",
                            l.config["rootfs"],
                            spec.rootfs.as_deref().unwrap_or_default()
                        )));
                    }
                }
                if let Some(lock) = l.config.get("lock") {
                    return Err(ModuleError::failed(format!("{label}: the guest is locked ({lock}); try again when PVE has finished")));
                }
                (deltas(&spec, &l.config), live_unpriv, l.config.clone())
            }
        };
        let (root_deltas, main_deltas): (Vec<Delta>, Vec<Delta>) = deltas.iter().cloned().partition(|d| root_only(d, unprivileged));
        if !root_deltas.is_empty() && !found.api.main.is_root_pam() {
            let keys: Vec<&str> = root_deltas.iter().map(|d| d.key.as_str()).collect();
            let want = args.str("root_route").unwrap_or("auto");
            let has_pct = || async {
                match ctx.conn {
                    Some(_) => Ok::<bool, ModuleError>(ctx.read("command -v pct >/dev/null 2>&1").await?.success()),
                    None => Ok(false),
                }
            };
            found.route = match want {
                "ticket" | "auto" if found.api.root.is_some() => Route::Ticket,
                "pct" | "auto" if has_pct().await? => Route::Pct,
                _ => {
                    return Err(ModuleError::failed(format!(
                        "{label}: {} may only be changed by root@pam, and the API credentials are {} (PVE refuses API tokens that): give api_password for root@pam, or run the task on the node where `pct` can set them ({})",
                        keys.join(", "),
                        found.api.main.user(),
                        match want {
                            "ticket" => "root_route is ticket but there is no root@pam password",
                            "pct" => "root_route is pct but `pct` is not on this host",
                            _ => "no root@pam password, and `pct` is not on this host",
                        }
                    ))
                    .with("vmid", spec.vmid)
                    .with("root_only", keys.iter().map(|k| k.to_string()).collect::<Vec<_>>()));
                }
            };
        }
        found.main_deltas = main_deltas;
        found.root_deltas = root_deltas;

        let mut after_cfg = before_cfg.clone();
        for d in &deltas {
            match &d.after {
                Some(v) => after_cfg.insert(d.key.clone(), v.clone()),
                None => after_cfg.remove(&d.key),
            };
        }
        let running = live.as_ref().is_some_and(|l| l.running);
        if live.is_none() {
            found.create = true;
            if let Some(r) = &spec.rootfs {
                after_cfg.insert("rootfs".into(), r.clone());
            }
            if !unprivileged {
                after_cfg.insert("unprivileged".into(), "0".into());
            }
            let d = Diff { before_header: header.clone(), after_header: header.clone(), before: "absent\n".into(), after: lines(&after_cfg) };
            plan = plan.change(Change::new("create", d, Step::Module));
        } else if !deltas.is_empty() {
            let d = Diff { before_header: header.clone(), after_header: header.clone(), before: lines(&before_cfg), after: lines(&after_cfg) };
            plan = plan.change(Change::new("config", d, Step::Module));
        }

        // Power state.
        let mut pending: Vec<String> = live.as_ref().map(|l| l.pending.clone()).unwrap_or_default();
        if running {
            pending.extend(deltas.iter().filter(|d| stays_pending(d, &before_cfg)).map(|d| d.key.clone()));
        }
        pending.sort();
        pending.dedup();
        let status = |s: &str, note: &str| format!("status: {s}{note}\n");
        match (spec.state.as_str(), running) {
            ("started", false) => {
                found.start = true;
                plan = plan.change(Change::new(
                    "start",
                    Diff { before_header: header.clone(), after_header: header.clone(), before: status("stopped", ""), after: status("running", "") },
                    Step::Module,
                ));
            }
            ("stopped", true) => {
                found.stop = true;
                plan = plan.change(Change::new(
                    "stop",
                    Diff { before_header: header.clone(), after_header: header.clone(), before: status("running", ""), after: status("stopped", "") },
                    Step::Module,
                ));
            }
            ("restarted", false) => {
                found.start = true;
                plan = plan.change(Change::new(
                    "start",
                    Diff { before_header: header.clone(), after_header: header.clone(), before: status("stopped", ""), after: status("running", "") },
                    Step::Module,
                ));
            }
            ("restarted", true) => {
                found.restart = true;
                plan = plan.change(Change::new(
                    "restart",
                    Diff {
                        before_header: header.clone(),
                        after_header: header.clone(),
                        before: status("running", ""),
                        after: status("running", " (restarted)"),
                    },
                    Step::Module,
                ));
            }
            (_, true) if apply_pending && !pending.is_empty() => {
                found.restart = true;
                let note = format!(" (pending: {})", pending.join(", "));
                plan = plan.change(Change::new(
                    "restart",
                    Diff {
                        before_header: header.clone(),
                        after_header: header,
                        before: status("running", &note),
                        after: status("running", " (restarted; nothing pending)"),
                    },
                    Step::Module,
                ));
            }
            _ => {}
        }
        let now = match &live {
            None => "absent",
            Some(l) if l.running => "running",
            Some(_) => "stopped",
        };
        plan = plan.with("status", now).with("pending", pending);
        if let Some(l) = &live {
            plan = plan.with("config", json!(l.config)).with("lxc", json!(l.raw));
        }
        if plan.is_empty() {
            return Ok(plan);
        }
        Ok(plan.keep(found))
    }

    async fn apply(&self, ctx: &ApplyCtx<'_>, _args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let f: Found = plan.take_found().ok_or_else(|| ModuleError::Internal("proxmox_lxc: apply without a plan".into()))?;
        let spec = &f.spec;
        let label = spec.label();
        let main = &f.api.main;
        let fail = |e: PveError| api::fail(&label, e).after_change();
        let nodes = proxmox_api::nodes::NodesClient::new(main.clone());
        let ct = nodes.node(&spec.node).lxc().vmid(vmid_of(spec.vmid));
        let mut out = Outcome::from_plan(&plan);
        let mut did: Vec<String> = Vec::new();

        if f.remove {
            let running = f.live.as_ref().is_some_and(|l| l.running);
            if running {
                let upid: String = main.call(hyper::Method::POST, &format!("{}/status/stop", ct_path(spec)), &[]).await.map_err(fail)?;
                main.wait_task(&upid, f.task_limit).await.map_err(fail)?;
            }
            let params = typed(&label, "destroy request", &json!({"purge": 1}))?;
            let upid = ct.delete(params).await.map_err(fail)?;
            main.wait_task(&upid, f.task_limit).await.map_err(fail)?;
            return Ok(out.with("status", "absent").msg(format!("{label} destroyed")));
        }

        if f.create {
            let mut p = Map::new();
            p.insert("vmid".into(), json!(spec.vmid));
            p.insert("ostemplate".into(), json!(spec.ostemplate.clone().unwrap_or_default()));
            for d in f.main_deltas.iter().chain(if f.route == Route::Main { f.root_deltas.iter() } else { [].iter() }) {
                if let Some(v) = &d.after {
                    p.insert(d.key.clone(), json!(v));
                }
            }
            if let Some(r) = &spec.rootfs {
                p.insert("rootfs".into(), json!(r));
            }
            if let Some(u) = spec.unprivileged {
                p.insert("unprivileged".into(), json!(if u { 1 } else { 0 }));
            }
            if let Some(pw) = &spec.password {
                p.insert("password".into(), json!(pw));
            }
            if let Some(k) = &spec.ssh_public_keys {
                p.insert("ssh-public-keys".into(), json!(k));
            }
            let params: proxmox_api::nodes::node::lxc::PostParams = typed(&label, "spec", &Value::Object(p))?;
            let upid = nodes.node(&spec.node).lxc().post(params).await.map_err(|e| api::fail(&label, e))?;
            if let Err(e) = main.wait_task(&upid, f.task_limit).await {
                return Err(create_failed(main, spec, &label, e).await);
            }
            did.push("created".into());
            if f.route != Route::Main && !f.root_deltas.is_empty() {
                if let Err(e) = set_root_only(ctx, &f, None).await {
                    let undo = rollback(main, spec, f.task_limit).await;
                    return Err(ModuleError::failed(format!("{label}: created, but setting {} failed: {e}; {undo}", keys(&f.root_deltas))));
                }
            }
        } else if !f.main_deltas.is_empty() || !f.root_deltas.is_empty() {
            let digest = f.live.as_ref().map(|l| l.digest.clone()).unwrap_or_default();
            let (now, later) = if f.route == Route::Main {
                ([&f.main_deltas[..], &f.root_deltas[..]].concat(), Vec::new())
            } else {
                (f.main_deltas.clone(), f.root_deltas.clone())
            };
            let mut digest = Some(digest);
            if !now.is_empty() {
                put(main, spec, &label, &now, digest.take()).await?;
            }
            if !later.is_empty() {
                set_root_only(ctx, &f, digest)
                    .await
                    .map_err(|e| ModuleError::failed(format!("{label}: setting {} failed: {e}", keys(&later))).after_change())?;
            }
            did.push(format!(
                "configured ({})",
                [&f.main_deltas[..], &f.root_deltas[..]].concat().iter().map(|d| d.key.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }

        // Power state.
        let post = |action: &'static str, params: Vec<(String, String)>| {
            let path = format!("{}/status/{action}", ct_path(spec));
            async move {
                let upid: String = main.call(hyper::Method::POST, &path, &params).await?;
                main.wait_task(&upid, f.task_limit).await
            }
        };
        if f.start {
            post("start", Vec::new()).await.map_err(fail)?;
            did.push("started".into());
        }
        if f.stop {
            let secs = f.task_limit.as_secs().min(120).to_string();
            post("shutdown", vec![("timeout".into(), secs), ("forceStop".into(), "1".into())]).await.map_err(fail)?;
            did.push("stopped".into());
        }
        let mut restarted = false;
        // PVE, not the plan's prediction, says what is pending: a running guest whose config changed is restarted
        // when PVE holds changes back, even where the hotplug rules predicted none (and the restart is reported).
        let was_running = f.live.as_ref().is_some_and(|l| l.running);
        let configured = !f.create && (!f.main_deltas.is_empty() || !f.root_deltas.is_empty());
        if f.restart || (f.apply_pending && was_running && configured && !f.stop) {
            let pending = read_live(main, spec).await.map_err(fail)?.pending;
            if spec.state == "restarted" || (f.apply_pending && !pending.is_empty()) {
                post("reboot", Vec::new()).await.map_err(fail)?;
                restarted = true;
                did.push(if pending.is_empty() { "restarted".into() } else { format!("restarted to apply pending {}", pending.join(", ")) });
            }
        }

        let now = read_live(main, spec).await.map_err(fail)?;
        out = out
            .with("status", if now.running { "running" } else { "stopped" })
            .with("config", json!(now.config))
            .with("lxc", json!(now.raw))
            .with("pending", now.pending.clone())
            .with("restarted", restarted);
        out.changed = true;
        Ok(out.msg(format!("{label}: {}", did.join(", "))))
    }
}

fn keys(ds: &[Delta]) -> String {
    ds.iter().map(|d| d.key.as_str()).collect::<Vec<_>>().join(", ")
}

/// One PUT /config with these changes, guarded by the digest the plan saw.
async fn put(c: &PveClient, spec: &Spec, label: &str, ds: &[Delta], digest: Option<String>) -> Result<(), ModuleError> {
    let mut p = Map::new();
    let mut delete = Vec::new();
    for d in ds {
        match &d.after {
            Some(v) => {
                p.insert(d.key.clone(), json!(v));
            }
            None => delete.push(d.key.clone()),
        }
    }
    if !delete.is_empty() {
        p.insert("delete".into(), json!(delete.join(",")));
    }
    if let Some(dg) = digest.filter(|d| !d.is_empty()) {
        p.insert("digest".into(), json!(dg));
    }
    let params: proxmox_api::nodes::node::lxc::vmid::config::PutParams = typed(label, "spec", &Value::Object(p))?;
    proxmox_api::nodes::NodesClient::new(c.clone())
        .node(&spec.node)
        .lxc()
        .vmid(vmid_of(spec.vmid))
        .config()
        .put(params)
        .await
        .map_err(|e| api::fail(label, e).after_change())
}

/// Set the root-only part: through the root@pam ticket, or `pct set` as root on the node.
async fn set_root_only(ctx: &ApplyCtx<'_>, f: &Found, digest: Option<String>) -> Result<(), String> {
    match f.route {
        Route::Ticket => {
            let root = f.api.root.as_ref().ok_or("no root@pam ticket")?;
            put(root, &f.spec, &f.spec.label(), &f.root_deltas, digest).await.map_err(|e| e.to_string())
        }
        Route::Pct | Route::Main => {
            let mut argv = vec!["pct".to_string(), "set".to_string(), f.spec.vmid.to_string()];
            let mut delete = Vec::new();
            for d in &f.root_deltas {
                match &d.after {
                    Some(v) => argv.extend([format!("--{}", d.key), v.clone()]),
                    None => delete.push(d.key.clone()),
                }
            }
            if !delete.is_empty() {
                argv.extend(["--delete".to_string(), delete.join(",")]);
            }
            let out = ctx.write(&join(&argv), None).await.map_err(|e| e.to_string())?;
            if out.success() { Ok(()) } else { Err(format!("{} (rc={}): {}", join(&argv), out.rc(), out.stderr_text().trim())) }
        }
    }
}

/// A create task failed: say what it left. PVE removes a guest whose create failed; if one is there anyway, say so.
async fn create_failed(c: &PveClient, spec: &Spec, label: &str, e: PveError) -> ModuleError {
    let left = match read_live(c, spec).await {
        Err(m) if m.is_missing_guest() => "nothing was left behind".to_string(),
        Err(m) => format!("whether anything was left behind is unknown ({m})"),
        Ok(l) => format!(
            "CT {} is left on {} (lock: {}): remove it with `pct destroy {}`",
            spec.vmid,
            spec.node,
            l.config.get("lock").map(String::as_str).unwrap_or("none"),
            spec.vmid
        ),
    };
    let upid = match &e {
        PveError::Task { upid, .. } => upid.clone(),
        _ => String::new(),
    };
    ModuleError::failed(format!("{label}: creating it failed: {e}; {left}")).with("left", left).with("upid", upid)
}

/// Undo a create whose second half failed: destroy the new guest, and say how that went.
async fn rollback(c: &PveClient, spec: &Spec, limit: Duration) -> String {
    let path = ct_path(spec);
    let r: Result<String, PveError> = c.call(hyper::Method::DELETE, &path, &[("purge".into(), "1".into())]).await;
    match r {
        Ok(upid) => match c.wait_task(&upid, limit).await {
            Ok(_) => "the new guest was destroyed again: nothing is left".to_string(),
            Err(e) => format!(
                "destroying the new guest failed ({e}): CT {} is left on {}; remove it with `pct destroy {}`",
                spec.vmid, spec.node, spec.vmid
            ),
        },
        Err(e) => {
            format!("destroying the new guest failed ({e}): CT {} is left on {}; remove it with `pct destroy {}`", spec.vmid, spec.node, spec.vmid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: Value) -> Spec {
        let mut m = json!({"vmid": 131, "node": "pve1", "hostname": "w3", "api_url": "https://127.0.0.1:8006", "api_password": "x"});
        m.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        spec_of(&SPEC.check(m.as_object().unwrap(), false).unwrap()).unwrap()
    }

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_live_config_that_matches_the_spec_by_meaning_has_no_delta() {
        let s = spec(json!({"cores": 2, "features": {"nesting": true, "keyctl": true}, "tags": ["k3s", "gpu"], "onboot": true,
            "net": ["name=eth0,bridge=vmbr0,ip=dhcp"], "devices": [{"path": "/dev/dri/renderD128", "gid": 993, "mode": "0660"}]}));
        let live = cfg(&[
            ("hostname", "w3"),
            ("cores", "2"),
            ("features", "keyctl=1,nesting=1"),
            ("tags", "gpu;k3s"),
            ("onboot", "1"),
            ("net0", "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth"),
            ("dev0", "/dev/dri/renderD128,gid=993,mode=0660"),
            ("memory", "512"),
        ]);
        assert_eq!(deltas(&s, &live), vec![]);
    }

    #[test]
    fn listed_devices_and_networks_are_exact_and_keep_the_mac() {
        let s = spec(json!({"net": {"0": "name=eth0,bridge=vmbr1"}, "devices": []}));
        let live = cfg(&[("hostname", "w3"), ("net0", "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,type=veth"), ("dev1", "/dev/kmsg")]);
        let d = deltas(&s, &live);
        assert_eq!(
            d[0],
            Delta {
                key: "net0".into(),
                before: Some(live["net0"].clone()),
                after: Some("name=eth0,bridge=vmbr1,hwaddr=BC:24:11:00:00:01,type=veth".into())
            }
        );
        assert_eq!(d[1], Delta { key: "dev1".into(), before: Some("/dev/kmsg".into()), after: None });
    }

    #[test]
    fn an_empty_value_asks_for_the_option_to_be_absent() {
        let s = spec(json!({"features": {}, "tags": []}));
        let live = cfg(&[("hostname", "w3"), ("features", "nesting=1")]);
        assert_eq!(deltas(&s, &live), vec![Delta { key: "features".into(), before: Some("nesting=1".into()), after: None }]);
        assert_eq!(deltas(&s, &cfg(&[("hostname", "w3")])), vec![]);
    }

    #[test]
    fn root_only_follows_pve_rules() {
        let d = |k: &str, b: Option<&str>, a: Option<&str>| Delta { key: k.into(), before: b.map(Into::into), after: a.map(Into::into) };
        assert!(root_only(&d("dev0", None, Some("/dev/dri/renderD128")), true));
        assert!(root_only(&d("features", None, Some("nesting=1")), false), "privileged: any feature change");
        assert!(!root_only(&d("features", None, Some("nesting=1")), true), "unprivileged: nesting alone is allowed");
        assert!(root_only(&d("features", Some("nesting=1"), Some("keyctl=1,nesting=1")), true));
        assert!(!root_only(&d("cores", Some("1"), Some("2")), false));
    }

    #[test]
    fn pending_follows_pve_hotplug_rules() {
        let live = cfg(&[("dev0", "/dev/x")]);
        let d = |k: &str, a: Option<&str>| Delta { key: k.into(), before: None, after: a.map(Into::into) };
        assert!(!stays_pending(&d("cores", Some("2")), &live));
        assert!(!stays_pending(&d("memory", Some("2048")), &live));
        assert!(stays_pending(&d("features", Some("nesting=1")), &live));
        assert!(!stays_pending(&d("dev1", Some("/dev/y")), &live), "a new device is hot-plugged");
        assert!(stays_pending(&d("dev0", Some("/dev/y")), &live), "a changed device waits");
    }
}
