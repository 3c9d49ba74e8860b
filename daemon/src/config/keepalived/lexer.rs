//! keepalived.conf lexer and preprocessor, following keepalived.conf(5)
//! "Configuration file format": `!` and `#` comments, `"quoted strings"`,
//! `include GLOB` (relative to the including file), `$NAME=value` definitions
//! with `$NAME` / `${NAME}` substitution, `@ID` / `@^ID` conditional lines,
//! `~SEQ(VAR, [START,] [STEP,] END)` line repetition, and `\` line continuation.
//!
//! Output is a list of lines of located tokens; `{` and `}` are tokens of
//! their own. Every limit here (include depth, SEQ expansion, line length)
//! exists so that hostile input gets an error instead of exhausting memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::diag::{Diagnostics, Location};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub loc: Location,
    /// Written in quotes: never a brace, a comment or a keyword-looking thing.
    pub quoted: bool,
}

impl Token {
    pub fn is_open(&self) -> bool {
        !self.quoted && self.text == "{"
    }
    pub fn is_close(&self) -> bool {
        !self.quoted && self.text == "}"
    }
}

pub type Line = Vec<Token>;

/// How the preprocessor behaves.
#[derive(Clone, Debug, Default)]
pub struct LexOptions {
    /// keepalived's `-i ID`: selects `@ID` lines.
    pub config_id: Option<String>,
    /// Whether `include` may read files (off for fuzzing and in-memory text).
    pub allow_include: bool,
}

const MAX_INCLUDE_DEPTH: usize = 16;
const MAX_SEQ_LINES: usize = 10_000;
const MAX_LINE_LEN: usize = 64 * 1024;
const MAX_TOTAL_LINES: usize = 1_000_000;

pub struct Lexer<'d> {
    opts: LexOptions,
    defs: HashMap<String, String>,
    diags: &'d mut Diagnostics,
    out: Vec<Line>,
    stack: Vec<PathBuf>,
}

impl<'d> Lexer<'d> {
    pub fn new(opts: LexOptions, diags: &'d mut Diagnostics) -> Self {
        Self {
            opts,
            defs: HashMap::new(),
            diags,
            out: Vec::new(),
            stack: Vec::new(),
        }
    }

    pub fn finish(self) -> Vec<Line> {
        self.out
    }

