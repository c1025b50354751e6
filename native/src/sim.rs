//! `iiswsgi sim …`: the simulated IIS machine's commands.

use std::path::PathBuf;

use iiswsgi_cli::SimCommand;
use pyo3::prelude::*;

/// The Python running this process (`sys.executable`).
fn python(py: Python<'_>) -> PathBuf {
    py.import("sys")
        .and_then(|sys| sys.getattr("executable"))
        .and_then(|e| e.extract::<String>())
        .map_or_else(|_| PathBuf::from("python3"), PathBuf::from)
}

pub(crate) fn run(py: Python<'_>, cmd: SimCommand) -> i32 {
    match cmd {
        SimCommand::New(a) => {
            let python_exe = a.python.unwrap_or_else(|| python(py));
            let opts = iiswsgi_sim::create::NewMachine {
                iis_express: a.iis_express,
                iiswsgi: vec![
                    python(py).display().to_string(),
                    "-m".into(),
                    "iiswsgi".into(),
                ],
                python: python_exe,
            };
            match iiswsgi_sim::create::create(&a.root, &opts) {
                Ok(m) => {
                    let kind = if a.iis_express { "IIS Express" } else { "IIS" };
                    eprintln!("iiswsgi sim new: created a simulated Windows machine with {kind}");
                    eprintln!(
                        "iiswsgi sim new: applicationHost.config: {}",
                        m.config.machine.apphost
                    );
                    eprintln!(
                        "iiswsgi sim new: machine description and program map: {}",
                        m.sim_toml().display()
                    );
                    println!("{}", m.root().display());
                    0
                }
                Err(e) => {
                    eprintln!("iiswsgi sim new: error: {e}");
                    1
                }
            }
        }
        SimCommand::Msdeploy(a) => match iiswsgi_sim::machine::SimMachine::open(&a.root) {
            Ok(m) => {
                let opts = iiswsgi_sim::msdeploy::SimOptions {
                    set_appl_physical_path: a.set_appl_physical_path,
                };
                iiswsgi_sim::msdeploy::run(&m, &a.args, &opts, &mut |l| println!("{l}"))
            }
            Err(e) => {
                println!("Error: {e}");
                println!("Error count: 1.");
                iiswsgi_sim::msdeploy::EXIT_ERROR
            }
        },
        SimCommand::Webpi(a) => match iiswsgi_sim::machine::SimMachine::open(&a.root) {
            Ok(m) => iiswsgi_sim::webpi::run(&m, &a.args, &mut |l| println!("{l}")),
            Err(e) => {
                eprintln!("iiswsgi sim webpi: error: {e}");
                1
            }
        },
        SimCommand::Appcmd(a) => match iiswsgi_sim::machine::SimMachine::open(&a.root) {
            Ok(m) => {
                let out = iiswsgi_sim::appcmd::run(&m, &a.args);
                print!("{}", out.stdout);
                out.code
            }
            Err(e) => {
                eprintln!("iiswsgi sim appcmd: error: {e}");
                1
            }
        },
    }
}
