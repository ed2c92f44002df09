//! The keywords hlprov accepts, at play and task level. Anything else in a task is a module name.

/// Keywords of a play.
pub const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "pre_tasks",
    "roles",
    "tasks",
    "post_tasks",
    "handlers",
    "become",
    "become_user",
    "become_method",
    "gather_facts",
    "serial",
    "max_fail_percentage",
    "any_errors_fatal",
    "strategy",
    "tags",
    "environment",
    "check_mode",
    "diff",
    "no_log",
    "ignore_errors",
    "ignore_unreachable",
    "force_handlers",
    "timeout",
    "remote_user",
    "connection",
    "collections",
    "module_defaults",
    "order",
    // hlprov's phase graph
    "phase",
    "requires",
    "verify",
];

/// Keywords of a task or block (everything else is the module).
pub const TASK_KEYWORDS: &[&str] = &[
    "name",
    "when",
    "loop",
    "loop_control",
    "with_items",
    "with_list",
    "with_dict",
    "with_indexed_items",
    "with_fileglob",
    "with_sequence",
    "register",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "until",
    "retries",
    "delay",
    "notify",
    "listen",
    "tags",
    "become",
    "become_user",
    "become_method",
    "delegate_to",
    "delegate_facts",
    "run_once",
    "check_mode",
    "diff",
    "no_log",
    "environment",
    "vars",
    "args",
    "block",
    "rescue",
    "always",
    "any_errors_fatal",
    "timeout",
    "action",
    "local_action",
    "remote_user",
    "connection",
    "collections",
    "module_defaults",
    "throttle",
    "debugger",
    // hlprov: a task that only reads the host runs in check mode too (phase gates)
    "read_only",
];

/// The closest known keyword, for "did you mean" hints.
pub fn suggest(word: &str, known: &[&str]) -> Option<&'static str>
where
{
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        let d = distance(word, k);
        if d <= 2 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| {
        // The keyword lists are static, so this borrow is too.
        let found: &'static str = PLAY_KEYWORDS.iter().chain(TASK_KEYWORDS).find(|x| **x == k).copied().unwrap_or("");
        found
    })
}

fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}
