//! `hlprov lab up|down|status|image`: disposable hosts, as containers or (`--driver vm`) QEMU VMs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::exec::exit;
use crate::lab::{self, Driver, LabOptions, LabUi};

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Start (or keep) N hosts with systemd and sshd, and write their inventory (its path is the last line printed)
    Up(UpArgs),
    /// Remove the lab: its containers and network, or its VMs and their switch; then its state folder (images are kept)
    Down(LabArgs),
    /// Say which lab hosts run and answer over SSH
    Status(LabArgs),
    /// Build the host image if it is missing (debootstrap; needs root)
    Image(ImageArgs),
    /// The private network segment between a VM lab's VMs (started by `lab up --driver vm`)
    #[command(hide = true)]
    Switch(SwitchArgs),
}

/// What the lab's hosts are.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DriverArg {
    /// systemd containers on the local Docker engine (they share this machine's kernel)
    Container,
    /// QEMU VMs with their own kernel (KVM when it works, else TCG)
    Vm,
}

impl From<DriverArg> for Driver {
    fn from(d: DriverArg) -> Driver {
        match d {
            DriverArg::Container => Driver::Container,
            DriverArg::Vm => Driver::Vm,
        }
    }
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// How many hosts
    #[arg(long, default_value_t = 3)]
    pub hosts: usize,
    #[command(flatten)]
    pub name: NameArgs,
    /// Containers or VMs
    #[arg(long, value_enum, default_value = "container")]
    pub driver: DriverArg,
    /// Memory of each VM in MiB (--driver vm) [default: 1024]
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u32>,
    /// Virtual CPUs of each VM (--driver vm) [default: 1]
    #[arg(long, value_name = "N")]
    pub cpus: Option<u32>,
    /// Use the image with python3 (only for running Ansible/pyinfra side by side in the benchmark; containers)
    #[arg(long)]
    pub python: bool,
}

#[derive(Args, Debug)]
pub struct LabArgs {
    #[command(flatten)]
    pub name: NameArgs,
    /// The lab's driver; by default its state folder says which
    #[arg(long, value_enum)]
    pub driver: Option<DriverArg>,
}

#[derive(Args, Debug)]
pub struct NameArgs {
    /// Lab name (several labs can coexist)
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Where lab state lives
    #[arg(long, default_value = ".hlprov/lab", value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct ImageArgs {
    /// Which image: the container image or the VM disk image
    #[arg(long, value_enum, default_value = "container")]
    pub driver: DriverArg,
    /// Also build the python3 variant used by the benchmark (containers)
    #[arg(long)]
    pub python: bool,
}

#[derive(Args, Debug)]
pub struct SwitchArgs {
    /// The lab's net/ folder
    #[arg(long)]
    pub dir: PathBuf,
}

struct Spinner(ProgressBar);

impl LabUi for Spinner {
    fn step(&self, msg: &str) {
        if self.0.is_hidden() {
            eprintln!("{msg}");
        }
        self.0.set_message(msg.to_string());
    }
}

fn spinner() -> Spinner {
    let pb = ProgressBar::new_spinner();
    pb.set_style(ProgressStyle::with_template("{spinner} {wide_msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    pb.enable_steady_tick(Duration::from_millis(120));
    Spinner(pb)
}

pub async fn run(cmd: LabCommand) -> i32 {
    match cmd {
        LabCommand::Up(a) => up(a).await,
        LabCommand::Down(a) => match lab::down(&a.name.name, &a.name.dir, a.driver.map(Driver::from)).await {
            Ok(r) => {
                let name = &a.name.name;
                if r.machines.is_empty() && !r.network && r.state_dir.is_none() {
                    println!("lab {name}: nothing to remove");
                } else {
                    let (kind, network) = match r.driver {
                        Driver::Container => ("container(s)", ", its network"),
                        Driver::Vm => ("VM(s)", ", its switch"),
                    };
                    println!(
                        "lab {name}: removed {} {kind}{}{}",
                        r.machines.len(),
                        if r.network { network } else { "" },
                        r.state_dir.map(|d| format!(" and {}", d.display())).unwrap_or_default()
                    );
                }
                0
            }
            Err(e) => {
                eprintln!("error: lab down: {e}");
                1
            }
        },
        LabCommand::Status(a) => match lab::status(&a.name.name, &a.name.dir, a.driver.map(Driver::from)).await {
            Ok(hosts) if hosts.is_empty() => {
                println!("lab {}: no hosts (start some with `hlprov lab up`)", a.name.name);
                1
            }
            Ok(hosts) => {
                let mut all_ok = true;
                for h in hosts {
                    let port = h.port.map(|p| format!("127.0.0.1:{p}")).unwrap_or_else(|| "-".into());
                    let ssh = match &h.ssh {
                        Ok(d) => format!("ssh ok ({} ms)", d.as_millis()),
                        Err(e) => {
                            all_ok = false;
                            format!("ssh FAILED: {e}")
                        }
                    };
                    println!("{:<28} {:<8} {:<16} {ssh}", h.machine, h.state, port);
                }
                if all_ok { 0 } else { 3 }
            }
            Err(e) => {
                eprintln!("error: lab status: {e}");
                1
            }
        },
        LabCommand::Image(a) => image(a).await,
        LabCommand::Switch(a) => {
            // Socket names are relative to the net/ folder: a unix socket path may not exceed 108 bytes.
            if let Err(e) = std::env::set_current_dir(&a.dir) {
                eprintln!("error: lab switch: cannot enter {}: {e}", a.dir.display());
                return 1;
            }
            match lab::vm::switch::run(std::path::Path::new(".")).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: lab switch: {e}");
                    1
                }
            }
        }
    }
}