    /// Lexes a file from disk (following includes when allowed).
    pub fn file(&mut self, path: &Path, from: Option<&Location>) {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if self.stack.contains(&canonical) {
            self.diags.error(
                from,
                format!("include loop: '{}' includes itself", path.display()),
            );
            return;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.diags.error(
                from,
                format!(
                    "includes nested more than {MAX_INCLUDE_DEPTH} deep at '{}'",
                    path.display()
                ),
            );
            return;
        }
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                self.diags
                    .error(from, format!("cannot read '{}': {e}", path.display()));
                return;
            }
        };
        self.stack.push(canonical);
        let name: Arc<str> = Arc::from(path.display().to_string());
        self.text(&name, &text, path.parent());
        self.stack.pop();
    }

    /// Lexes text; `dir` is where relative includes are resolved.
    pub fn text(&mut self, file: &Arc<str>, text: &str, dir: Option<&Path>) {
        let mut pending = String::new();
        let mut pending_line = 0u32;
        for (idx, raw) in text.lines().enumerate() {
            let lineno = u32::try_from(idx + 1).unwrap_or(u32::MAX);
            if pending.is_empty() {
                pending_line = lineno;
            }
            // `\` at the end joins the next line (keepalived 2.x).
            if let Some(stripped) = raw.strip_suffix('\\') {
                pending.push_str(stripped);
                pending.push(' ');
                if pending.len() > MAX_LINE_LEN {
                    self.diags.error(
                        Some(&Location::new(file, pending_line, 1)),
                        format!("continued line longer than {MAX_LINE_LEN} bytes"),
                    );
                    pending.clear();
                }
                continue;
            }
            let line = if pending.is_empty() {
                raw.to_string()
            } else {
                pending.push_str(raw);
                std::mem::take(&mut pending)
            };
            self.logical_line(file, pending_line, &line, dir);
        }
        if !pending.is_empty() {
            let line = std::mem::take(&mut pending);
            self.logical_line(file, pending_line, &line, dir);
        }
    }

    fn logical_line(&mut self, file: &Arc<str>, lineno: u32, line: &str, dir: Option<&Path>) {
        if self.out.len() >= MAX_TOTAL_LINES {
            if self.out.len() == MAX_TOTAL_LINES {
                self.diags.error(
                    Some(&Location::new(file, lineno, 1)),
                    format!("configuration longer than {MAX_TOTAL_LINES} lines"),
                );
                self.out.push(Vec::new());
            }
            return;
        }
        let content = strip_comment(line);
        let trimmed_start = content.len() - content.trim_start().len();
        let body = content.trim();
        if body.is_empty() {
            return;
        }
        let col0 = u32::try_from(trimmed_start).unwrap_or(0);
        let loc = Location::new(file, lineno, col0 + 1);

        // `@ID rest` / `@^ID rest`: keep the rest only for (or except for) that config id.
        if let Some(cond) = body.strip_prefix('@') {
            let (id, rest) = cond.split_once(char::is_whitespace).unwrap_or((cond, ""));
            let (negate, id) = match id.strip_prefix('^') {
                Some(i) => (true, i),
                None => (false, id),
            };
            if id.is_empty() {
                self.diags
                    .error(Some(&loc), "'@' must be followed by a configuration id");
                return;
            }
            let matches = self.opts.config_id.as_deref() == Some(id);
            if matches != negate {
                let offset = body.len() - rest.trim_start().len();
                let shift = u32::try_from(offset).unwrap_or(0);
                let rest_loc = Location::new(file, lineno, loc.col + shift);
                self.conditioned_line(file, &rest_loc, rest.trim_start(), dir);
            }
            return;
        }
        self.conditioned_line(file, &loc, body, dir);
    }

    fn conditioned_line(
        &mut self,
        file: &Arc<str>,
        loc: &Location,
        body: &str,
        dir: Option<&Path>,
    ) {
        // `$NAME=value` defines; the value is substituted at definition time.
        if let Some(def) = body.strip_prefix('$')
            && let Some((name, value)) = def.split_once('=')
        {
            let name = name.trim();
            if is_var_name(name) {
                let value = self.substitute(loc, value.trim());
                self.defs.insert(name.to_string(), value);
                return;
            }
        }
        if let Some(seq) = body.strip_prefix("~SEQ") {
            self.seq_line(file, loc, seq, dir);
            return;
        }
        let body = if body.contains('$') {
            self.substitute(loc, body)
        } else {
            body.to_string()
        };
        let tokens = tokenize(loc, &body, self.diags);
        if let Some(first) = tokens.first()
            && !first.quoted
            && first.text == "include"
        {
            self.include(file, &tokens, dir);
            return;
        }
        if !tokens.is_empty() {
            self.out.push(tokens);
        }
    }

    /// `~SEQ(VAR, END)`, `~SEQ(VAR, START, END)` or `~SEQ(VAR, START, STEP, END)`
    /// followed by a line that is emitted once per value with `$VAR` set.
    fn seq_line(&mut self, file: &Arc<str>, loc: &Location, after: &str, dir: Option<&Path>) {
        let Some(inner_end) = after.find(')') else {
            self.diags
                .error(Some(loc), "~SEQ: expected '(VAR, [START,] [STEP,] END)'");
            return;
        };
        let Some(args) = after
            .get(..inner_end)
            .and_then(|s| s.trim().strip_prefix('('))
        else {
            self.diags.error(Some(loc), "~SEQ: expected '(' after ~SEQ");
            return;
        };
        let rest = after.get(inner_end + 1..).unwrap_or("").trim().to_string();
        let parts: Vec<&str> = args.split(',').map(str::trim).collect();
        let Some((var, nums)) = parts.split_first() else {
            return;
        };
        if !is_var_name(var) {
            self.diags
                .error(Some(loc), format!("~SEQ: '{var}' is not a variable name"));
            return;
        }
        let nums: Result<Vec<i64>, _> = nums.iter().map(|n| n.parse::<i64>()).collect();
        let (start, step, end) = match nums.as_deref() {
            Ok([end]) => (1, 1, *end),
            Ok([start, end]) => (*start, if start <= end { 1 } else { -1 }, *end),
            Ok([start, step, end]) => (*start, *step, *end),
            _ => {
                self.diags.error(
                    Some(loc),
                    "~SEQ: expected '(VAR, [START,] [STEP,] END)' with whole numbers",
                );
                return;
            }
        };
        // i128: no overflow for any i64 bounds.
        let (start, step, end) = (i128::from(start), i128::from(step), i128::from(end));
        if step == 0 || (end - start).signum() * step.signum() < 0 {
            self.diags.error(
                Some(loc),
                format!("~SEQ: step {step} never reaches {end} from {start}"),
            );
            return;
        }
        let count = (end - start) / step + 1;
        if count > MAX_SEQ_LINES as i128 {
            self.diags.error(
                Some(loc),
                format!("~SEQ expands to {count} lines; at most {MAX_SEQ_LINES} are allowed"),
            );
            return;
        }
        let saved = self.defs.get(*var).cloned();
        let mut v = start;
        for _ in 0..count {
            self.defs.insert((*var).to_string(), v.to_string());
            self.conditioned_line(file, loc, &rest, dir);
            v += step;
        }
        match saved {
            Some(s) => self.defs.insert((*var).to_string(), s),
            None => self.defs.remove(*var),
        };
    }

    fn include(&mut self, file: &Arc<str>, tokens: &[Token], dir: Option<&Path>) {
        let Some(kw) = tokens.first() else { return };
        let loc = &kw.loc;
        if !self.opts.allow_include {
            self.diags
                .error(Some(loc), "'include' is not allowed in this input");
            return;
        }
        let Some(pattern) = tokens.get(1) else {
            self.diags
                .error(Some(loc), "'include' needs a file name or glob pattern");
            return;
        };
        if tokens.len() > 2 {
            self.diags.error(
                tokens.get(2).map(|t| &t.loc),
                "'include' takes one file name or glob pattern",
            );
        }
        let base = dir.map(Path::to_path_buf).unwrap_or_default();
        let full = if Path::new(&pattern.text).is_absolute() {
            PathBuf::from(&pattern.text)
        } else {
            base.join(&pattern.text)
        };
        let full_str = full.to_string_lossy().into_owned();
        let paths = match glob::glob(&full_str) {
            Ok(p) => p,
            Err(e) => {
                self.diags.error(
                    Some(&pattern.loc),
                    format!("invalid include pattern '{}': {e}", pattern.text),
                );
                return;
            }
        };
        let mut matched: Vec<PathBuf> = paths
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        matched.sort();
        if matched.is_empty() {
            self.diags.warning(
                Some(&pattern.loc),
                format!(
                    "include '{}' matched no files (in {})",
                    pattern.text,
                    file_dir(file, dir)
                ),
            );
        }
        for p in matched {
            self.file(&p, Some(&pattern.loc));
        }
    }

    /// Replaces `${NAME}` and `$NAME` by definitions. An unknown `${NAME}` is
    /// an error; an unknown bare `$NAME` is left as written (scripts use `$`).
    fn substitute(&mut self, loc: &Location, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(rest.get(..pos).unwrap_or(""));
            let after = rest.get(pos + 1..).unwrap_or("");
            if let Some(braced) = after.strip_prefix('{')
                && let Some(end) = braced.find('}')
            {
                let name = braced.get(..end).unwrap_or("");
                match self.defs.get(name) {
                    Some(v) => out.push_str(v),
                    None => self.diags.error(
                        Some(loc),
                        format!("'${{{name}}}' is not defined (define it with '${name}=VALUE')"),
                    ),
                }
                rest = braced.get(end + 1..).unwrap_or("");
                continue;
            }
            let name_len = after
                .char_indices()
                .find(|(i, c)| {
                    !(c.is_ascii_alphanumeric() || *c == '_') || (*i == 0 && c.is_ascii_digit())
                })
                .map_or(after.len(), |(i, _)| i);
            let name = after.get(..name_len).unwrap_or("");
            match self.defs.get(name) {
                Some(v) if !name.is_empty() => out.push_str(v),
                _ => {
                    out.push('$');
                    out.push_str(name);
                }
            }
            rest = after.get(name_len..).unwrap_or("");
            if out.len() > MAX_LINE_LEN {
                self.diags.error(
                    Some(loc),
                    format!("line longer than {MAX_LINE_LEN} bytes after substitution"),
                );
                return String::new();
            }
        }
        out.push_str(rest);
        out
    }
}

