//! keepalived.conf lexer and preprocessor, following keepalived.conf(5)
//! "Configuration file format": `!` and `#` comments, `"quoted strings"`,
//! `include GLOB` (relative to the including file), `$NAME=value` definitions
//! with `$NAME` / `${NAME}` substitution, `@ID` / `@^ID` conditional lines,
//! `~SEQ(VAR, [START,] [STEP,] END)` line repetition, and `\` line continuation.
//!
//! Output is a list of lines of located tokens; `{` and `}` are tokens of
//! their own. Every limit here (include depth, SEQ expansion, line length)
//! exists so that hostile input gets an error instead of exhausting memory.

use std::collections::{HashMap, HashSet};
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
/// Definitions expanded inside definitions, deeper than any real use.
const MAX_EXPANSION_DEPTH: usize = 64;
/// Lines processed, expansions included: definitions that double each other
/// stop here even when their lines produce no tokens.
const MAX_STEPS: usize = if cfg!(test) {
    100_000
} else {
    4 * MAX_TOTAL_LINES
};
/// Errors from expanding definitions (one mistake in a `~SEQ`'d block repeats).
const MAX_EXPANSION_ERRORS: usize = 1000;

type DefLines = Arc<Vec<(Location, String)>>;

/// A `$NAME=value` definition, kept as written: like keepalived
/// (lib/parser.c `replace_param`), the value is expanded where it is used,
/// with the definitions in force there (`${VRID}` set by `~SEQ`).
#[derive(Clone, Debug)]
struct Def {
    /// Where `$NAME=` was written.
    at: Location,
    /// The value's lines, each with where it was written (shared: a
    /// definition is looked up on every use).
    lines: DefLines,
    /// Written over several lines with `\`: its first line replaces the
    /// reference and the others follow as lines of their own, so it may only
    /// be used at the end of a line (keepalived's `find_definition`).
    multiline: bool,
}

/// `@ID` / `@^ID` at the start of a line.
enum Cond {
    /// No condition.
    Plain,
    /// The line applies; the rest starts at this byte offset.
    Keep(usize),
    /// The line is for another configuration id.
    Drop,
    Malformed,
}

/// One line after substitution, and the lines of multi-line definitions
/// that follow it (innermost first, as keepalived's multiline stack does).
#[derive(Default)]
struct Expanded {
    text: String,
    /// (definition, its lines, how many of them are already used).
    follow: Vec<(String, DefLines, usize)>,
}

/// Substitution failed (reported); the line is dropped.
struct Abandon;

pub struct Lexer<'d> {
    opts: LexOptions,
    defs: HashMap<String, Def>,
    diags: &'d mut Diagnostics,
    out: Vec<Line>,
    stack: Vec<PathBuf>,
    /// The multi-line definition whose lines are being read.
    collecting: Option<String>,
    /// Multi-line definitions being expanded, with where each was used:
    /// for loops and for messages about their lines.
    expanding: Vec<(String, Location)>,
    steps: usize,
    expansion_errors: usize,
    /// A limit was reached (and reported): nothing more is read.
    stopped: bool,
    /// Messages given once per place, not once per `~SEQ` value.
    warned: HashSet<(Location, String)>,
}

