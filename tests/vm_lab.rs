//! `hlprov lab --driver vm` end to end, on real QEMU VMs (KVM when it works, else TCG): each VM runs its own
//! kernel, the VMs reach each other over the lab's private segment, the machine's network sees none of that
//! traffic, and `lab down` leaves nothing behind — also after `lab up` was interrupted or killed.
//!
//! Everything is read independently of hlprov: inside the VMs with OpenSSH's `ssh`, on the machine from /proc,
//! `ip` and a packet socket that sees every frame on every interface (needs root, as CI runs).

mod vm_support;

use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vm_support::{VmLab, hlprov, processes_mentioning, text};

/// The machine's network configuration as `ip` shows it. Docker's own devices (veth*, br-*, docker0) come and go
/// with the container tests that may run meanwhile; they are left out, and none of them is the lab's.
#[derive(Debug, PartialEq, Eq)]
struct MachineNetwork {
    links: BTreeSet<String>,
    addresses: BTreeSet<String>,
    routes: BTreeSet<String>,
    namespaces: BTreeSet<String>,
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip (apt-get install iproute2)");
    assert!(out.status.success(), "ip {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn machine_network() -> MachineNetwork {
    let docker = |l: &str| ["veth", "br-", "docker0"].iter().any(|d| l.contains(d));
    let lines = |s: String| s.lines().filter(|l| !docker(l)).map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<BTreeSet<_>>();
    let links = ip(&["-o", "link", "show"]).lines().filter_map(|l| l.split(": ").nth(1)).filter(|n| !docker(n)).map(String::from).collect();
    let addresses = lines(ip(&["-o", "addr", "show"])).into_iter().map(|l| l.split(" valid_lft").next().unwrap_or(&l).to_string()).collect();
    MachineNetwork { links, addresses, routes: lines(ip(&["-o", "route", "show", "table", "all"])), namespaces: lines(ip(&["netns", "list"])) }
}

/// Counts frames on every interface of the machine (an AF_PACKET socket for all protocols) until stopped.
struct Sniffer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<SniffCount>,
}

#[derive(Debug, Default)]
struct SniffCount {
    frames: u64,
    /// Frames holding an IPv4 header from one lab address to another, anywhere in them (a segment tunnelled over
    /// UDP on loopback would carry it as payload, so it would be counted too).
    lab_traffic: u64,
    /// The same, in the test's own control datagram (it carries the nonce): proof that such frames are seen.
    control: u64,
    /// Loopback IPv4 frames (127.0.0.1 to 127.0.0.1): the SSH connections to the VMs' forwarded ports.
    loopback: u64,
}

fn sniff(lab_pairs: Vec<[u8; 8]>, nonce: [u8; 16]) -> Sniffer {
    // SAFETY: plain socket calls on a descriptor this function owns; buffers are sized and checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, (libc::ETH_P_ALL as u16).to_be() as i32) };
    assert!(fd >= 0, "a packet socket needs root (CAP_NET_RAW), as CI runs: {}", std::io::Error::last_os_error());
    let timeout = libc::timeval { tv_sec: 0, tv_usec: 200_000 };
    let size = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout as *const _ as *const libc::c_void, size) };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut count = SniffCount::default();
        let mut buf = vec![0u8; 65536];
        let loopback: [u8; 8] = [127, 0, 0, 1, 127, 0, 0, 1];
        while !flag.load(Ordering::Relaxed) {
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
            if n <= 0 {
                continue;
            }
            let frame = &buf[..n as usize];
            count.frames += 1;
            if lab_pairs.iter().any(|p| frame.windows(8).any(|w| w == p)) {
                if frame.windows(16).any(|w| w == nonce) {
                    count.control += 1;
                } else {
                    count.lab_traffic += 1;
                }
            }
            if frame.windows(8).any(|w| w == loopback) {
                count.loopback += 1;
            }
        }
        unsafe { libc::close(fd) };
        count
    });
    Sniffer { stop, thread }
}

