//! The keywords hlprov accepts at play, block and task level, each listed once. Anything else in a task is a
//! module name.

use std::sync::LazyLock;

/// Keywords every level takes (play, block, task): how things run, not what runs.
const SHARED: &[&str] = &[
    "name",
    "become",
    "become_user",
    "become_method",
    "environment",
    "vars",
    "tags",
    "ignore_errors",
    "ignore_unreachable",
    "check_mode",
    "diff",
    "no_log",
    "any_errors_fatal",
    "timeout",
    "remote_user",
    "connection",
    "collections",
    "module_defaults",
];

/// A play's own keywords.
const PLAY_OWN: &[&str] = &[
    "hosts",
    "vars_files",
    "pre_tasks",
    "roles",
    "tasks",
    "post_tasks",
    "handlers",
    "gather_facts",
    "serial",
    "max_fail_percentage",
    "strategy",
    "force_handlers",
    "order",
    // Accepted, and changes nothing: hlprov gathers one fixed set of facts in one probe (docs/compat.md).
    "gather_subset",
    "gather_timeout",
    // hlprov's phase graph
    "phase",
    "requires",
    "verify",
];

/// What blocks and tasks take besides the shared keywords.
const BLOCK_AND_TASK: &[&str] = &["when", "notify", "delegate_to", "run_once", "throttle", "debugger"];

/// A block's own keywords.
const BLOCK_OWN: &[&str] = &["block", "rescue", "always"];

/// A task's own keywords.
const TASK_OWN: &[&str] = &[
    "loop",
    "loop_control",
    "with_items",
    "with_list",
    "with_dict",
    "with_indexed_items",
    "with_fileglob",
    "with_sequence",
    "with_first_found",
    "with_together",
    "with_nested",
    "with_cartesian",
    "with_subelements",
    "with_flattened",
    "with_random_choice",
    "with_file",
    "with_lines",
    "with_pipe",
    "with_env",
    "with_template",
    "with_ini",
    "with_csvfile",
    "with_inventory_hostnames",
    "register",
    "changed_when",
    "failed_when",
    "until",
    // a background job polled to its end: run as a task with that time limit (see Task::async_limit)
    "async",
    "poll",
    "retries",
    "delay",
    "listen",
    "delegate_facts",
    "args",
    "action",
    "local_action",
    // hlprov: a task that only reads the host runs in check mode too (phase gates)
    "read_only",
];

/// Ansible keywords hlprov does not have, and why. Using one is a load error that says so (rather than "unknown
/// keyword", or a task "naming several modules").
const LACKING: &[(&str, &str)] = &[
    ("become_exe", "hlprov escalates with sudo only"),
    ("become_flags", "hlprov runs `sudo -H -n` (or `-S` with a become password)"),
    ("fact_path", "hlprov does not read local facts (facts.d)"),
    ("port", "set `ansible_port` in the inventory instead"),
    ("vars_prompt", "hlprov runs unattended; pass the values with `-e` or a vars file"),
];

/// The load error for an Ansible keyword hlprov does not have, if `key` is one.
pub fn lacking(key: &str) -> Option<String> {
    LACKING.iter().find(|(k, _)| *k == key).map(|(k, why)| format!("'{k}' is an Ansible keyword hlprov does not support: {why} (docs/compat.md)"))
}

fn joined(parts: &[&[&'static str]]) -> Vec<&'static str> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

/// Keywords of a play.
pub static PLAY_KEYWORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| joined(&[SHARED, PLAY_OWN]));

/// Keywords of a block.
pub static BLOCK_KEYWORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| joined(&[SHARED, BLOCK_AND_TASK, BLOCK_OWN]));

/// Keywords of a task (everything else is the module); the block's own are here too, so that a block is told
/// apart from a task with a module.
pub static TASK_KEYWORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| joined(&[SHARED, BLOCK_AND_TASK, TASK_OWN, BLOCK_OWN]));

/// The closest known keyword, for "did you mean" hints.
/// Among equally close keywords, the one sharing the most letters in order wins (`taks` → `tasks`, not `tags`).
pub fn suggest(word: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (distance(word, k), std::cmp::Reverse(common_letters(word, k)), *k))
        .filter(|(d, _, _)| *d <= 2)
        .min_by_key(|(d, common, _)| (*d, *common))
        .map(|(_, _, k)| k)
}

/// The length of the longest common subsequence of `a` and `b`.
fn common_letters(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev = vec![0; b.len() + 1];
    for x in &a {
        let mut cur = vec![0; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y { prev[j] + 1 } else { prev[j + 1].max(cur[j]) };
        }
        prev = cur;
    }
    prev[b.len()]
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
