//! k8s_secret: put decrypted secrets into a Kubernetes Secret manifest on a host — typically into k3s's
//! auto-deploy folder (/var/lib/rancher/k3s/server/manifests), which k3s applies by itself. With
//! `flux_sops_age` it writes the Secret Flux needs to decrypt the repository's SOPS files in the cluster
//! (namespace flux-system, key age.agekey). Every value is registered as a secret, so no output shows it;
//! only the target file (mode 0600 by default) holds it.

use serde_json::Value;

use super::helpers::remote_file::{self, Want, WriteSpec};
use super::{ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Plan, Step};
use crate::secrets::k8s_secret::{Encoding, SecretManifest, flux_sops_age};

pub struct K8sSecret;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("dest", ArgKind::Path)
        .required()
        .help("Where the manifest goes on the host, e.g. /var/lib/rancher/k3s/server/manifests/app-secret.yaml."),
    ArgSpec::new("name", ArgKind::Str).help("metadata.name of the Secret (required unless flux_sops_age)."),
    ArgSpec::new("namespace", ArgKind::Str).default("default").help("metadata.namespace."),
    ArgSpec::new("type", ArgKind::Str).default("Opaque").help("The Secret's type."),
    ArgSpec::new("data", ArgKind::Dict).help("Keys and their (decrypted) values."),
    ArgSpec::new("encoding", ArgKind::Str).choices(&["data", "stringData"]).default("data").help("data (base64, any bytes) or stringData (text)."),
    ArgSpec::new("labels", ArgKind::Dict).help("metadata.labels."),
    ArgSpec::new("annotations", ArgKind::Dict).help("metadata.annotations."),
    ArgSpec::new("flux_sops_age", ArgKind::Bool)
        .default("no")
        .help("Write Flux's sops-age Secret (flux-system/sops-age, key age.agekey) from age_key."),
    ArgSpec::new("age_key", ArgKind::Str).help("The age identity text (AGE-SECRET-KEY-…), e.g. from a SOPS-encrypted variable or lookup('file', …)."),
    ArgSpec::new("mode", ArgKind::Mode).default("0600").help("File mode of the manifest."),
    ArgSpec::new("owner", ArgKind::Str).help("Owner of the manifest."),
    ArgSpec::new("group", ArgKind::Str).help("Group of the manifest."),
])
.mutually_exclusive(&[&["data", "flux_sops_age"]])
.changes(&["content"]);

fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    match v {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn manifest(args: &Args) -> Result<SecretManifest, ModuleError> {
    if args.bool("flux_sops_age") {
        let key = args.str("age_key").ok_or_else(|| ModuleError::Args("flux_sops_age needs age_key (the AGE-SECRET-KEY-… identity)".into()))?;
        if !key.contains("AGE-SECRET-KEY-") {
            return Err(ModuleError::Args("age_key does not hold an age identity (AGE-SECRET-KEY-…)".into()));
        }
        crate::redact::register(key);
        return Ok(flux_sops_age(key));
    }
    let name = args.str("name").ok_or_else(|| ModuleError::Args("name is required (or use flux_sops_age)".into()))?;
    let entries: Vec<(String, Vec<u8>)> = pairs(args.get("data")).into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
    if entries.is_empty() {
        return Err(ModuleError::Args("data must hold at least one key and value".into()));
    }
    Ok(SecretManifest {
        name: name.to_string(),
        namespace: args.req("namespace")?.to_string(),
        secret_type: Some(args.req("type")?.to_string()),
        labels: pairs(args.get("labels")),
        annotations: pairs(args.get("annotations")),
        encoding: if args.str("encoding") == Some("stringData") { Encoding::StringData } else { Encoding::Data },
        entries,
    })
}

#[async_trait::async_trait]
impl Module for K8sSecret {
    fn name(&self) -> &'static str {
        "k8s_secret"
    }
    fn summary(&self) -> &'static str {
        "Write a Kubernetes Secret manifest from decrypted values (or Flux's sops-age Secret) to a host, values kept out of all output"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "hlprov's own module (Ansible has none like it): it renders the manifest on the controller and writes it atomically; applying it is k3s's job when dest is in its auto-deploy folder."
    }
    fn render(&self, _ctx: &ModuleCtx<'_>, args: &Args) -> Option<Result<Plan, ModuleError>> {
        let render = || -> Result<Plan, ModuleError> {
            let m = manifest(args)?;
            let text = m.render().map_err(ModuleError::Args)?;
            let dest = args.req("dest")?;
            let d = remote_file::content_diff(dest, &remote_file::FileState::default(), text.as_bytes());
            Ok(Plan::unchanged().with("dest", dest).with("name", m.name.clone()).with("namespace", m.namespace.clone()).change(Change::new(
                "content",
                d,
                Step::Module,
            )))
        };
        Some(render())
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let m = manifest(args)?;
        let text = m.render().map_err(ModuleError::Args)?;
        let dest = args.req("dest")?;
        let before =
            remote_file::probe(ctx, dest, Want { content_up_to: if ctx.diff { remote_file::MAX_DIFF_BYTES } else { 0 }, ..Default::default() })
                .await?;
        if before.is_dir() {
            return Err(ModuleError::Args(format!("dest {dest} is a directory; give the manifest's file name")));
        }
        let attrs = remote_file::wanted_attrs(args, before.mode, false)?;
        let same_content = before.sha256.as_deref() == Some(remote_file::sha256_hex(text.as_bytes()).as_str());
        let attrs_changed = !remote_file::attrs_differ(&before, &attrs).is_empty();
        let plan = Plan::unchanged()
            .with("dest", dest)
            .with("name", m.name.clone())
            .with("namespace", m.namespace.clone())
            .with("keys", Value::from(m.entries.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()));
        if same_content && !attrs_changed {
            return Ok(plan);
        }
        let write = WriteSpec {
            attrs,
            create_parents: Some(remote_file::Attrs { mode: Some(0o755), ..Default::default() }),
            ..WriteSpec::new(dest, text.as_bytes(), before.sha256.as_deref())
        };
        Ok(plan.change(Change::new("content", remote_file::content_diff(dest, &before, text.as_bytes()), Step::Write(write))))
    }
}
