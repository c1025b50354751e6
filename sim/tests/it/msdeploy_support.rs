//! Helpers for the msdeploy and `WebPI` tests: the Pyramid fixture packaged
//! by the packager, machines whose `python.exe` is a recording script, zips
//! of any shape, and transcripts with the temporary folder filtered out.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use iiswsgi_sim::create::{create, NewMachine};
use iiswsgi_sim::machine::SimMachine;

pub(crate) fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "dist" || name == "Manifest.xml" || name == "iis_install.stamp" {
            continue;
        }
        let to = dst.join(&name);
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

/// The Pyramid fixture copied under `dir` and packaged; the zip.
pub(crate) fn pyramid_package(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pyramid_app");
    let proj = dir.join("PyramidIISApp");
    copy_tree(&src, &proj);
    iiswsgi_deploy::package::package(&proj, None, &mut |_| {})
        .unwrap()
        .zip
}

/// The fixture's project folder (after [`pyramid_package`]).
pub(crate) fn pyramid_project(dir: &Path) -> PathBuf {
    dir.join("PyramidIISApp")
}

/// An executable shell script.
pub(crate) fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    p
}

/// A script that prints its arguments and the variables that matter.
/// (stderr first, then a pause: two pipes have no order of their own.)
pub(crate) const RECORD: &str = r#"echo "to stderr" >&2; sleep 0.3
printf 'ARGS:'; for a in "$@"; do printf ' [%s]' "$a"; done; echo
env | grep -E '^(APPL_PHYSICAL_PATH|IISWSGI_SIM_ROOT|IISWSGI_BACKEND|SystemDrive|TEMP)=' | sort"#;

/// The `<sites>` section of an applicationHost.config.
pub(crate) fn sites_section(apphost: &str) -> String {
    let start = apphost.find("<sites>").unwrap();
    let end = apphost.find("</sites>").unwrap() + "</sites>".len();
    apphost[start..end].to_owned()
}

/// A machine whose python.exe runs `python`.
pub(crate) fn machine_with(dir: &Path, python: &Path, iis_express: bool) -> SimMachine {
    create(
        &dir.join("root"),
        &NewMachine {
            iis_express,
            python: python.to_path_buf(),
            iiswsgi: vec!["/usr/bin/python3".into(), "-m".into(), "iiswsgi".into()],
        },
    )
    .unwrap()
}

/// Runs msdeploy; the exit code and the output with the folder filtered.
pub(crate) fn msdeploy(m: &SimMachine, dir: &Path, args: &[&str]) -> (i32, String) {
    msdeploy_opts(m, dir, args, false)
}

pub(crate) fn msdeploy_opts(
    m: &SimMachine,
    dir: &Path,
    args: &[&str],
    appl: bool,
) -> (i32, String) {
    let args: Vec<String> = args.iter().map(std::string::ToString::to_string).collect();
    let mut out = String::new();
    let opts = iiswsgi_sim::msdeploy::SimOptions {
        set_appl_physical_path: appl,
    };
    let code = iiswsgi_sim::msdeploy::run(m, &args, &opts, &mut |l| {
        out.push_str(l);
        out.push('\n');
    });
    (code, filter(&out, dir))
}

/// The temporary folder as `[TEMP]`, msdeploy's random .cmd names as `[TMP].cmd`.
pub(crate) fn filter(s: &str, dir: &Path) -> String {
    temp_cmd_names(&s.replace(&dir.display().to_string(), "[TEMP]"))
}

fn temp_cmd_names(s: &str) -> String {
    // Temp/<8>.<3>.cmd → Temp\[TMP].cmd
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(".cmd") {
        let head = &rest[..i];
        if head.len() >= 12 && head.as_bytes()[head.len() - 4] == b'.' {
            let cut = head.len() - 12;
            let name = &head[cut..];
            if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
                out.push_str(&head[..cut]);
                out.push_str("[TMP].cmd");
                rest = &rest[i + 4..];
                continue;
            }
        }
        out.push_str(&rest[..i + 4]);
        rest = &rest[i + 4..];
    }
    out.push_str(rest);
    out
}

/// A zip with these entries (name, bytes); `None` bytes: a folder entry.
pub(crate) fn zip(path: &Path, entries: &[(&str, Option<&[u8]>)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default();
    for (name, data) in entries {
        match data {
            Some(d) => {
                z.start_file(*name, opts).unwrap();
                z.write_all(d).unwrap();
            }
            None => z.add_directory(*name, opts).unwrap(),
        }
    }
    z.finish().unwrap();
}

/// A symbolic-link entry.
pub(crate) fn zip_with_symlink(path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file("manifest.xml", opts).unwrap();
    z.write_all(b"<m><iisApp path=\"app\" /></m>").unwrap();
    z.add_symlink("app/passwd", "/etc/passwd", opts).unwrap();
    z.finish().unwrap();
}

/// A file of the machine, by Windows path.
pub(crate) fn read(m: &SimMachine, windows: &str) -> String {
    std::fs::read_to_string(m.host_path(windows).unwrap()).unwrap()
}
