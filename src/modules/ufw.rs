//! ufw: Debian's Uncomplicated Firewall: its state (enabled, disabled, reloaded, reset), default policies and
//! rules. A rule is decided as community.general.ufw decides it: `ufw --dry-run RULE` prints the rules files ufw
//! would write, and their `### tuple` lines are compared with the ones on disk. Planning only reads.

use super::{ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Plan, Step};
use crate::transport::quote::{join, quote};

pub struct Ufw;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("state", ArgKind::Str)
        .choices(&["enabled", "disabled", "reloaded", "reset"])
        .help("enabled or disabled: the firewall on or off (with rules loaded at boot); reloaded and reset always act."),
    ArgSpec::new("default", ArgKind::Str).aliases(&["policy"]).choices(&["allow", "deny", "reject"]).help("Default policy for `direction`."),
    ArgSpec::new("direction", ArgKind::Str)
        .choices(&["in", "out", "incoming", "outgoing", "routed"])
        .help("With default: which policy (incoming, outgoing, routed); with rule: the traffic's direction."),
    ArgSpec::new("rule", ArgKind::Str).choices(&["allow", "deny", "limit", "reject"]).help("Add (or with delete, remove) a rule."),
    ArgSpec::new("from_ip", ArgKind::Str).aliases(&["from", "src"]).default("any").help("Source address or network."),
    ArgSpec::new("from_port", ArgKind::Str).help("Source port."),
    ArgSpec::new("to_ip", ArgKind::Str).aliases(&["dest", "to"]).default("any").help("Destination address or network."),
    ArgSpec::new("to_port", ArgKind::Str).aliases(&["port"]).help("Destination port or range (e.g. 2379:2381)."),
    ArgSpec::new("proto", ArgKind::Str).aliases(&["protocol"]).choices(&["any", "tcp", "udp", "ipv6", "esp", "ah", "gre", "igmp"]).help("Protocol."),
    ArgSpec::new("interface", ArgKind::Str).aliases(&["if"]).help("The rule applies to this interface (with direction)."),
    ArgSpec::new("comment", ArgKind::Str).help("A comment stored with the rule."),
    ArgSpec::new("delete", ArgKind::Bool).default("no").help("Remove the rule instead of adding it."),
    ArgSpec::new("insert", ArgKind::Int).help("Put the rule at this position (1 is the first)."),
])
.changes(&["state", "policy", "rule"]);

/// The rules files ufw keeps (Debian's, then the older and distribution-specific places Ansible also reads).
const RULE_FILES: &str = "/etc/ufw/user.rules /etc/ufw/user6.rules /lib/ufw/user.rules /lib/ufw/user6.rules";

/// `ufw ...` arguments of a rule, in the order community.general.ufw writes them.
fn rule_words(args: &Args) -> Result<Vec<String>, ModuleError> {
    let mut w: Vec<String> = Vec::new();
    if args.bool("delete") {
        w.push("delete".into());
    }
    if let Some(n) = args.int("insert") {
        w.extend(["insert".into(), n.to_string()]);
    }
    w.push(args.req("rule")?.to_string());
    if let Some(d) = args.str("direction") {
        match d {
            "in" | "incoming" => w.push("in".into()),
            "out" | "outgoing" => w.push("out".into()),
            other => return Err(ModuleError::Args(format!("direction '{other}' applies only to default policies"))),
        }
    }
    if let Some(i) = args.str("interface") {
        if !args.has("direction") {
            return Err(ModuleError::Args("interface needs direction (in or out)".into()));
        }
        w.extend(["on".into(), i.to_string()]);
    }
    w.extend(["from".into(), args.str("from_ip").unwrap_or("any").to_string()]);
    if let Some(p) = args.str("from_port") {
        w.extend(["port".into(), p.to_string()]);
    }
    w.extend(["to".into(), args.str("to_ip").unwrap_or("any").to_string()]);
    if let Some(p) = args.str("to_port") {
        w.extend(["port".into(), p.to_string()]);
    }
    if let Some(p) = args.str("proto").filter(|p| *p != "any") {
        w.extend(["proto".into(), p.to_string()]);
    }
    if let Some(c) = args.str("comment") {
        w.extend(["comment".into(), c.to_string()]);
    }
    Ok(w)
}

fn tuples(text: &str) -> String {
    text.lines().filter(|l| l.starts_with("### tuple")).map(|l| format!("{}\n", l.trim_start_matches("### tuple ### "))).collect()
}

