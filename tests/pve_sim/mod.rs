//! The simulated Proxmox VE API the Proxmox tests run against: fakepve (PyPI, pinned in .ci/setup) started by
//! launch.py beside this file, one per test, on a free port of 127.0.0.1. See launch.py for what it adds to
//! fakepve and what each addition is based on. The test reads and changes the simulated state through the
//! launcher's own channel (not through hlprov's client). A missing fakepve fails the test with instructions.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

pub const PASSWORD: &str = "root-pw-for-the-simulation";
pub const TOKEN_ID: &str = "root@pam!hlprov";
pub const TOKEN_SECRET: &str = "5f0c7f2e-hlprov-sim-token-secret";
pub const TEMPLATE: &str = "debian-12-standard_12.7-1_amd64.tar.zst";

pub struct SimPve {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub url: String,
    pub cafile: String,
    pub fingerprint: String,
}

fn python() -> String {
    std::env::var("HLPROV_FAKEPVE_PYTHON").unwrap_or_else(|_| "python3".into())
}

impl SimPve {
    /// A simulated PVE with root@pam (password [`PASSWORD`]), the token [`TOKEN_ID`], node pve1, the Debian 12
    /// template on `local` and in the appliance index, plus what `extra` adds (cts, vms, nodes, templates…).
    pub fn start(extra: Value) -> SimPve {
        let mut setup = json!({
            "password": PASSWORD,
            "tokens": {TOKEN_ID: TOKEN_SECRET},
            "templates": [{"storage": "local", "name": TEMPLATE}],
            "appliances": [TEMPLATE],
        });
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            setup[k] = v;
        }
        let launcher = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pve_sim/launch.py");
        let mut child = Command::new(python())
            .arg(launcher)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {} for the simulated PVE: {e}", python()));
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{setup}").unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "the simulated PVE did not start (answered {line:?}): it needs fakepve 0.5.0 for {}: \
                 `python3 -m pip install 'fakepve[crypto]==0.5.0'` (bash .ci/setup does it), or set HLPROV_FAKEPVE_PYTHON",
                python()
            )
        });
        let s = |k: &str| ready[k].as_str().unwrap().to_string();
        SimPve { url: s("url"), cafile: s("cafile"), fingerprint: s("fingerprint"), child, stdin: Some(stdin), stdout }
    }

    fn ask(&mut self, cmd: Value) -> Value {
        writeln!(self.stdin.as_mut().unwrap(), "{cmd}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }

    /// Everything the simulation holds, read without hlprov: guests, templates, requests and tasks.
    pub fn state(&mut self) -> Value {
        self.ask(json!({"cmd": "state"}))
    }

    /// The guest with this vmid as the simulation holds it (null if there is none).
    pub fn ct(&mut self, vmid: u64) -> Value {
        self.state()["cts"].as_array().unwrap().iter().find(|c| c["vmid"] == vmid).cloned().unwrap_or(Value::Null)
    }

    /// Change a guest behind hlprov's back.
    pub fn set(&mut self, vmid: u64, config: Value, status: Option<&str>) {
        self.ask(json!({"cmd": "set", "vmid": vmid, "config": config, "status": status}));
    }

    /// The requests made so far, as (method, path).
    pub fn requests(&mut self) -> Vec<(String, String)> {
        self.state()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_str().unwrap().to_string()))
            .collect()
    }

    /// The API connection arguments every Proxmox module takes, with the token (pinned certificate).
    pub fn token_args(&self) -> Value {
        json!({"api_url": self.url, "api_token_id": TOKEN_ID, "api_token_secret": TOKEN_SECRET, "tls_fingerprint": self.fingerprint})
    }

    /// The same with root@pam's password (a ticket), checked against the CA file.
    pub fn root_args(&self) -> Value {
        json!({"api_url": self.url, "api_password": PASSWORD, "ca_file": self.cafile})
    }
}

impl Drop for SimPve {
    /// The simulation never outlives its test: closing stdin ends it; it is killed (by its pid) if it hangs.
    fn drop(&mut self) {
        drop(self.stdin.take());
        for _ in 0..20 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `base` with `extra`'s keys added (module arguments from parts).
pub fn merge(base: Value, extra: Value) -> Value {
    let mut m = base.as_object().cloned().unwrap_or_default();
    m.extend(extra.as_object().cloned().unwrap_or_default());
    Value::Object(m)
}
