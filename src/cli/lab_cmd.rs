//! `hlprov lab up|down|status|image`: disposable container hosts.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::lab::{self, LabOptions, LabUi};

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Start (or keep) N hosts with systemd and sshd, and write their inventory (its path is the last line printed)
    Up(UpArgs),
    /// Remove the lab's containers, network and state folder (the shared host image is kept)
    Down(NameArgs),
    /// Say which lab hosts run and answer over SSH
    Status(NameArgs),
    /// Build the host image if it is missing (debootstrap; needs root)
    Image(ImageArgs),
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// How many hosts
    #[arg(long, default_value_t = 3)]
    pub hosts: usize,
    #[command(flatten)]
    pub name: NameArgs,
    /// Use the image with python3 (only for running Ansible/pyinfra side by side in the benchmark)
    #[arg(long)]
    pub python: bool,
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
    /// Also build the python3 variant used by the benchmark
    #[arg(long)]
    pub python: bool,
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
        LabCommand::Up(a) => {
            let ui = spinner();
            let opts = LabOptions {
                name: a.name.name.clone(),
                hosts: a.hosts,
                dir: a.name.dir.clone(),
                image: if a.python { lab::PYTHON_IMAGE.into() } else { lab::HOST_IMAGE.into() },
            };
            let result = lab::up(&opts, &ui).await;
            ui.0.finish_and_clear();
            match result {
                Ok(l) => {
                    if l.created.is_empty() {
                        println!("lab {}: {} host(s) already up, nothing changed", l.name, l.hosts.len());
                    } else {
                        println!("lab {}: created {}", l.name, l.created.join(", "));
                    }
                    for h in &l.hosts {
                        println!("  {:<6} 127.0.0.1:{:<5}  {}  {}", h.name, h.port, h.container, h.address.clone().unwrap_or_default());
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
        LabCommand::Down(a) => match lab::down(&a.name, &a.dir).await {
            Ok(r) => {
                if r.containers.is_empty() && !r.network && r.state_dir.is_none() {
                    println!("lab {}: nothing to remove", a.name);
                } else {
                    println!(
                        "lab {}: removed {} container(s){}{}",
                        a.name,
                        r.containers.len(),
                        if r.network { ", its network" } else { "" },
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
        LabCommand::Status(a) => match lab::status(&a.name, &a.dir).await {
            Ok(hosts) if hosts.is_empty() => {
                println!("lab {}: no hosts (start some with `hlprov lab up`)", a.name);
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
                    println!("{:<28} {:<8} {:<16} {ssh}", h.container, h.state, port);
                }
                if all_ok { 0 } else { 3 }
            }
            Err(e) => {
                eprintln!("error: lab status: {e}");
                1
            }
        },
        LabCommand::Image(a) => {
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
    }
}
