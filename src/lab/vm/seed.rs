//! A VM's seed: what makes one VM of the shared image a particular lab host — its hostname, its address on the
//! lab's private segment, the lab's /etc/hosts lines, root's authorized key (the lab's key) and the host key
//! the lab's known_hosts already trusts. Files in the VM's folder, handed to QEMU as fw_cfg entries
//! (`opt/org.hlprov/NAME`) and read once, at first boot, by the image's hlprov-seed unit. The image itself holds
//! no key: one image serves every lab, each lab has its own key.

use std::path::Path;

/// fw_cfg names start with `opt/` plus a reverse domain, as QEMU asks of user entries.
pub const FW_CFG_PREFIX: &str = "opt/org.hlprov/";

/// The private segment: host hN gets 10.77.0.(10+N)/24; nothing else is on it (no gateway, no DHCP).
pub const SUBNET_PREFIX: &str = "10.77.0.";
pub const SUBNET_BITS: u8 = 24;
/// Highest host number with an address on the segment.
pub const MAX_HOST_NUMBER: usize = 200;

/// hN's number, for names the lab gives.
pub fn host_number(host: &str) -> Option<usize> {
    host.strip_prefix('h')?.parse().ok().filter(|n| (1..=MAX_HOST_NUMBER).contains(n))
}

/// hN's address on the private segment.
pub fn lab_address(n: usize) -> String {
    format!("{SUBNET_PREFIX}{}", 10 + n)
}

/// hN's MAC on the private segment (locally administered QEMU range, one per host of the lab).
pub fn lab_mac(n: usize) -> String {
    format!("52:54:00:77:00:{:02x}", 10 + n)
}

pub struct Seed {
    pub hostname: String,
    pub hosts: String,
    pub network: String,
    pub authorized_keys: String,
    pub host_key: String,
    pub host_key_pub: String,
}

impl Seed {
    /// (fw_cfg name, contents, file mode)
    fn entries(&self) -> [(&'static str, &str, u32); 6] {
        [
            ("hostname", &self.hostname, 0o644),
            ("hosts", &self.hosts, 0o644),
            ("network", &self.network, 0o644),
            ("authorized_keys", &self.authorized_keys, 0o644),
            ("ssh_host_ed25519_key", &self.host_key, 0o600),
            ("ssh_host_ed25519_key.pub", &self.host_key_pub, 0o644),
        ]
    }

    pub fn write(&self, dir: &Path) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        for (name, text, mode) in self.entries() {
            let path = dir.join(name);
            let _ = std::fs::remove_file(&path);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// QEMU arguments that hand the seed in `dir` to the VM.
pub fn fw_cfg_args(dir: &Path) -> Vec<String> {
    ["hostname", "hosts", "network", "authorized_keys", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"]
        .iter()
        .flat_map(|name| ["-fw_cfg".to_string(), format!("name={FW_CFG_PREFIX}{name},file={}", super::qemu::opt_value(&dir.join(name)))])
        .collect()
}

/// systemd-networkd's file for the private segment's interface (matched by MAC, so names do not matter).
pub fn network_file(mac: &str, address: &str) -> String {
    format!("[Match]\nMACAddress={mac}\n\n[Network]\nAddress={address}/{SUBNET_BITS}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n")
}

/// /etc/hosts lines for the lab's hosts: (name, address).
pub fn hosts_lines(hosts: &[(String, String)]) -> String {
    hosts.iter().map(|(name, address)| format!("{address}\t{name}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_macs_follow_the_host_number() {
        assert_eq!(host_number("h1"), Some(1));
        assert_eq!(host_number("h201"), None);
        assert_eq!(host_number("x1"), None);
        assert_eq!(lab_address(1), "10.77.0.11");
        assert_eq!(lab_mac(1), "52:54:00:77:00:0b");
        assert_eq!(lab_address(200), "10.77.0.210");
        assert!(network_file(&lab_mac(2), &lab_address(2)).contains("MACAddress=52:54:00:77:00:0c\n\n[Network]\nAddress=10.77.0.12/24\n"));
        assert!(!network_file(&lab_mac(2), &lab_address(2)).contains("Gateway"), "the segment leads nowhere");
    }

    #[test]
    fn the_private_host_key_is_written_for_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let seed = Seed {
            hostname: "h1\n".into(),
            hosts: hosts_lines(&[("h1".into(), lab_address(1))]),
            network: network_file(&lab_mac(1), &lab_address(1)),
            authorized_keys: "ssh-ed25519 AAAA lab\n".into(),
            host_key: "PRIVATE".into(),
            host_key_pub: "ssh-ed25519 BBBB root@h1\n".into(),
        };
        seed.write(dir.path()).unwrap();
        seed.write(dir.path()).unwrap();
        let mode = |n: &str| std::fs::metadata(dir.path().join(n)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("ssh_host_ed25519_key"), 0o600);
        assert_eq!(mode("hostname"), 0o644);
        assert_eq!(std::fs::read_to_string(dir.path().join("hosts")).unwrap(), "10.77.0.11\th1\n");
        let args = fw_cfg_args(dir.path());
        assert_eq!(args.len(), 12);
        assert_eq!(args[1], format!("name=opt/org.hlprov/hostname,file={}/hostname", dir.path().display()));
    }
}