impl<'d> Lexer<'d> {
    pub fn new(opts: LexOptions, diags: &'d mut Diagnostics) -> Self {
        Self {
            opts,
            defs: HashMap::new(),
            diags,
            out: Vec::new(),
            stack: Vec::new(),
            collecting: None,
            expanding: Vec::new(),
            steps: 0,
            expansion_errors: 0,
            stopped: false,
            warned: HashSet::new(),
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
            if self.collecting.is_some() {
                self.definition_line(file, lineno, raw);
                continue;
            }
            if pending.is_empty() {
                pending_line = lineno;
                if self.multiline_definition(file, lineno, raw) {
                    continue;
                }
            }
            // `\` at the end joins the next line (an upkeep extension; a
            // definition's `\` starts a multi-line definition instead).
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
        // A definition does not run on into the file after this one.
        self.collecting = None;
    }

    /// `$NAME=first \` starts a multi-line definition: true when `raw` does.
    fn multiline_definition(&mut self, file: &Arc<str>, lineno: u32, raw: &str) -> bool {
        let content = strip_comment(raw);
        let lead = content.len() - content.trim_start().len();
        let mut body = content.trim();
        let mut offset = lead;
        match condition(body, self.opts.config_id.as_deref()) {
            Cond::Keep(rest) => {
                offset += rest;
                body = body.get(rest..).unwrap_or("");
            }
            Cond::Plain => {}
            Cond::Drop | Cond::Malformed => return false,
        }
        let Some((name, value)) = body.strip_prefix('$').and_then(|d| d.split_once('=')) else {
            return false;
        };
        let name = name.trim();
        let Some(first) = value.strip_suffix('\\') else {
            return false;
        };
        if !is_var_name(name) {
            return false;
        }
        let at = Location::new(file, lineno, col_at(content, offset));
        let first = first.trim();
        let mut lines = Vec::new();
        if !first.is_empty() {
            let value_off = offset + body.len() - value.trim_start().len();
            lines.push((
                Location::new(file, lineno, col_at(content, value_off)),
                first.to_string(),
            ));
        }
        self.defs.insert(
            name.to_string(),
            Def {
                at,
                lines: Arc::new(lines),
                multiline: true,
            },
        );
        self.collecting = Some(name.to_string());
        true
    }

    /// A line of the multi-line definition being read. As in keepalived, an
    /// empty line or one without `\` ends it; comment-only lines are skipped.
    fn definition_line(&mut self, file: &Arc<str>, lineno: u32, raw: &str) {
        let Some(name) = self.collecting.clone() else {
            return;
        };
        if raw.trim_end_matches('\r').is_empty() {
            self.collecting = None;
            return;
        }
        let content = strip_comment(raw);
        let body = content.trim();
        if body.is_empty() {
            return;
        }
        let lead = content.len() - content.trim_start().len();
        let (text, more) = match body.strip_suffix('\\') {
            Some(t) => (t.trim_end(), true),
            None => (body, false),
        };
        if let Some(def) = self.defs.get_mut(&name)
            && !text.is_empty()
        {
            let len: usize = def.lines.iter().map(|(_, l)| l.len()).sum();
            if len + text.len() > MAX_LINE_LEN * 16 {
                let at = Location::new(file, lineno, 1);
                self.diags.error(
                    Some(&at),
                    format!(
                        "definition '${name}' is longer than {} bytes",
                        MAX_LINE_LEN * 16
                    ),
                );
                self.collecting = None;
                return;
            }
            Arc::make_mut(&mut def.lines).push((
                Location::new(file, lineno, col_at(content, lead)),
                text.to_string(),
            ));
        }
        if !more {
            self.collecting = None;
        }
    }

    /// Counts a line; false (with one error) once a limit is reached.
    fn step(&mut self, loc: &Location) -> bool {
        if self.stopped {
            return false;
        }
        self.steps += 1;
        let why = if self.out.len() >= MAX_TOTAL_LINES {
            format!("configuration longer than {MAX_TOTAL_LINES} lines")
        } else if self.steps > MAX_STEPS {
            format!("definitions and ~SEQ expand to more than {MAX_STEPS} lines")
        } else if self.expansion_errors > MAX_EXPANSION_ERRORS {
            format!("more than {MAX_EXPANSION_ERRORS} errors expanding definitions; stopped")
        } else {
            return true;
        };
        self.diags.error(Some(loc), why);
        self.stopped = true;
        false
    }

    /// An error in expanding a definition: once per place and message (a
    /// `~SEQ` repeats the same mistake), but each counts towards the limit.
    fn expansion_error(&mut self, loc: &Location, message: String) {
        self.expansion_errors += 1;
        if self.warned.insert((loc.clone(), message.clone())) {
            self.diags.error(Some(loc), message);
        }
    }

    fn logical_line(&mut self, file: &Arc<str>, lineno: u32, line: &str, dir: Option<&Path>) {
        let content = strip_comment(line);
        let trimmed_start = content.len() - content.trim_start().len();
        let body = content.trim();
        if body.is_empty() {
            return;
        }
        let loc = Location::new(file, lineno, col_at(content, trimmed_start));
        self.statement(&loc, body, dir);
    }

    /// One line, comments removed: from the file, from a multi-line
    /// definition or from `~SEQ`.
    fn statement(&mut self, loc: &Location, body: &str, dir: Option<&Path>) {
        if !self.step(loc) {
            return;
        }
        // `@ID rest` / `@^ID rest`: keep the rest only for (or except for) that config id.
        match condition(body, self.opts.config_id.as_deref()) {
            Cond::Plain => self.conditioned_line(loc, body, dir),
            Cond::Keep(offset) => {
                let rest = body.get(offset..).unwrap_or("");
                let shift = body.get(..offset).map_or(0, |s| s.chars().count());
                let rest_loc = Location::new(
                    &loc.file,
                    loc.line,
                    loc.col + u32::try_from(shift).unwrap_or(0),
                );
                self.conditioned_line(&rest_loc, rest, dir);
            }
            Cond::Drop => {}
            Cond::Malformed => self
                .diags
                .error(Some(loc), "'@' must be followed by a configuration id"),
        }
    }

    fn conditioned_line(&mut self, loc: &Location, body: &str, dir: Option<&Path>) {
        // `$NAME=value` defines; the value is kept as written and expanded
        // where it is used (keepalived.conf(5), lib/parser.c).
        if let Some(def) = body.strip_prefix('$')
            && let Some((name, value)) = def.split_once('=')
        {
            let name = name.trim();
            if is_var_name(name) {
                let value = value.trim();
                let vloc = Location::new(
                    &loc.file,
                    loc.line,
                    loc.col
                        + u32::try_from(
                            body.get(..body.len() - value.len())
                                .map_or(0, |s| s.chars().count()),
                        )
                        .unwrap_or(0),
                );
                self.defs.insert(
                    name.to_string(),
                    Def {
                        at: loc.clone(),
                        lines: Arc::new(vec![(vloc, value.to_string())]),
                        multiline: false,
                    },
                );
                return;
            }
        }
        if let Some(seq) = body.strip_prefix("~SEQ") {
            self.seq_line(loc, seq, dir);
            return;
        }
        let expanded = if body.contains('$') {
            match self.substitute(loc, body) {
                Ok(e) => e,
                Err(Abandon) => return,
            }
        } else {
            Expanded {
                text: body.to_string(),
                follow: Vec::new(),
            }
        };
        // A definition may expand to a `~SEQ`, `@ID` or definition line.
        if expanded.text != body
            && (expanded.text.starts_with("~SEQ")
                || expanded.text.starts_with('@')
                || expanded.text.starts_with('$'))
            && self.expanding.len() < MAX_EXPANSION_DEPTH
        {
            self.expanding.push((String::new(), loc.clone()));
            self.statement(loc, expanded.text.trim(), dir);
            self.expanding.pop();
        } else {
            let tokens = tokenize(loc, &expanded.text, self.diags);
            if let Some(first) = tokens.first()
                && !first.quoted
                && first.text == "include"
            {
                self.include(&tokens, dir);
            } else if !tokens.is_empty() {
                self.out.push(tokens);
            }
        }
        for (name, lines, skip) in expanded.follow {
            self.expanding.push((name, loc.clone()));
            for (at, text) in lines.iter().skip(skip) {
                if self.stopped {
                    break;
                }
                self.statement(at, text, dir);
            }
            self.expanding.pop();
        }
    }

    /// `~SEQ(VAR, END)`, `~SEQ(VAR, START, END)` or `~SEQ(VAR, START, STEP, END)`
    /// followed by a line that is processed once per value with `$VAR` set
    /// (`~SEQx`: the values in hexadecimal). The numbers may be definitions.
    fn seq_line(&mut self, loc: &Location, after: &str, dir: Option<&Path>) {
        let (hex, after) = match after.strip_prefix('x') {
            Some(a) => (true, a),
            None => (false, after),
        };
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
        let Some((var, nums)) = args.split_once(',') else {
            self.diags
                .error(Some(loc), "~SEQ: expected '(VAR, [START,] [STEP,] END)'");
            return;
        };
        let var = var.trim();
        if !is_var_name(var) {
            self.diags
                .error(Some(loc), format!("~SEQ: '{var}' is not a variable name"));
            return;
        }
        let nums = if nums.contains('$') {
            match self.substitute(loc, nums) {
                Ok(e) if e.follow.is_empty() => e.text,
                Ok(_) => {
                    self.diags.error(
                        Some(loc),
                        "~SEQ: a multi-line definition cannot give its numbers",
                    );
                    return;
                }
                Err(Abandon) => return,
            }
        } else {
            nums.to_string()
        };
        let nums: Result<Vec<i64>, _> = nums.split(',').map(|n| n.trim().parse::<i64>()).collect();
        let (start, step, end) = match nums.as_deref() {
            // keepalived: `~SEQ(V, N)` counts from 1 (or -1) towards N.
            Ok([end]) => (
                if *end < 0 { -1 } else { 1 },
                if *end < 1 { -1 } else { 1 },
                *end,
            ),
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
        if hex && (start < 0 || end < 0) {
            self.diags
                .error(Some(loc), "~SEQx: only for numbers that are not negative");
            return;
        }
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
        // As in keepalived, VAR keeps its last value after the sequence.
        let mut v = start;
        for _ in 0..count {
            if self.stopped {
                break;
            }
            let value = if hex { format!("{v:x}") } else { v.to_string() };
            self.defs.insert(
                var.to_string(),
                Def {
                    at: loc.clone(),
                    lines: Arc::new(vec![(loc.clone(), value)]),
                    multiline: false,
                },
            );
            self.statement(loc, &rest, dir);
            v += step;
        }
    }

    fn include(&mut self, tokens: &[Token], dir: Option<&Path>) {
        let Some(kw) = tokens.first() else { return };
        let loc = &kw.loc;
        let file = Arc::clone(&loc.file);
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
                    file_dir(&file, dir)
                ),
            );
        }
        for p in matched {
            self.file(&p, Some(&pattern.loc));
        }
    }

    /// " (in '$NAME', used at FILE:LINE:COL)" for a line of a multi-line
    /// definition, so that a message about it says which use it came from.
    fn used_at(&self) -> String {
        self.expanding
            .iter()
            .rev()
            .find(|(n, _)| !n.is_empty())
            .map(|(n, at)| format!(" (in '${n}', used at {at})"))
            .unwrap_or_default()
    }

    /// Replaces `${NAME}` and `$NAME` by definitions, as keepalived's
    /// `replace_param` does: a bare `$NAME` only before a space, a tab, `,`,
    /// `)` or the end of the line; a multi-line definition only at the end of
    /// the line (its other lines follow). An unknown `${NAME}` is an error;
    /// an unknown bare `$NAME` is left as written (scripts use `$`).
    fn substitute(&mut self, loc: &Location, text: &str) -> Result<Expanded, Abandon> {
        let mut ex = Expanded::default();
        let mut names = Vec::new();
        self.substitute_into(loc, text, true, &mut names, &mut ex)?;
        Ok(ex)
    }

    fn substitute_into(
        &mut self,
        loc: &Location,
        text: &str,
        at_end: bool,
        names: &mut Vec<String>,
        ex: &mut Expanded,
    ) -> Result<(), Abandon> {
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            ex.text.push_str(rest.get(..pos).unwrap_or(""));
            let after = rest.get(pos + 1..).unwrap_or("");
            let braced = after.starts_with('{');
            let name_start = usize::from(braced);
            let name_len = ident_len(after.get(name_start..).unwrap_or(""));
            let name = after.get(name_start..name_start + name_len).unwrap_or("");
            let next = after.get(name_start + name_len..).unwrap_or("");
            let (is_ref, tail) = if name.is_empty() {
                (false, after)
            } else if braced {
                match next.strip_prefix('}') {
                    Some(t) => (true, t),
                    None => (false, after),
                }
            } else {
                (true, next)
            };
            if !is_ref {
                ex.text.push('$');
                rest = after;
                continue;
            }
            let written = format!("${}", after.get(..after.len() - tail.len()).unwrap_or(""));
            let ends_line = at_end && tail.trim().is_empty();
            let Some(def) = self.defs.get(name).cloned() else {
                if braced {
                    let msg = format!(
                        "'{written}' is not defined (define it with '${name}=VALUE'){}{}",
                        in_value(names, &self.defs),
                        self.used_at()
                    );
                    self.expansion_error(loc, msg);
                }
                ex.text.push_str(&written);
                rest = tail;
                continue;
            };
            if !braced && !next.is_empty() && !next.starts_with([' ', '\t', ',', ')']) {
                // keepalived leaves `$NAME` glued to other text as it is.
                if self.warned.insert((loc.clone(), name.to_string())) {
                    self.diags.warning(
                        Some(loc),
                        format!(
                            "'${name}' is followed by '{}' so it is not substituted (as in keepalived); write '${{{name}}}' to substitute it",
                            next.chars().next().unwrap_or(' ')
                        ),
                    );
                }
                ex.text.push_str(&written);
                rest = tail;
                continue;
            }
            if names.iter().any(|n| n == name) || self.expanding.iter().any(|(n, _)| n == name) {
                let msg = format!(
                    "definition '${name}' uses itself (directly or through other definitions){}",
                    self.used_at()
                );
                self.expansion_error(loc, msg);
                return Err(Abandon);
            }
            if names.len() + self.expanding.len() >= MAX_EXPANSION_DEPTH {
                let msg = format!(
                    "definitions used inside definitions more than {MAX_EXPANSION_DEPTH} deep at '{written}'{}",
                    self.used_at()
                );
                self.expansion_error(loc, msg);
                return Err(Abandon);
            }
            if def.multiline && !ends_line {
                let msg = format!(
                    "'{written}' is a multi-line definition (defined at {}): use it at the end of a line{}",
                    def.at,
                    self.used_at()
                );
                self.expansion_error(loc, msg);
                return Err(Abandon);
            }
            if def.multiline && ex.text.trim().is_empty() {
                // The whole line is the reference: every line of the
                // definition stands as written, with its own location.
                ex.follow.push((name.to_string(), def.lines, 0));
                rest = tail;
                continue;
            }
            names.push(name.to_string());
            if let Some((_, first)) = def.lines.first() {
                self.substitute_into(loc, first, ends_line, names, ex)?;
            }
            names.pop();
            if def.multiline && def.lines.len() > 1 {
                ex.follow.push((name.to_string(), def.lines, 1));
            }
            if ex.text.len() > MAX_LINE_LEN {
                let msg = format!("line longer than {MAX_LINE_LEN} bytes after substitution");
                self.expansion_error(loc, msg);
                return Err(Abandon);
            }
            rest = tail;
        }
        ex.text.push_str(rest);
        Ok(())
    }
}

