//! `sim status` as text.

use std::fmt::Write;

use super::{Serving, Status};

fn age(now: u64, since: u64) -> String {
    let s = now.saturating_sub(since);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

pub(super) fn text(st: &Status, now: u64) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Machine {} ({}) at {}",
        st.machine,
        st.server,
        st.root.display()
    );
    let _ = writeln!(o, "  {}: {}", st.apphost.what, st.apphost.windows);
    match &st.serving {
        Serving::Stopped => {
            let _ = writeln!(
                o,
                "  sim serve: not running (start it: iiswsgi sim serve {})",
                st.root.display()
            );
        }
        Serving::Stale { pid } => {
            let _ = writeln!(
                o,
                "  sim serve: not running (pid {pid} stopped without cleaning up; its processes may linger: check with ps)"
            );
        }
        Serving::Running { pid, started, .. } => {
            let _ = writeln!(
                o,
                "  sim serve: running, pid {pid}, for {}",
                age(now, *started)
            );
        }
    }
    let _ = writeln!(o, "\nSites");
    for site in &st.sites {
        let _ = writeln!(
            o,
            "  {} {}  {}",
            site.id,
            site.name,
            site.bindings.join(" ")
        );
        if let Serving::Running { bindings, .. } = &st.serving {
            for b in bindings.iter().filter(|b| b.site == site.name) {
                let _ = writeln!(o, "      {}  ->  {}", b.binding, b.url);
            }
        }
        for app in &site.applications {
            let _ = writeln!(
                o,
                "    {:<24} pool {:<20} {}",
                app.path, app.pool, app.physical_path
            );
        }
    }
    fastcgi(&mut o, st, now);
    requests_and_logs(&mut o, st);
    o
}

fn fastcgi(o: &mut String, st: &Status, now: u64) {
    let _ = writeln!(o, "\nFastCGI applications");
    if st.fastcgi.is_empty() {
        let _ = writeln!(o, "  none registered");
    }
    for app in &st.fastcgi {
        let key = if app.arguments.is_empty() {
            app.full_path.clone()
        } else {
            format!("{}|{}", app.full_path, app.arguments)
        };
        let _ = writeln!(o, "  {key}");
        let _ = writeln!(
            o,
            "    maxInstances {}  instanceMaxRequests {}  activityTimeout {}  requestTimeout {}  idleTimeout {}",
            app.max_instances, app.instance_max_requests, app.activity_timeout, app.request_timeout, app.idle_timeout
        );
        processes(o, &app.processes, now, st);
    }
    if !st.other_processes.is_empty() {
        let _ = writeln!(
            o,
            "  processes of pools no longer registered (being recycled):"
        );
        processes(o, &st.other_processes, now, st);
    }
}

fn requests_and_logs(o: &mut String, st: &Status) {
    let _ = writeln!(o, "\nLast requests");
    if st.last_requests.is_empty() {
        let _ = writeln!(o, "  none logged");
    }
    for r in &st.last_requests {
        let _ = writeln!(
            o,
            "  W3SVC{} {} {} {} {} {}.{}.{} {} ms",
            r.site_id,
            r.date,
            r.time,
            r.method,
            r.uri,
            r.status,
            r.substatus,
            r.win32_status,
            r.time_taken
        );
    }
    let _ = writeln!(o, "\nLogs");
    for l in &st.logs {
        let _ = writeln!(o, "  {}", l.what);
        let _ = writeln!(o, "    {}", l.windows);
        let _ = writeln!(o, "    {}", l.host.display());
    }
}

fn processes(o: &mut String, list: &[super::LiveProcess], now: u64, st: &Status) {
    if list.is_empty() {
        let note = match st.serving {
            Serving::Running { .. } => "no live process (started at its first request)",
            _ => "no live process (sim serve is not running)",
        };
        let _ = writeln!(o, "    {note}");
    }
    for p in list {
        let _ = writeln!(
            o,
            "    pid {}  {} request(s)  age {}  {}",
            p.pid,
            p.requests,
            age(now, p.started),
            if p.busy { "busy" } else { "idle" }
        );
    }
}
