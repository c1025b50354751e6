//! The pure part of the simulator's `cmd.exe`: how a line of a batch file is
//! read before anything runs.
//!
//! 1. `%VAR%` expansion with the environment (batch-file rules: `%%` is one
//!    `%`, an undefined variable expands to nothing, a lone `%` is dropped);
//! 2. splitting on `&&`, `||` and `&` outside double quotes, `^` escaping
//!    the next character outside quotes;
//! 3. the first word is the program (quoted or not, a leading `@` dropped);
//!    the rest of the line is passed to it as its command line, which the
//!    program splits itself (the C runtime's rules,
//!    [`super::cmdline::split_windows`]).
//!
//! Pipes, redirections and parenthesised blocks are refused with an error
//! that says so (they are not needed by runCommand's one-line commands).

/// How a command is joined to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// The first command, or after `&`: always runs.
    Always,
    /// After `&&`: runs when the previous exit code is 0.
    IfOk,
    /// After `||`: runs when the previous exit code is not 0.
    IfFailed,
}

/// A line the emulation does not handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    #[error("the simulator's cmd.exe does not support {what} ({line:?}); put the commands in a program or script")]
    Unsupported { what: &'static str, line: String },
}

/// Expands `%NAME%` as cmd.exe does in a batch file.
pub fn expand(line: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('%') {
            out.push('%');
            rest = stripped;
            continue;
        }
        // %0-%9 and %* are the batch file's arguments: there are none.
        if after.starts_with(|c: char| c.is_ascii_digit() || c == '*') {
            rest = &after[1..];
            continue;
        }
        match after.find('%') {
            Some(j) if j > 0 && !after[..j].contains(['\r', '\n']) => {
                if let Some(v) = lookup(&after[..j]) {
                    out.push_str(&v);
                }
                rest = &after[j + 1..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// Splits an expanded line into commands joined by `&`, `&&` and `||`,
/// removing `^` escapes outside quotes.
pub fn split_chain(line: &str) -> Result<Vec<(Join, String)>, CmdError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut join = Join::Always;
    let mut quoted = false;
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let unsupported = |what| CmdError::Unsupported {
        what,
        line: line.to_owned(),
    };
    while i < chars.len() {
        let c = chars[i];
        if quoted {
            if c == '"' {
                quoted = false;
            }
            cur.push(c);
            i += 1;
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                cur.push(c);
            }
            '^' => {
                if let Some(&n) = chars.get(i + 1) {
                    cur.push(n);
                    i += 1;
                }
            }
            '&' | '|' => {
                let double = chars.get(i + 1) == Some(&c);
                if c == '|' && !double {
                    return Err(unsupported("pipes"));
                }
                out.push((join, std::mem::take(&mut cur)));
                join = match (c, double) {
                    ('&', true) => Join::IfOk,
                    ('&', false) => Join::Always,
                    _ => Join::IfFailed,
                };
                if double {
                    i += 1;
                }
            }
            '<' | '>' => return Err(unsupported("redirection")),
            '(' if cur.trim().is_empty() => return Err(unsupported("parenthesised blocks")),
            c => cur.push(c),
        }
        i += 1;
    }
    out.push((join, cur));
    Ok(out
        .into_iter()
        .filter(|(_, c)| !c.trim().is_empty())
        .collect())
}

/// The program and the rest of the command line (what the program gets).
pub fn split_command(cmd: &str) -> (String, String) {
    let s = cmd.trim_start().trim_start_matches('@').trim_start();
    if let Some(rest) = s.strip_prefix('"') {
        let end = rest.find('"').unwrap_or(rest.len());
        let program = rest[..end].to_owned();
        let after = rest.get(end + 1..).unwrap_or("");
        return (program, after.trim_start().to_owned());
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    (s[..end].to_owned(), s[end..].trim_start().to_owned())
}

/// Escapes a command line for cmd.exe: `%` doubled, and `&|<>^()` given
/// a `^` where cmd.exe sees them outside double quotes (its quote state runs
/// across the whole line and knows nothing of `\"`).
fn cmd_escape(windows: &str) -> String {
    let mut out = String::with_capacity(windows.len() + 8);
    let mut quoted = false;
    for c in windows.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                out.push(c);
            }
            '%' => out.push_str("%%"),
            '&' | '|' | '<' | '>' | '^' | '(' | ')' if !quoted => {
                out.push('^');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Quotes one argument for a batch-file line on its own: so that cmd.exe's
/// reading ([`expand`], [`split_chain`]) and then the program's
/// [`split_windows`](super::cmdline::split_windows) give it back.
pub fn quote_arg(arg: &str) -> String {
    cmd_escape(&super::cmdline::quote_windows(arg))
}

/// A batch-file line for a program and its arguments.
pub fn command_line(program: &str, args: &[String]) -> String {
    let mut line = super::cmdline::quote_windows(program);
    for a in args {
        line.push(' ');
        line.push_str(&super::cmdline::quote_windows(a));
    }
    cmd_escape(&line)
}
