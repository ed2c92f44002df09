//! proxmox_template: a container template (vztmpl) on a Proxmox VE storage, through the PVE API. Present: nothing
//! to do. Missing: downloaded, from Proxmox's appliance index (`POST /nodes/NODE/aplinfo`, what `pveam download`
//! does) or from a URL (`POST …/storage/STORAGE/download-url`, with a checksum if given), the task followed to its
//! end, and the storage read again to prove the volume is there.

use std::time::Duration;

use serde_json::Value;

use super::helpers::pve as api;
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::pve::{PveClient, PveError};

pub struct ProxmoxTemplate;

static SPEC: ModuleSpec = ModuleSpec::new(crate::with_pve_api_args![
    ArgSpec::new("node", ArgKind::Str).required().help("The node whose storage holds the template."),
    ArgSpec::new("storage", ArgKind::Str).default("local").help("A storage with content type vztmpl."),
    ArgSpec::new("template", ArgKind::Str).required().help("The template's file name, e.g. debian-12-standard_12.7-1_amd64.tar.zst."),
    ArgSpec::new("url", ArgKind::Str).help("Download it from here instead of Proxmox's appliance index."),
    ArgSpec::new("checksum", ArgKind::Str).help("ALGORITHM:HEX (sha256:…) the download must match (with url)."),
    ArgSpec::new("timeout", ArgKind::Int).default("900").help("Seconds to wait for the download task."),
])
.required_one_of(&[&["api_token_secret", "api_password"]])
.changes(&["download"]);

fn volid(storage: &str, template: &str) -> String {
    format!("{storage}:vztmpl/{template}")
}

async fn listed(c: &PveClient, node: &str, storage: &str) -> Result<Vec<String>, PveError> {
    let path = format!("/nodes/{node}/storage/{storage}/content");
    let v: Value = c.call(hyper::Method::GET, &path, &[("content".into(), "vztmpl".into())]).await?;
    Ok(v.as_array().into_iter().flatten().filter_map(|i| i["volid"].as_str().map(str::to_string)).collect())
}

struct Found {
    api: api::Api,
    label: String,
}

#[async_trait::async_trait]
impl Module for ProxmoxTemplate {
    fn name(&self) -> &'static str {
        "proxmox_template"
    }
    fn summary(&self) -> &'static str {
        "Ensure a container template is on a Proxmox VE storage (appliance index or URL), through the PVE API"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Like community.general.proxmox_template with state=present, for container templates only."
    }
    fn needs_host(&self) -> bool {
        false
    }
    async fn plan(&self, _ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let node = args.req("node")?;
        let storage = args.req("storage")?;
        let template = args.req("template")?;
        if template.contains('/') || template.is_empty() {
            return Err(ModuleError::Args(format!("template must be a file name, not '{template}'")));
        }
        if args.has("checksum") && !args.has("url") {
            return Err(ModuleError::Args("checksum goes with url".into()));
        }
        let id = volid(storage, template);
        let label = format!("template {id} on {node}");
        let api = api::connect(args, &label).await?;
        let nodes: Vec<proxmox_api::nodes::GetOutputItems> =
            proxmox_api::nodes::NodesClient::new(api.main.clone()).get().await.map_err(|e| api::fail(&label, e))?;
        if !nodes.iter().any(|n| n.node == node) {
            let names: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
            return Err(ModuleError::failed(format!("{label}: node '{node}' is not a node of the cluster (nodes: {})", names.join(", "))));
        }
        let have = listed(&api.main, node, storage).await.map_err(|e| api::fail(&label, e))?;
        let plan = Plan::unchanged().with("volid", id.clone()).with("node", node).with("storage", storage);
        if have.contains(&id) {
            return Ok(plan);
        }
        let source = args.str("url").map(str::to_string).unwrap_or_else(|| "Proxmox's appliance index (pveam)".into());
        let d = Diff {
            before_header: label.clone(),
            after_header: label.clone(),
            before: "absent\n".into(),
            after: format!("present (downloaded from {source})\n"),
        };
        Ok(plan.change(Change::new("download", d, Step::Module)).keep(Found { api, label }))
    }

    async fn apply(&self, _ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let f: Found = plan.take_found().ok_or_else(|| ModuleError::Internal("proxmox_template: apply without a plan".into()))?;
        let (node, storage, template) = (args.req("node")?, args.req("storage")?, args.req("template")?);
        let fail = |e: PveError| api::fail(&f.label, e).after_change();
        let c = &f.api.main;
        let upid: String = match args.str("url") {
            Some(url) => {
                let mut p = vec![
                    ("content".to_string(), "vztmpl".to_string()),
                    ("filename".to_string(), template.to_string()),
                    ("url".to_string(), url.to_string()),
                ];
                if let Some((algo, sum)) = args.str("checksum").and_then(|c| c.split_once(':')) {
                    p.push(("checksum-algorithm".into(), algo.to_string()));
                    p.push(("checksum".into(), sum.to_string()));
                }
                c.call(hyper::Method::POST, &format!("/nodes/{node}/storage/{storage}/download-url"), &p).await.map_err(fail)?
            }
            None => {
                let p = vec![("storage".to_string(), storage.to_string()), ("template".to_string(), template.to_string())];
                c.call(hyper::Method::POST, &format!("/nodes/{node}/aplinfo"), &p).await.map_err(fail)?
            }
        };
        let limit = Duration::from_secs(args.int("timeout").unwrap_or(900).max(1) as u64);
        c.wait_task(&upid, limit).await.map_err(fail)?;
        let id = volid(storage, template);
        if !listed(c, node, storage).await.map_err(fail)?.contains(&id) {
            return Err(ModuleError::failed(format!("{}: the download task ended OK, but the storage does not list {id}", f.label)).after_change());
        }
        Ok(Outcome::from_plan(&plan).with("upid", upid))
    }
}
