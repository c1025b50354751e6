//! Windows command-line splitting (the Microsoft C runtime's rules, which
//! `CPython`'s `python.exe` uses): arguments are separated by white space,
//! double quotes group, `\"` is a literal quote, and backslashes are literal
//! unless they precede a quote (2n backslashes + `"` → n backslashes and a
//! quote toggle; 2n+1 → n backslashes and a literal `"`).

/// Splits a `FastCGI` `arguments` string as the started process sees it.
pub fn split_windows(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut quoted = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let n = chars[i..].iter().take_while(|&&c| c == '\\').count();
                in_arg = true;
                if chars.get(i + n) == Some(&'"') {
                    cur.extend(std::iter::repeat_n('\\', n / 2));
                    if n % 2 == 1 {
                        cur.push('"');
                        i += n + 1;
                    } else {
                        i += n;
                    }
                } else {
                    cur.extend(std::iter::repeat_n('\\', n));
                    i += n;
                }
                continue;
            }
            '"' => {
                in_arg = true;
                if quoted && chars.get(i + 1) == Some(&'"') {
                    cur.push('"');
                    i += 1;
                } else {
                    quoted = !quoted;
                }
            }
            ' ' | '\t' if !quoted => {
                if in_arg {
                    out.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
            }
            c => {
                in_arg = true;
                cur.push(c);
            }
        }
        i += 1;
    }
    if in_arg {
        out.push(cur);
    }
    out
}

/// Quotes one argument so that [`split_windows`] gives it back.
pub fn quote_windows(arg: &str) -> String {
    if !arg.is_empty() && !arg.chars().any(|c| matches!(c, ' ' | '\t' | '"')) {
        return arg.to_owned();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.extend(std::iter::repeat_n('\\', backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.extend(std::iter::repeat_n('\\', backslashes * 2));
    out.push('"');
    out
}
