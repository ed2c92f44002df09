//! The one list of modules. Adding a module: a new file in src/modules/ and one line here.

use super::Module;

static MODULES: &[&dyn Module] = &[
    &super::commands::Command,
    &super::commands::Shell,
    &super::commands::Raw,
    &super::commands::Script,
    &super::ping::Ping,
    &super::flow::Debug,
    &super::flow::Assert,
    &super::flow::Fail,
    &super::setup::Setup,
    &super::package_facts::PackageFacts,
    &super::service_facts::ServiceFacts,
    &super::pause::Pause,
    &super::async_status::AsyncStatus,
    &super::file::File,
    &super::copy::Copy,
    &super::assemble::Assemble,
    &super::template::Template,
    &super::fetch::Fetch,
    &super::stat::Stat,
    &super::find::Find,
    &super::getent::Getent,
    &super::tempfile::Tempfile,
    &super::slurp::Slurp,
    &super::lineinfile::LineInFile,
    &super::blockinfile::BlockInFile,
    &super::replace::Replace,
    &super::k8s_secret::K8sSecret,
    &super::k8s::K8s,
    &super::k8s::K8sInfo,
    &super::k8s::K8sApp,
    &super::apt::Apt,
    &super::apt_repository::AptRepository,
    &super::deb822_repository::Deb822Repository,
    &super::package::Package,
    &super::dpkg_selections::DpkgSelections,
    &super::systemd::Systemd("systemd"),
    &super::systemd::Systemd("systemd_service"),
    &super::service::Service,
    &super::reboot::Reboot,
    &super::user::User,
    &super::group::Group,
    &super::authorized_key::AuthorizedKey,
    &super::known_hosts::KnownHosts,
    &super::hostname::Hostname,
    &super::timezone::Timezone,
    &super::cron::Cron,
    &super::debconf::Debconf,
    &super::sysctl::Sysctl,
    &super::modprobe::Modprobe,
    &super::alternatives::Alternatives,
    &super::ufw::Ufw,
    &super::iptables::Iptables,
    &super::mount::Mount,
    &super::get_url::GetUrl,
    &super::uri::Uri,
    &super::wait_for::WaitFor,
    &super::wait_for_connection::WaitForConnection,
    &super::unarchive::Unarchive,
    &super::git::Git,
    &super::proxmox_lxc::ProxmoxLxc,
    &super::proxmox_lxc_raw::ProxmoxLxcRaw,
    &super::proxmox_template::ProxmoxTemplate,
];

/// Collection prefixes Ansible users write; hlprov's modules answer to them too.
const PREFIXES: &[&str] = &["ansible.builtin.", "ansible.legacy.", "ansible.posix.", "community.general."];

/// The name without a collection prefix (`ansible.builtin.copy` → `copy`).
pub fn short_name(name: &str) -> &str {
    PREFIXES.iter().find_map(|p| name.strip_prefix(p)).unwrap_or(name)
}

/// Find a module by name (`copy`, `ansible.builtin.copy`, …).
pub fn find(name: &str) -> Option<&'static dyn Module> {
    let short = short_name(name);
    MODULES.iter().copied().find(|m| m.name() == short)
}

/// Every module, in registration order.
pub fn all() -> &'static [&'static dyn Module] {
    MODULES
}