impl Sniffer {
    fn finish(self) -> SniffCount {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// The local addresses of the listening TCP sockets that process `pid` holds (from /proc/net/tcp and tcp6).
fn listening_addresses(pid: u32) -> Vec<String> {
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|t| t.to_str().and_then(|t| t.strip_prefix("socket:[")).map(|i| i.trim_end_matches(']').to_string()))
        .collect();
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table).unwrap().lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is hex (address:port), st 0A is LISTEN, the inode is the tenth field.
            if f.len() > 9 && f[3] == "0A" && inodes.contains(f[9]) {
                found.push(f[1].to_string());
            }
        }
    }
    found
}

fn host_boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap().trim().to_string()
}

/// The lab's QEMUs and switch (not, say, a `qemu-img create` that `up` runs on the way).
fn pids_of(lab_dir: &std::path::Path) -> Vec<u32> {
    processes_mentioning(&lab_dir.display().to_string())
        .iter()
        .filter(|p| p.contains("qemu-system-") || p.contains(" lab switch "))
        .map(|p| p.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn two_vms_run_their_own_kernels_talk_on_a_private_segment_and_leave_nothing_behind() {
    let before = machine_network();
    let vgem_on_machine = std::path::Path::new("/sys/module/vgem").exists();
    let lab = VmLab::up(2);
    let up = text(&lab.up);
    assert!(up.contains("accelerator tcg (") || up.contains("accelerator kvm ("), "lab up says which accelerator it uses: {up}");
    let lab_dir = lab.lab_dir();

    // Each VM is a VM, with a kernel of its own: its own boot id, it loads modules the machine has not loaded.
    let mut boot_ids = vec![host_boot_id()];
    for h in ["h1", "h2"] {
        let virt = lab.sh(h, "systemd-detect-virt");
        assert!(["qemu", "kvm"].contains(&virt.trim()), "{h}: {virt}");
        assert_ne!(lab.ssh(h, "systemd-detect-virt --container").0, 0, "{h} is not a container");
        assert_eq!(lab.sh(h, "hostname").trim(), h);
        let boot_id = lab.sh(h, "cat /proc/sys/kernel/random/boot_id").trim().to_string();
        assert!(!boot_ids.contains(&boot_id), "{h} shares a kernel: boot id {boot_id} in {boot_ids:?}");
        boot_ids.push(boot_id);
        lab.sh(h, "modprobe vgem && test -c /dev/dri/card0 && test -d /sys/module/vgem");
        assert_eq!(lab.sh(h, "cat /proc/1/comm").trim(), "systemd");
    }
    assert_eq!(std::path::Path::new("/sys/module/vgem").exists(), vgem_on_machine, "the VM's modprobe did not touch the machine's kernel");

    // The private segment: addresses from the inventory, the route is the lab NIC, and it carries ping and TCP.
    let inventory = std::fs::read_to_string(&lab.inventory).unwrap();
    assert!(inventory.contains("lab_address: 10.77.0.11") && inventory.contains("lab_address: 10.77.0.12"), "{inventory}");
    assert!(lab.sh("h1", "ip -o route get 10.77.0.12").contains("dev eth1"));
    let rx_before: u64 = lab.sh("h2", "cat /sys/class/net/eth1/statistics/rx_packets").trim().parse().unwrap();
    let addr = |last: u8| [10, 77, 0, last];
    let pairs: Vec<[u8; 8]> = [(11, 12), (12, 11)].iter().map(|(a, b)| [addr(*a), addr(*b)].concat().try_into().unwrap()).collect();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let nonce: [u8; 16] = format!("hlprov-ctl{nanos:06x}").as_bytes()[..16].try_into().unwrap();
    let sniffer = sniff(pairs.clone(), nonce);
    let ping = lab.sh("h1", "ping -c 50 -i 0.05 -s 1000 -W 5 10.77.0.12");
    assert!(ping.contains("50 packets transmitted, 50 received"), "{ping}");
    assert!(lab.sh("h2", "ping -c 5 -W 5 h1").contains("5 received"), "h2 reaches h1 by name");
    let banner = lab.sh("h1", "timeout 20 bash -c 'exec 3<>/dev/tcp/10.77.0.12/22; head -c 7 <&3'");
    assert_eq!(banner, "SSH-2.0", "TCP from h1 to h2's sshd over the segment");
    // The control: a datagram to itself on the machine's loopback that carries h1 -> h2's IPv4 addresses.
    let control = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    control.send_to(&[pairs[0].as_slice(), &nonce].concat(), control.local_addr().unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let seen = sniffer.finish();
    eprintln!("frames seen on the machine while the VMs talked: {seen:?}");
    let rx_after: u64 = lab.sh("h2", "cat /sys/class/net/eth1/statistics/rx_packets").trim().parse().unwrap();
    assert!(rx_after >= rx_before + 50, "the pings arrived on h2's lab NIC: {rx_before} -> {rx_after}");

    // The machine's network saw none of it: no frame with the lab's addresses on any interface (while the sniffer
    // did see the SSH traffic on loopback), and no interface, address, route or namespace came or went.
    assert!(seen.loopback > 0 && seen.control > 0, "the sniffer sees loopback traffic and the lab's addresses in it: {seen:?}");
    assert_eq!(seen.lab_traffic, 0, "segment traffic appeared on the machine's interfaces: {seen:?}");
    let during = machine_network();
    assert_eq!(during, before, "the lab changed the machine's network");
    assert!(!format!("{during:?}").contains("10.77."), "{during:?}");
    // The QEMUs and the switch live in the machine's own network namespace and hold no tap device.
    let pids = pids_of(&lab_dir);
    assert_eq!(pids.len(), 3, "two QEMUs and the switch: {:?}", processes_mentioning(&lab_dir.display().to_string()));
    let own_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let mut listening = Vec::new();
    for pid in &pids {
        listening.extend(listening_addresses(*pid));
        assert_eq!(std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap(), own_ns);
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            assert!(!target.starts_with("/dev/net"), "pid {pid} holds {}", target.display());
        }
    }
    let ports = [lab.port("h1"), lab.port("h2")];
    // The lab listens on exactly the two SSH ports, on 127.0.0.1 (0100007F in /proc/net/tcp) only.
    listening.sort();
    let mut expected: Vec<String> = ports.iter().map(|p| format!("0100007F:{p:04X}")).collect();
    expected.sort();
    assert_eq!(listening, expected);

    // A VM that stopped: status says so (exit 3); `up` again starts it with its disk, and changes nothing else.
    let status = lab.run(&["lab", "status", "--name", &lab.name]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    assert_eq!(String::from_utf8_lossy(&status.stdout).matches("ssh ok").count(), 2, "{}", text(&status));
    lab.sh("h2", "echo kept > /root/marker && sync");
    let h2 = processes_mentioning(&lab_dir.display().to_string()).into_iter().find(|p| p.contains("guest=hlprov-") && p.contains("-h2,")).unwrap();
    assert!(Command::new("kill").args(["-KILL", h2.split(' ').next().unwrap()]).status().unwrap().success());
    std::thread::sleep(Duration::from_secs(1));
    let status = lab.run(&["lab", "status", "--name", &lab.name]);
    assert_eq!(status.status.code(), Some(3), "{}", text(&status));
    assert!(String::from_utf8_lossy(&status.stdout).contains("stopped"), "{}", text(&status));
    let again = lab.run(&["lab", "up", "--driver", "vm", "--hosts", "2", "--name", &lab.name]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains(&format!("lab {}: started again h2\n", lab.name)), "{}", text(&again));
    assert_eq!(String::from_utf8_lossy(&again.stdout).lines().last().unwrap(), lab.inv());
    assert_eq!(lab.sh("h2", "cat /root/marker; hostname"), "kept\nh2\n");
    assert!(lab.sh("h1", "ping -c 2 -W 5 10.77.0.12").contains("2 received"), "the segment reaches the restarted VM");
    let pids = pids_of(&lab_dir);
    assert_eq!(pids.len(), 3);
    let ports = [lab.port("h1"), lab.port("h2")];

    // down: nothing left — no process, no disk, socket or folder, no open port, no network change.
    let down = lab.run(&["lab", "down", "--name", &lab.name]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(text(&down).contains("removed 2 VM(s), its switch and"), "{}", text(&down));
    assert_eq!(processes_mentioning(&lab_dir.display().to_string()), Vec::<String>::new());
    for pid in pids {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(state.is_empty() || state.rsplit_once(')').unwrap().1.trim_start().starts_with('Z'), "pid {pid} still runs: {state}");
    }
    assert!(!lab_dir.exists(), "{} (overlays, sockets, seeds) is gone", lab_dir.display());
    for port in ports {
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "port {port} still open");
    }
    assert_eq!(machine_network(), before);
}

#[test]
fn an_interrupted_or_killed_lab_up_leaves_nothing_after_lab_down() {
    let dir = tempfile::tempdir().unwrap();
    let name = vm_support::unique_name();
    let lab_dir = dir.path().join(".hlprov/lab").join(&name);
    // The image first (built once; .ci/setup does it), so that `up` reaches its VMs within the wait below.
    let image = hlprov(dir.path(), &["lab", "image", "--driver", "vm"]);
    assert!(image.status.success(), "{}", text(&image));
    let start_up = || {
        Command::new(env!("CARGO_BIN_EXE_hlprov"))
            .args(["lab", "up", "--driver", "vm", "--hosts", "2", "--name", &name])
            .current_dir(dir.path())
            .env("HLPROV_NO_LIVE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Both QEMUs and the switch have started (they are booting) when this returns.
    let wait_for_vms = |child: &mut std::process::Child| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while pids_of(&lab_dir).len() < 3 {
            assert!(child.try_wait().unwrap().is_none(), "lab up ended early");
            assert!(Instant::now() < deadline, "lab up did not start its VMs within 120 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let kill = |sig: &str, pid: u32| assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
    let down = || {
        let out = hlprov(dir.path(), &["lab", "down", "--name", &name]);
        assert!(out.status.success(), "{}", text(&out));
        out
    };
    struct Cleanup<'a>(&'a dyn Fn() -> std::process::Output);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.0)()));
        }
    }
    let _cleanup = Cleanup(&down);

    // Ctrl-C (SIGINT): `up` stops what it started, says so, and exits 130; `down` removes the folder.
    let mut up = start_up();
    wait_for_vms(&mut up);
    kill("-INT", up.id());
    let status = up.wait().unwrap();
    let mut stderr = String::new();
    up.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted: stopped") && stderr.contains(&format!("hlprov lab down --name {name}")), "{stderr}");
    assert_eq!(processes_mentioning(&lab_dir.display().to_string()), Vec::<String>::new(), "Ctrl-C stopped the VMs");
    assert!(text(&down()).contains(&format!("lab {name}: removed 0 VM(s) and")));
    assert!(!lab_dir.exists());

    // A crash (SIGKILL): the VMs keep running, and `down` finds and stops every one of them from the lab folder.
    let mut up = start_up();
    wait_for_vms(&mut up);
    kill("-KILL", up.id());
    up.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pids_of(&lab_dir).len(), 3, "the VMs outlive a crashed `up`");
    let out = down();
    assert!(text(&out).contains("removed 2 VM(s), its switch and"), "{}", text(&out));
    assert_eq!(processes_mentioning(&lab_dir.display().to_string()), Vec::<String>::new());
    assert!(!lab_dir.exists());
}