fn file_dir(file: &Arc<str>, dir: Option<&Path>) -> String {
    dir.map_or_else(
        || format!("the directory of {file}"),
        |d| d.display().to_string(),
    )
}

fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Cuts the line at the first `!` or `#` that starts a word outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut in_quote = false;
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            '!' | '#' if !in_quote && prev_space => return line.get(..i).unwrap_or(line),
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// Splits a line into tokens: whitespace-separated words, `"quoted strings"`
/// (one token, quotes removed), and `{` / `}` as tokens of their own.
fn tokenize(loc: &Location, body: &str, diags: &mut Diagnostics) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = body.char_indices().peekable();
    let col_of = |byte: usize| {
        let chars_before = body.get(..byte).map_or(0, |s| s.chars().count());
        loc.col + u32::try_from(chars_before).unwrap_or(0)
    };
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let tloc = Location::new(&loc.file, loc.line, col_of(start));
        if c == '{' || c == '}' {
            chars.next();
            tokens.push(Token {
                text: c.to_string(),
                loc: tloc,
                quoted: false,
            });
            continue;
        }
        if c == '"' {
            chars.next();
            let mut text = String::new();
            let mut closed = false;
            for (_, ch) in chars.by_ref() {
                if ch == '"' {
                    closed = true;
                    break;
                }
                text.push(ch);
            }
            if !closed {
                diags.error(
                    Some(&tloc),
                    "unterminated quoted string: expected a closing '\"'",
                );
            }
            tokens.push(Token {
                text,
                loc: tloc,
                quoted: true,
            });
            continue;
        }
        let mut text = String::new();
        while let Some(&(_, ch)) = chars.peek() {
            if ch.is_whitespace() || ch == '{' || ch == '}' || ch == '"' {
                break;
            }
            text.push(ch);
            chars.next();
        }
        tokens.push(Token {
            text,
            loc: tloc,
            quoted: false,
        });
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(text: &str, id: Option<&str>) -> (Vec<Vec<String>>, Diagnostics) {
        let mut d = Diagnostics::default();
        let mut lx = Lexer::new(
            LexOptions {
                config_id: id.map(str::to_string),
                allow_include: false,
            },
            &mut d,
        );
        lx.text(&Arc::from("t.conf"), text, None);
        let lines = lx
            .finish()
            .into_iter()
            .map(|l| l.into_iter().map(|t| t.text).collect())
            .collect();
        (lines, d)
    }

    #[test]
    fn comments_quotes_and_braces() {
        let (l, d) = lex(
            "g1obal_defs{\n a \"b c\" # x\n ! all comment\n inhibit ! tail\n}\n",
            None,
        );
        assert!(!d.has_errors());
        assert_eq!(
            l,
            vec![
                vec!["g1obal_defs", "{"],
                vec!["a", "b c"],
                vec!["inhibit"],
                vec!["}"]
            ]
        );
    }

    #[test]
    fn hash_inside_word_is_not_a_comment() {
        let (l, _) = lex("auth_pass ab#cd!e\n", None);
        assert_eq!(l, vec![vec!["auth_pass", "ab#cd!e"]]);
    }

    #[test]
    fn token_columns_are_one_based() {
        let mut d = Diagnostics::default();
        let mut lx = Lexer::new(LexOptions::default(), &mut d);
        lx.text(&Arc::from("t.conf"), "x\n    state SLAVER\n", None);
        let lines = lx.finish();
        let t = &lines[1][1];
        assert_eq!((t.loc.line, t.loc.col, t.text.as_str()), (2, 11, "SLAVER"));
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let (_, d) = lex("script \"abc\n", None);
        assert!(
            d.items()[0]
                .to_string()
                .starts_with("t.conf:1:8: error: unterminated")
        );
    }

    #[test]
    fn conditional_lines() {
        let text = "@high priority 170\n@low priority 85\n@^high x 1\n";
        assert_eq!(lex(text, Some("high")).0, vec![vec!["priority", "170"]]);
        assert_eq!(
            lex(text, Some("low")).0,
            vec![vec!["priority", "85"], vec!["x", "1"]]
        );
        assert_eq!(lex(text, None).0, vec![vec!["x", "1"]]);
    }

    #[test]
    fn definitions_and_substitution() {
        let (l, d) = lex(
            "$IF=eth0\n$VIP=10.0.0.1\ninterface $IF\nip ${VIP}/24\nscript \"exit $?\"\n",
            None,
        );
        assert!(!d.has_errors());
        assert_eq!(
            l,
            vec![
                vec!["interface", "eth0"],
                vec!["ip", "10.0.0.1/24"],
                vec!["script", "exit $?"]
            ]
        );
        let (_, d) = lex("x ${NOPE}\n", None);
        assert!(d.items()[0].message.contains("'${NOPE}' is not defined"));
    }

    #[test]
    fn seq_repeats_lines() {
        let (l, d) = lex("~SEQ(i, 1, 2, 5) vip 10.0.0.$i\n", None);
        assert!(!d.has_errors());
        assert_eq!(
            l,
            vec![
                vec!["vip", "10.0.0.1"],
                vec!["vip", "10.0.0.3"],
                vec!["vip", "10.0.0.5"]
            ]
        );
        assert_eq!(
            lex("~SEQ(n, 3) a$n\n", None).0,
            vec![vec!["a1"], vec!["a2"], vec!["a3"]]
        );
        assert_eq!(
            lex("~SEQ(n, 3, 1) a$n\n", None).0,
            vec![vec!["a3"], vec!["a2"], vec!["a1"]]
        );
        assert!(lex("~SEQ(n, 1, 0, 5) x\n", None).1.has_errors());
        assert!(
            lex("~SEQ(n, 1, 1000000) x\n", None).1.items()[0]
                .message
                .contains("at most")
        );
        assert!(lex("~SEQ n\n", None).1.has_errors());
    }

    #[test]
    fn continuation_lines_join() {
        assert_eq!(lex("a b \\\n c\n", None).0, vec![vec!["a", "b", "c"]]);
    }

    #[test]
    fn include_refused_without_files() {
        let (_, d) = lex("include other.conf\n", None);
        assert!(d.items()[0].message.contains("not allowed"));
    }

    #[test]
    fn exponential_substitution_is_bounded() {
        let mut text = String::from("$A0=xxxxxxxxxxxxxxxx\n");
        for i in 1..30 {
            text.push_str(&format!("$A{i}=$A{p}$A{p}\n", p = i - 1));
        }
        text.push_str("x $A29\n");
        let (_, d) = lex(&text, None);
        assert!(d.has_errors());
    }
}