async fn up(a: UpArgs) -> i32 {
    let driver = Driver::from(a.driver);
    if driver == Driver::Container && (a.memory.is_some() || a.cpus.is_some()) {
        eprintln!("error: --memory and --cpus apply to VMs: add --driver vm");
        return exit::BAD_INPUT;
    }
    if driver == Driver::Vm && a.python {
        eprintln!("error: --python applies to the container lab only");
        return exit::BAD_INPUT;
    }
    let vm_opts = lab::vm::VmOptions {
        name: a.name.name.clone(),
        hosts: a.hosts,
        dir: a.name.dir.clone(),
        memory_mib: a.memory.unwrap_or(lab::vm::DEFAULT_MEMORY_MIB),
        cpus: a.cpus.unwrap_or(lab::vm::DEFAULT_CPUS),
        exe: None,
    };
    let checked = match driver {
        Driver::Container => lab::validate_name(&a.name.name).and_then(|()| lab::check_hosts(a.hosts)),
        Driver::Vm => lab::vm::check_options(&vm_opts),
    };
    if let Err(e) = checked {
        eprintln!("error: lab up: {e}");
        return exit::BAD_INPUT;
    }
    let ui = spinner();
    let result = match driver {
        Driver::Container => {
            let opts = LabOptions {
                name: a.name.name.clone(),
                hosts: a.hosts,
                dir: a.name.dir.clone(),
                image: if a.python { lab::PYTHON_IMAGE.into() } else { lab::HOST_IMAGE.into() },
            };
            lab::up(&opts, &ui).await
        }
        Driver::Vm => {
            tokio::select! {
                r = lab::vm::up(&vm_opts, &ui) => r,
                _ = tokio::signal::ctrl_c() => {
                    ui.0.finish_and_clear();
                    return interrupted_vm_up(&vm_opts).await;
                }
            }
        }
    };
    ui.0.finish_and_clear();
    match result {
        Ok(l) => {
            for note in &l.notes {
                println!("lab {}: {note}", l.name);
            }
            if !l.created.is_empty() {
                println!("lab {}: created {}", l.name, l.created.join(", "));
            }
            if !l.restarted.is_empty() {
                println!("lab {}: started again {}", l.name, l.restarted.join(", "));
            }
            if l.created.is_empty() && l.restarted.is_empty() {
                println!("lab {}: {} host(s) already up, nothing changed", l.name, l.hosts.len());
            }
            for h in &l.hosts {
                println!("  {:<6} 127.0.0.1:{:<5}  {}  {}", h.name, h.port, h.machine, h.address.clone().unwrap_or_default());
            }
            println!("{}", l.inventory.display());
            0
        }
        Err(e) => {
            eprintln!("error: lab up: {e}");
            1
        }
    }
}

/// Ctrl-C during `lab up --driver vm`: stop the VMs (and switch) this run started, so nothing keeps burning CPU;
/// what they left on disk stays for `lab down`, as does anything an earlier `up` started.
async fn interrupted_vm_up(opts: &lab::vm::VmOptions) -> i32 {
    let lab_dir = match lab::absolute(&lab::lab_dir(&opts.dir, &opts.name)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("\ninterrupted: {e}");
            return exit::INTERRUPTED;
        }
    };
    let stopped = lab::vm::stop_started_here(&lab_dir).await;
    let what = match &stopped {
        Ok(p) if p.is_empty() => "nothing had been started yet".to_string(),
        Ok(p) => format!("stopped {}", p.iter().map(|p| p.label()).collect::<Vec<_>>().join(", ")),
        Err(e) => e.clone(),
    };
    eprintln!("\ninterrupted: {what}; `hlprov lab down --name {}` removes the rest of the lab", opts.name);
    exit::INTERRUPTED
}

async fn image(a: ImageArgs) -> i32 {
    if let DriverArg::Vm = a.driver {
        if a.python {
            eprintln!("error: --python applies to the container image only");
            return exit::BAD_INPUT;
        }
        return match lab::vm::image::ensure(&|m| eprintln!("{m}")).await {
            Ok(img) => {
                println!("VM image ready: {}", img.dir.display());
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
    }
    let docker = match lab::docker::connect().await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let mut images = vec![(lab::HOST_IMAGE, false)];
    if a.python {
        images.push((lab::PYTHON_IMAGE, true));
    }
    for (tag, py) in images {
        if let Err(e) = lab::image::ensure(&docker, tag, py, &|m| eprintln!("{m}")).await {
            eprintln!("error: {e}");
            return 1;
        }
        println!("{tag} ready");
    }
    0
}