fn text_diff(header: &str, before: String, after: String) -> Diff {
    Diff { before_header: header.into(), after_header: header.into(), before, after }
}

#[async_trait::async_trait]
impl Module for Ufw {
    fn name(&self) -> &'static str {
        "ufw"
    }
    fn summary(&self) -> &'static str {
        "Turn ufw on or off, set its default policies, add or remove its rules"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Not supported: `route`, `log`, `logging`, `app` (application profiles), `interface_in`/`interface_out`, \
         `insert_relative_to`. reloaded and reset always report a change, as in Ansible."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        if !args.has("state") && !args.has("default") && !args.has("rule") {
            return Err(ModuleError::Args("one of the following is required: state, default, rule".into()));
        }
        let rule = match args.str("rule") {
            Some(_) => Some(rule_words(args)?),
            None => None,
        };
        // One round trip: status, the rules on disk, and what the rule would make them.
        let dry = rule.as_ref().map(|w| format!("ufw --dry-run {}", join(w))).unwrap_or_else(|| "true".into());
        let script = format!(
            "command -v ufw >/dev/null || exit 127; ufw status verbose; echo '--'; grep '^DEFAULT_' /etc/default/ufw; echo '--'; grep -h '^### tuple' {RULE_FILES} 2>/dev/null; echo '--'; {dry}"
        );
        let out = ctx.read(&script).await?;
        if out.rc() == 127 {
            return Err(ModuleError::failed("ufw is not installed (apt install ufw)"));
        }
        let text = out.stdout_text();
        let mut parts = text.splitn(4, "--\n");
        let mut part = || parts.next().unwrap_or("");
        let (status, defaults, current, would) = (part(), part(), part(), part());
        if rule.is_some() && !out.success() {
            return Err(ModuleError::failed(format!("ERROR: {}", out.stderr_text().trim())));
        }
        let active = status.lines().any(|l| l.trim() == "Status: active");
        let mut plan = Plan::unchanged();

        if let Some(words) = rule {
            // ufw prints the rules files only when it would write them; otherwise a line such as "Skipping
            // adding existing rule" or "Could not delete non-existent rule": nothing to do.
            let (before, after) = (tuples(current), tuples(would));
            if would.lines().any(|l| l.trim() == "*filter") && before != after {
                let step = Step::run(format!("ufw {}", join(&words)), format!("ufw {}", words.join(" ")));
                plan = plan.change(Change::new("rule", text_diff("ufw rules", before, after), step));
            }
        }
        if let Some(policy) = args.str("default") {
            let direction = match args.str("direction").unwrap_or("incoming") {
                "in" | "incoming" => "incoming",
                "out" | "outgoing" => "outgoing",
                _ => "routed",
            };
            // /etc/default/ufw holds the policies whether or not the firewall is on (`ufw status` shows them only when on).
            let key = match direction {
                "incoming" => "DEFAULT_INPUT_POLICY=",
                "outgoing" => "DEFAULT_OUTPUT_POLICY=",
                _ => "DEFAULT_FORWARD_POLICY=",
            };
            let now = match defaults.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim_matches('"')) {
                Some("ACCEPT") => "allow",
                Some("DROP") => "deny",
                Some("REJECT") => "reject",
                _ => "unknown",
            }
            .to_string();
            if now != policy {
                let step = Step::run(format!("ufw default {} {direction}", quote(policy)), format!("setting ufw's {direction} policy"));
                let d = text_diff("ufw policy", format!("{direction}: {now}\n"), format!("{direction}: {policy}\n"));
                plan = plan.change(Change::new("policy", d, step));
            }
        }
        if let Some(state) = args.str("state") {
            let now = if active { "enabled" } else { "disabled" };
            let cmd = match state {
                "enabled" if !active => Some("ufw --force enable"),
                "disabled" if active => Some("ufw disable"),
                "reloaded" => Some("ufw reload"),
                "reset" => Some("ufw --force reset"),
                _ => None,
            };
            if let Some(cmd) = cmd {
                let d = text_diff("ufw", format!("status: {now}\n"), format!("status: {state}\n"));
                plan = plan.change(Change::new("state", d, Step::run(cmd, format!("ufw: {state}"))));
            }
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tuples_are_the_rules_ufw_stores() {
        let rules = "### tuple ### allow tcp 6443 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 6443 -j ACCEPT\n";
        assert_eq!(super::tuples(rules), "allow tcp 6443 0.0.0.0/0 any 0.0.0.0/0 in\n");
    }
}
