//! `iiswsgi sim …`: the simulated IIS machine's commands.

use iiswsgi_cli::SimCommand;
use pyo3::prelude::*;

pub(crate) fn run(py: Python<'_>, cmd: SimCommand) -> i32 {
    match cmd {
        SimCommand::New(a) => {
            let python_exe = a.python.unwrap_or_else(|| crate::python(py));
            let opts = iiswsgi_sim::create::NewMachine {
                iis_express: a.iis_express,
                iiswsgi: vec![
                    crate::python(py).display().to_string(),
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
                    eprintln!("iiswsgi sim new: error: {}", crate::report(e));
                    1
                }
            }
        }
        #[cfg(unix)]
        SimCommand::Serve(a) => serve(py, a),
        #[cfg(not(unix))]
        SimCommand::Serve(_) => {
            eprintln!("iiswsgi sim serve: error: the simulated IIS front needs a Unix host (on Windows, use IIS itself)");
            2
        }
        #[cfg(unix)]
        SimCommand::Deploy(a) => deploy(py, a),
        #[cfg(not(unix))]
        SimCommand::Deploy(_) => {
            eprintln!("iiswsgi sim deploy: error: the simulated IIS needs a Unix host (on Windows, use IIS itself)");
            2
        }
        #[cfg(unix)]
        SimCommand::Replay(a) => crate::replay::run(py, a),
        #[cfg(not(unix))]
        SimCommand::Replay(_) => {
            eprintln!("iiswsgi sim replay: error: the simulated IIS needs a Unix host (on Windows, use IIS itself)");
            2
        }
        SimCommand::Msdeploy(a) => match iiswsgi_sim::machine::SimMachine::open(&a.root) {
            Ok(m) => {
                let opts = iiswsgi_sim::msdeploy::SimOptions {
                    set_appl_physical_path: a.set_appl_physical_path,
                };
                iiswsgi_sim::msdeploy::run(&m, &a.args, &opts, &mut |l| println!("{l}"))
            }
            Err(e) => {
                println!("Error: {}", crate::report(e));
                println!("Error count: 1.");
                iiswsgi_sim::msdeploy::EXIT_ERROR
            }
        },
        SimCommand::Webpi(a) => match iiswsgi_sim::machine::SimMachine::open(&a.root) {
            Ok(m) => iiswsgi_sim::webpi::run(&m, &a.args, &mut |l| println!("{l}")),
            Err(e) => {
                eprintln!("iiswsgi sim webpi: error: {}", crate::report(e));
                1
            }
        },
        SimCommand::Status(a) => status(&a),
        SimCommand::Appcmd(a) => match iiswsgi_sim::machine::SimMachine::open(&a.root) {
            Ok(m) => {
                let out = iiswsgi_sim::appcmd::run(&m, &a.args);
                print!("{}", out.stdout);
                out.code
            }
            Err(e) => {
                eprintln!("iiswsgi sim appcmd: error: {}", crate::report(e));
                1
            }
        },
    }
}

fn status(a: &iiswsgi_cli::SimStatusArgs) -> i32 {
    let st = match iiswsgi_sim::status::collect(&a.root) {
        Ok(st) => st,
        Err(e) => {
            eprintln!("iiswsgi sim status: error: {}", crate::report(e));
            return 1;
        }
    };
    if a.json {
        match serde_json::to_string_pretty(&st) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("iiswsgi sim status: error: {e}");
                return 1;
            }
        }
    } else {
        print!("{}", st.render(iiswsgi_sim::status::runfile::now_unix()));
    }
    0
}

#[cfg(unix)]
fn serve(py: Python<'_>, a: iiswsgi_cli::SimServeArgs) -> i32 {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IISWSGI_SIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let opts = iiswsgi_sim::front::ServeOptions {
        root: a.root,
        listen: a.listen,
        ports: a.ports.into_iter().collect(),
        show_process_output: a.show_process_output,
        second: std::time::Duration::from_millis(a.test_second_ms.unwrap_or(1000)),
        once: a.once,
    };
    let result = py.detach(|| {
        iiswsgi_sim::front::run_until_signal(&opts, |m| {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{m}");
            let _ = out.flush();
        })
    });
    match result {
        Ok(()) => {
            eprintln!("iiswsgi sim serve: stopped");
            0
        }
        Err(e) => {
            eprintln!("iiswsgi sim serve: error: {}", crate::report(e));
            1
        }
    }
}

/// `--root`, or a new folder `root` in a kept temporary folder (its logs
/// are what the user reads after a failure); None (said on stderr) when it
/// cannot be made.
#[cfg(unix)]
pub(crate) fn root_or_temp(
    root: Option<std::path::PathBuf>,
    cmd: &str,
) -> Option<std::path::PathBuf> {
    match root {
        Some(r) => Some(r),
        None => match tempfile::Builder::new()
            .prefix(&format!("iiswsgi-{cmd}-"))
            .tempdir()
        {
            Ok(t) => Some(t.keep().join("root")),
            Err(e) => {
                eprintln!("iiswsgi sim {cmd}: error: cannot make a temporary folder: {e}");
                None
            }
        },
    }
}

#[cfg(unix)]
fn deploy(py: Python<'_>, a: iiswsgi_cli::SimDeployArgs) -> i32 {
    let started = std::time::Instant::now();
    let Some(root) = root_or_temp(a.root, "deploy") else {
        return 1;
    };
    let opts = iiswsgi_sim::deploy::DeployOptions {
        project: iiswsgi_sim::deploy::project_dir(a.project.as_deref()),
        root,
        iis_express: a.iis_express,
        params: a.params,
        python: crate::python(py),
        iiswsgi: vec![
            crate::python(py).display().to_string(),
            "-m".into(),
            "iiswsgi".into(),
        ],
        listen: a.listen,
    };
    let result = py.detach(|| {
        let mut progress = |l: &str| eprintln!("iiswsgi sim deploy: {l}");
        let d = iiswsgi_sim::deploy::prepare(&opts, &mut progress)?;
        progress("[serve] ...");
        let mut out = |l: &str| {
            use std::io::Write;
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{l}");
            let _ = o.flush();
        };
        let checked = iiswsgi_sim::deploy::serve(&d, opts.listen, a.once, &mut out)?;
        if let Some((status, first)) = checked {
            progress(&format!("[serve] the page answered {status}: {first}"));
        }
        Ok::<_, iiswsgi_sim::deploy::StageError>(d)
    });
    match result {
        Ok(d) => {
            eprintln!(
                "iiswsgi sim deploy: deployed {} in {:.1} s; the machine and its logs: {}",
                d.product,
                started.elapsed().as_secs_f64(),
                d.machine.root().display()
            );
            0
        }
        Err(e) => {
            eprintln!("iiswsgi sim deploy: error: {}", crate::report(e));
            1
        }
    }
}
