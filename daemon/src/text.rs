//! Text from outside the daemon (a check's output, a plugin's messages,
//! log lines and metric names) made safe to log or print: control
//! characters (line breaks, terminal escapes) are written as escapes, so
//! that such text can neither forge log lines nor drive a terminal.

#![forbid(unsafe_code)]

/// `s` with every control character escaped (`\n`, `\u{1b}`, ...).
pub fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: plugin log lines and messages kept line breaks and
    /// terminal escapes (a plugin could forge log lines, and `upkeepctl
    /// status` printed raw escapes to the terminal).
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain é"), "plain é");
        assert_eq!(
            escape_controls("ok\nERROR forged line\x1b[31m\r\t"),
            "ok\\nERROR forged line\\u{1b}[31m\\r\\t"
        );
    }
}
