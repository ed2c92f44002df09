//! iptables: one rule in a chain (present or absent), or a built-in chain's policy, as ansible.builtin.iptables
//! manages them. `iptables -C` decides whether the rule is there; the rule is built in the module's order, so
//! the same task always means the same rule. Planning only reads.

use super::{ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Plan, Step};
use crate::transport::quote::join;

pub struct Iptables;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("table", ArgKind::Str).choices(&["filter", "nat", "mangle", "raw", "security"]).default("filter").help("The table."),
    ArgSpec::new("chain", ArgKind::Str).help("The chain (INPUT, FORWARD, a user chain …)."),
    ArgSpec::new("state", ArgKind::Str).choices(&["present", "absent"]).default("present").help("Whether the rule should be in the chain."),
    ArgSpec::new("action", ArgKind::Str).choices(&["append", "insert"]).default("append").help("Where a new rule goes: the end, or the top."),
    ArgSpec::new("rule_num", ArgKind::Int).help("With insert: the position."),
    ArgSpec::new("ip_version", ArgKind::Str).choices(&["ipv4", "ipv6"]).default("ipv4").help("iptables or ip6tables."),
    ArgSpec::new("protocol", ArgKind::Str).help("-p: tcp, udp, icmp, all …"),
    ArgSpec::new("source", ArgKind::Str).help("-s: source address or network."),
    ArgSpec::new("destination", ArgKind::Str).help("-d: destination address or network."),
    ArgSpec::new("match", ArgKind::List).help("-m: match extensions, in order."),
    ArgSpec::new("jump", ArgKind::Str).help("-j: the target (ACCEPT, DROP, a chain …)."),
    ArgSpec::new("in_interface", ArgKind::Str).help("-i: the incoming interface."),
    ArgSpec::new("out_interface", ArgKind::Str).help("-o: the outgoing interface."),
    ArgSpec::new("source_port", ArgKind::Str).help("--source-port (needs protocol tcp or udp)."),
    ArgSpec::new("destination_port", ArgKind::Str).help("--destination-port (needs protocol tcp or udp)."),
    ArgSpec::new("ctstate", ArgKind::List).help("Connection states (-m conntrack --ctstate), e.g. [ESTABLISHED, RELATED]."),
    ArgSpec::new("comment", ArgKind::Str).help("-m comment --comment."),
    ArgSpec::new("policy", ArgKind::Str).choices(&["ACCEPT", "DROP", "QUEUE", "RETURN"]).help("Set the chain's policy instead of a rule."),
])
.changes(&["rule", "policy"]);

/// The rule's arguments, in ansible.builtin.iptables's order.
pub fn rule(args: &Args) -> Vec<String> {
    let mut r: Vec<String> = Vec::new();
    let param = |flag: &str, key: &str, r: &mut Vec<String>| {
        if let Some(v) = args.str(key) {
            r.extend([flag.to_string(), v.to_string()]);
        }
    };
    param("-p", "protocol", &mut r);
    param("-s", "source", &mut r);
    param("-d", "destination", &mut r);
    for m in args.list("match") {
        r.extend(["-m".into(), m]);
    }
    param("-j", "jump", &mut r);
    param("-i", "in_interface", &mut r);
    param("-o", "out_interface", &mut r);
    param("--source-port", "source_port", &mut r);
    param("--destination-port", "destination_port", &mut r);
    let states = args.list("ctstate");
    if !states.is_empty() {
        r.extend(["-m".into(), "conntrack".into(), "--ctstate".into(), states.join(",")]);
    }
    if let Some(c) = args.str("comment") {
        r.extend(["-m".into(), "comment".into(), "--comment".into(), c.to_string()]);
    }
    r
}

fn diff(header: &str, before: String, after: String) -> Diff {
    Diff { before_header: header.into(), after_header: header.into(), before, after }
}

#[async_trait::async_trait]
impl Module for Iptables {
    fn name(&self) -> &'static str {
        "iptables"
    }
    fn summary(&self) -> &'static str {
        "Add or remove one iptables rule, or set a chain's policy"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "A subset: the arguments listed (not tcp_flags, set_dscp_mark, log_prefix, to_ports, uid_owner, flush, \
         chain_management, numeric, wait …). Rules are not saved across reboots, as in Ansible (use iptables-persistent)."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let bin = if args.req("ip_version")? == "ipv6" { "ip6tables" } else { "iptables" };
        let table = args.req("table")?;
        let Some(chain) = args.str("chain") else {
            return Err(ModuleError::Args("chain is required".into()));
        };
        let head = |op: &str| join(&[bin, "-t", table, op, chain]);
        let mut plan = Plan::unchanged().with("table", table).with("chain", chain).with("ip_version", args.req("ip_version")?);
        if let Some(policy) = args.str("policy") {
            let out = ctx.read(&format!("{} 2>&1 | head -n1", join(&[bin, "-t", table, "-L", chain, "-n"]))).await?;
            let text = out.stdout_text();
            let Some(now) = text.split("(policy ").nth(1).and_then(|p| p.split(&[' ', ')'][..]).next()).map(str::to_string) else {
                return Err(ModuleError::failed(format!("cannot read the policy of chain {chain}: {}", text.trim())));
            };
            if now != policy {
                let step = Step::run(format!("{} {}", head("-P"), policy), format!("setting {chain}'s policy"));
                plan = plan.change(Change::new(
                    "policy",
                    diff(&format!("{table} {chain}"), format!("policy {now}\n"), format!("policy {policy}\n")),
                    step,
                ));
            }
            return Ok(plan.with("policy", policy));
        }
        let r = join(&rule(args));
        let out = ctx.read(&format!("{} {r}", head("-C"))).await?;
        let present = match out.rc() {
            0 => true,
            1 => false,
            127 => return Err(ModuleError::failed(format!("{bin} is not installed"))),
            _ => return Err(ModuleError::failed(out.stderr_text().trim().to_string())),
        };
        let line = format!("-A {chain} {}\n", rule(args).join(" "));
        let header = format!("{table} {chain}");
        match (args.req("state")?, present) {
            ("present", false) => {
                let op = match (args.req("action")?, args.int("rule_num")) {
                    ("insert", Some(n)) => format!("{} {n}", head("-I")),
                    ("insert", None) => head("-I"),
                    _ => head("-A"),
                };
                plan = plan.change(Change::new("rule", diff(&header, String::new(), line), Step::run(format!("{op} {r}"), "adding the rule")));
            }
            ("absent", true) => {
                plan = plan.change(Change::new(
                    "rule",
                    diff(&header, line, String::new()),
                    Step::run(format!("{} {r}", head("-D")), "removing the rule"),
                ));
            }
            _ => {}
        }
        Ok(plan.with("rule", rule(args).join(" ")).with("state", args.req("state")?))
    }
}