/// " (in the value of '$NAME', defined at ...)" for an error inside a
/// definition's value.
fn in_value(names: &[String], defs: &HashMap<String, Def>) -> String {
    names
        .last()
        .and_then(|n| defs.get(n).map(|d| (n, d)))
        .map(|(n, d)| format!(" (in the value of '${n}', defined at {})", d.at))
        .unwrap_or_default()
}

/// `@ID rest` / `@^ID rest` against the configuration id.
fn condition(body: &str, config_id: Option<&str>) -> Cond {
    let Some(cond) = body.strip_prefix('@') else {
        return Cond::Plain;
    };
    let (id, rest) = cond.split_once(char::is_whitespace).unwrap_or((cond, ""));
    let (negate, id) = match id.strip_prefix('^') {
        Some(i) => (true, i),
        None => (false, id),
    };
    if id.is_empty() {
        return Cond::Malformed;
    }
    if (config_id == Some(id)) != negate {
        Cond::Keep(body.len() - rest.trim_start().len())
    } else {
        Cond::Drop
    }
}

/// The 1-based column of byte `offset` of `line`.
fn col_at(line: &str, offset: usize) -> u32 {
    let chars = line.get(..offset).map_or(0, |s| s.chars().count());
    u32::try_from(chars + 1).unwrap_or(u32::MAX)
}

