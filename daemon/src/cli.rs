//! The two command-line programs: their clap definitions (here, so that
//! man pages and completions come from the same source) and shared pieces.

#![forbid(unsafe_code)]

pub mod upkeepctl;
pub mod upkeepd;

use std::io::Write;

use crate::config::Diagnostics;

/// Prints diagnostics to stderr in `FILE:LINE:COL: severity: message` form,
/// sorted by position, followed by a one-line summary when there are any.
pub fn print_diagnostics(diags: &Diagnostics) {
    let stderr = std::io::stderr();
    let mut out = stderr.lock();
    for d in diags.sorted() {
        let _ = writeln!(out, "{d}");
    }
    let errors = diags.error_count();
    let warnings = diags.items().len() - errors;
    if errors + warnings > 0 {
        let _ = writeln!(out, "{errors} error(s), {warnings} warning(s)");
    }
}