/// Length of the identifier `[A-Za-z_][A-Za-z0-9_]*` at the start of `s`.
fn ident_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return 0,
    }
    chars
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(s.len(), |(i, _)| i)
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

    /// (text, file:line:col) of every token.
    fn lex_located(files: &[(&str, &str)]) -> (Vec<Vec<(String, String)>>, Diagnostics) {
        let mut d = Diagnostics::default();
        let mut lx = Lexer::new(LexOptions::default(), &mut d);
        for (name, text) in files {
            lx.text(&Arc::from(*name), text, None);
        }
        let lines = lx
            .finish()
            .into_iter()
            .map(|l| l.into_iter().map(|t| (t.text, t.loc.to_string())).collect())
            .collect();
        (lines, d)
    }

    fn texts(lines: &[Vec<(String, String)>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                l.iter()
                    .map(|(t, _)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// Regression (issue 15 corpus, macros-seq-multi-instance.conf): a
    /// multi-line definition's `${VRID}` is expanded where it is used, once
    /// per `~SEQ` value, and its tokens keep the lines they were written on.
    #[test]
    fn multiline_definition_expands_where_used() {
        let text = [
            "$IF=eth0",
            "$INSTANCE= \\",
            "vrrp_instance VI_${VRID} { \\",
            "    interface $IF \\",
            "    virtual_router_id ${VRID} \\",
            "}",
            "",
            "~SEQ(VRID, 101, 102) $INSTANCE",
        ]
        .join("\n");
        let (l, d) = lex_located(&[("t.conf", &text)]);
        assert!(d.items().is_empty(), "{:?}", d.items());
        assert_eq!(
            texts(&l),
            [
                "vrrp_instance VI_101 {",
                "interface eth0",
                "virtual_router_id 101",
                "}",
                "vrrp_instance VI_102 {",
                "interface eth0",
                "virtual_router_id 102",
                "}"
            ]
        );
        assert_eq!(l[0][0].1, "t.conf:3:1");
        assert_eq!(l[6][0], ("virtual_router_id".into(), "t.conf:5:5".into()));
        assert_eq!(l[6][1].1, "t.conf:5:23");
    }

    #[test]
    fn definitions_are_expanded_with_the_values_in_force_where_used() {
        let (l, d) = lex("$A=x${B}\n$B=1\nv $A\n$B=2\nv $A\n", None);
        assert!(!d.has_errors(), "{:?}", d.items());
        assert_eq!(l, vec![vec!["v", "x1"], vec!["v", "x2"]]);
        // Written but never used: nothing to complain about.
        let (_, d) = lex("$A=${NOPE}\n", None);
        assert!(d.items().is_empty());
    }

    #[test]
    fn undefined_names_are_reported_where_used() {
        let text = "$M= \\\nx ${NOPE} \\\ny\n\nfoo\n$M\n";
        let (_, d) = lex(text, None);
        let e: Vec<String> = d.items().iter().map(ToString::to_string).collect();
        assert_eq!(
            e,
            [
                "t.conf:2:1: error: '${NOPE}' is not defined (define it with '$NOPE=VALUE') (in '$M', used at t.conf:6:1)"
            ]
        );
        // Once, though the sequence uses it twice.
        let (_, d) = lex(&text.replace("\n$M\n", "\n~SEQ(i, 2) $M\n"), None);
        assert_eq!(d.items().len(), 1, "{:?}", d.items());
        let (_, d) = lex("$A=a ${NOPE}\n\nx $A\n", None);
        let e: Vec<String> = d.items().iter().map(ToString::to_string).collect();
        assert_eq!(
            e,
            [
                "t.conf:3:1: error: '${NOPE}' is not defined (define it with '$NOPE=VALUE') (in the value of '$A', defined at t.conf:1:1)"
            ]
        );
    }

    #[test]
    fn a_definition_keeps_the_file_it_was_written_in() {
        let (l, d) = lex_located(&[
            ("defs.conf", "$BLOCK=\\\n  a 1 \\\n  b ${N}\n"),
            ("main.conf", "$N=7\n$BLOCK\n"),
        ]);
        assert!(d.items().is_empty(), "{:?}", d.items());
        assert_eq!(texts(&l), ["a 1", "b 7"]);
        assert_eq!(l[1][1].1, "defs.conf:3:5");
    }

    #[test]
    fn keepalived_substitution_rules() {
        // `$NAME` glued to other text stays as written (keepalived does too).
        let (l, d) = lex("$VIP=10.0.0.1\nip $VIP/24 ${VIP}/24 $VIP,x\n", None);
        assert_eq!(l, vec![vec!["ip", "$VIP/24", "10.0.0.1/24", "10.0.0.1,x"]]);
        assert!(d.items()[0].message.contains("write '${VIP}'"));
        assert!(!d.has_errors());
        // A multi-line definition in the middle of a line is an error.
        let (_, d) = lex("$M=\\\na \\\nb\n\nx $M y\n", None);
        assert!(d.items()[0].message.contains("multi-line definition"));
        // Its first line joins what comes before it; the others follow.
        assert_eq!(
            lex("$M=\\\na \\\nb\n\nx $M\n", None).0,
            vec![vec!["x", "a"], vec!["b"]]
        );
        // A definition that uses itself is an error, not a hang.
        assert!(
            lex("$A=${A}x\ny $A\n", None).1.items()[0]
                .message
                .contains("uses itself")
        );
        assert!(
            lex("$M=\\\na \\\n$M\n\n$M\n", None).1.items()[0]
                .message
                .contains("uses itself")
        );
    }

    #[test]
    fn seq_inside_definitions_and_definitions_in_seq() {
        // keepalived 2.2.7 gives unknown_b_1_1 .. unknown_b_2_2 for this.
        let text = "$KW=\\\n  a_${N} \\\n  ~SEQ(M, 2) b_${N}_$M\n\n$TWO=2\n~SEQ(N, $TWO) $KW\n";
        let (l, d) = lex(text, None);
        assert!(!d.has_errors(), "{:?}", d.items());
        let flat: Vec<String> = l.into_iter().flatten().collect();
        assert_eq!(flat, ["a_1", "b_1_1", "b_1_2", "a_2", "b_2_1", "b_2_2"]);
        assert_eq!(
            lex("~SEQx(i, 9, 3, 15) v$i\n", None).0,
            vec![vec!["v9"], vec!["vc"], vec!["vf"]]
        );
        // The variable keeps its last value, as in keepalived.
        assert_eq!(
            lex("~SEQ(i, 2) x\ny ${i}\n", None).0,
            vec![vec!["x"], vec!["x"], vec!["y", "2"]]
        );
    }

    #[test]
    fn exponential_substitution_is_bounded() {
        let mut text = String::from("$A0=xxxxxxxxxxxxxxxx\n");
        for i in 1..30 {
            text.push_str(&format!("$A{i}=${{A{p}}}${{A{p}}}\n", p = i - 1));
        }
        text.push_str("x $A29\n");
        let (_, d) = lex(&text, None);
        assert!(d.has_errors());
        // Multi-line definitions doubling each other: bounded by the lines
        // processed even when (as here, `@` for another id) none is kept.
        let mut text = String::from("$M0=\\\n@other a\n\n");
        for i in 1..40 {
            text.push_str(&format!("$M{i}=\\\n$M{p} \\\n$M{p}\n\n", p = i - 1));
        }
        text.push_str("$M39\n");
        let (l, d) = lex(&text, None);
        assert!(
            d.items()[0].message.contains("expand to more than"),
            "{:?}",
            d.items()
        );
        assert!(l.is_empty());
    }
}
