//! Markdown (CommonMark with GitHub tables) to man(7) roff, for the man
//! pages made from `docs/`. Covers what the docs use: headings, paragraphs,
//! emphasis, inline code, code blocks, nested lists, block quotes, tables
//! (tbl(1): the page must start with `'\" t`) and links (text only; an
//! external URL follows in angle brackets).

use pulldown_cmark::{Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd};

/// Renders `md`. Headings of level `top` become `.SH` (upper case), deeper
/// ones `.SS`; anything above `top` is dropped (the page's own title).
pub fn to_roff(md: &str, top: HeadingLevel) -> String {
    let mut w = Writer {
        out: String::new(),
        top,
        lists: Vec::new(),
        item_paragraphs: Vec::new(),
        heading: None,
        link: None,
        table: None,
        code_block: false,
        quote_depth: 0,
    };
    for ev in Parser::new_ext(md, Options::ENABLE_TABLES) {
        w.event(ev);
    }
    // Whatever follows starts on a line of its own.
    if !w.out.is_empty() && !w.out.ends_with('\n') {
        w.out.push('\n');
    }
    w.out
}

/// Whether the roff uses tables (then tbl must run: `'\" t` first line).
pub fn needs_tbl(roff: &str) -> bool {
    roff.lines().any(|l| l == ".TS")
}

struct Table {
    rows: Vec<Vec<String>>,
    cell: Option<String>,
}

struct Writer {
    out: String,
    top: HeadingLevel,
    /// Open lists: the next number of an ordered one, None for bullets.
    lists: Vec<Option<u64>>,
    /// Paragraphs seen in each open list item.
    item_paragraphs: Vec<u32>,
    /// (level, plain text) of the heading being read.
    heading: Option<(HeadingLevel, String)>,
    link: Option<String>,
    table: Option<Table>,
    code_block: bool,
    quote_depth: u32,
}

impl Writer {
    /// Where inline text goes: the heading, the table cell, or the page.
    fn sink(&mut self) -> &mut String {
        if let Some((_, h)) = &mut self.heading {
            return h;
        }
        if let Some(Table { cell: Some(c), .. }) = &mut self.table {
            return c;
        }
        &mut self.out
    }

    fn control(&mut self, line: &str) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.out.push_str(line);
        self.out.push('\n');
    }

    fn text(&mut self, s: &str, code: bool) {
        if self.heading.is_some() {
            self.sink().push_str(s);
            return;
        }
        let mut escaped = escape(s, code);
        if self.table.is_some() {
            // Long identifiers and paths may break after `_` and `/` in
            // narrow cells (`\:` is a break point that prints nothing).
            escaped = escaped.replace('_', "_\\:").replace('/', "/\\:");
        }
        if code {
            let styled = format!("\\fB{escaped}\\fR");
            push_lines(self.sink(), &styled);
        } else {
            push_lines(self.sink(), &escaped);
        }
    }

    fn raw_inline(&mut self, s: &str) {
        if self.heading.is_none() {
            self.sink().push_str(s);
        }
    }

    fn paragraph(&mut self) {
        if let Some(n) = self.item_paragraphs.last_mut() {
            // The first paragraph of a list item follows its .IP.
            *n += 1;
            if *n > 1 {
                self.control(".sp");
            }
        } else {
            self.control(".PP");
        }
    }

    fn event(&mut self, ev: Event<'_>) {
        match ev {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => {
                if self.code_block {
                    for line in t.lines() {
                        let e = escape(line, true);
                        push_lines(&mut self.out, &e);
                        self.out.push('\n');
                    }
                } else {
                    self.text(&t, false);
                }
            }
            Event::Code(t) => self.text(&t, true),
            Event::SoftBreak => {
                if self.table.is_some() || self.heading.is_some() {
                    self.sink().push(' ');
                } else {
                    self.out.push('\n');
                }
            }
            Event::HardBreak => self.control(".br"),
            Event::Rule => self.control(".sp"),
            Event::Html(_) | Event::InlineHtml(_) => {}
            Event::FootnoteReference(_)
            | Event::TaskListMarker(_)
            | Event::InlineMath(_)
            | Event::DisplayMath(_) => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Heading { level, .. } => self.heading = Some((level, String::new())),
            Tag::Paragraph if self.table.is_none() => self.paragraph(),
            Tag::CodeBlock(_) => {
                if let Some(n) = self.item_paragraphs.last_mut() {
                    *n += 1;
                    self.control(".sp");
                } else {
                    self.control(".PP");
                }
                self.control(".RS 4");
                self.control(".nf");
                self.code_block = true;
            }
            Tag::List(first) => {
                if !self.lists.is_empty() {
                    self.control(".RS 2");
                }
                self.lists.push(first);
            }
            Tag::Item => {
                let mark = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!(".IP {n}. 4");
                        *n += 1;
                        m
                    }
                    _ => ".IP \\(bu 2".to_string(),
                };
                self.control(&mark);
                self.item_paragraphs.push(1);
            }
            Tag::BlockQuote(_) => {
                self.quote_depth += 1;
                self.control(".RS 4");
            }
            Tag::Emphasis => self.raw_inline("\\fI"),
            Tag::Strong => self.raw_inline("\\fB"),
            Tag::Strikethrough => {}
            // An autolink's text is its URL already.
            Tag::Link {
                link_type: LinkType::Autolink | LinkType::Email,
                ..
            } => self.link = None,
            Tag::Link { dest_url, .. } => self.link = Some(dest_url.to_string()),
            Tag::Image { .. } => {}
            Tag::Table(_) => {
                self.table = Some(Table {
                    rows: Vec::new(),
                    cell: None,
                })
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(t) = &mut self.table {
                    t.rows.push(Vec::new());
                }
            }
            Tag::TableCell => {
                if let Some(t) = &mut self.table {
                    t.cell = Some(String::new());
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => {
                if let Some((level, text)) = self.heading.take() {
                    let text = text.trim().replace('"', "\\(dq");
                    if level == self.top {
                        self.control(&format!(".SH \"{}\"", text.to_uppercase()));
                    } else if level > self.top {
                        self.control(&format!(".SS \"{text}\""));
                    }
                }
            }
            TagEnd::Paragraph => {}
            TagEnd::CodeBlock => {
                self.code_block = false;
                self.control(".fi");
                self.control(".RE");
            }
            TagEnd::List(_) => {
                self.lists.pop();
                if !self.lists.is_empty() {
                    self.control(".RE");
                } else {
                    self.control(".PP");
                }
            }
            TagEnd::Item => {
                self.item_paragraphs.pop();
            }
            TagEnd::BlockQuote(_) => {
                self.quote_depth = self.quote_depth.saturating_sub(1);
                self.control(".RE");
            }
            TagEnd::Emphasis | TagEnd::Strong => self.raw_inline("\\fR"),
            TagEnd::Link => {
                if let Some(url) = self.link.take()
                    && (url.starts_with("http://") || url.starts_with("https://"))
                {
                    self.text(&format!(" <{url}>"), false);
                }
            }
            TagEnd::TableCell => {
                if let Some(t) = &mut self.table
                    && let Some(c) = t.cell.take()
                    && let Some(row) = t.rows.last_mut()
                {
                    row.push(c);
                }
            }
            TagEnd::Table => {
                if let Some(t) = self.table.take() {
                    self.table_out(&t.rows);
                }
            }
            _ => {}
        }
    }

    fn table_out(&mut self, rows: &[Vec<String>]) {
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
        if cols == 0 {
            return;
        }
        self.control(".PP");
        // Ragged right in the cells: narrow columns cannot be justified.
        self.control(".na");
        self.control(".TS");
        self.control("allbox;");
        self.control(&vec!["lb"; cols].join(" "));
        self.control(&format!("{} .", vec!["l"; cols].join(" ")));
        for row in rows {
            let cells: Vec<String> = (0..cols)
                .map(|i| {
                    let c = row.get(i).map(|s| s.trim()).unwrap_or("");
                    let mut body = String::new();
                    push_lines(&mut body, c);
                    format!("T{{\n{body}\nT}}")
                })
                .collect();
            self.control(&cells.join("\t"));
        }
        self.control(".TE");
        self.control(".ad");
    }
}

/// Appends text, protecting a `.` or `'` at the start of an output line
/// (roff would read it as a request).
fn push_lines(out: &mut String, s: &str) {
    for (i, piece) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let at_line_start = out.is_empty() || out.ends_with('\n');
        if at_line_start && (piece.starts_with('.') || piece.starts_with('\'')) {
            out.push_str("\\&");
        }
        out.push_str(piece);
    }
}

/// roff escapes: backslashes; in code, `-` as a real minus (so that options
/// can be searched and copied).
fn escape(s: &str, code: bool) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => o.push_str("\\e"),
            '-' if code => o.push_str("\\-"),
            '\u{2014}' => o.push_str("\\(em"),
            '\u{2013}' => o.push_str("\\(en"),
            '\u{2192}' => o.push_str("\\(->"),
            '\u{2190}' => o.push_str("\\(<-"),
            '\u{00d7}' => o.push_str("\\(mu"),
            '\u{2264}' => o.push_str("\\(<="),
            '\u{2265}' => o.push_str("\\(>="),
            '\u{00b5}' => o.push_str("\\(mc"),
            '\u{2026}' => o.push_str("..."),
            '\u{201c}' | '\u{201d}' => o.push('"'),
            '\u{2018}' | '\u{2019}' => o.push('\''),
            _ => o.push(ch),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(md: &str) -> String {
        to_roff(md, HeadingLevel::H2)
    }

    #[test]
    fn headings_paragraphs_and_code() {
        let r = render("# Title\n\n## Some part\n\nRun `upkeepd -t` now.\n\n### Sub\n\ntext\n");
        assert!(!r.contains("Title"), "{r}");
        assert!(r.contains(".SH \"SOME PART\"\n.PP\nRun \\fBupkeepd \\-t\\fR now."));
        assert!(r.contains(".SS \"Sub\"\n.PP\ntext"));
    }

    #[test]
    fn a_line_starting_with_a_dot_is_not_a_request() {
        let r = render("x\n.TH is text\n\n```\n.nf\n'quote\n```\n");
        assert!(r.contains("\\&.TH is text"), "{r}");
        assert!(r.contains("\\&.nf\n\\&'quote\n"), "{r}");
        assert!(!r.lines().any(|l| l == ".TH is text"));
    }

    #[test]
    fn backslashes_are_escaped() {
        let r = render("a `\\` b and c\\\\d\n");
        assert!(r.contains("\\fB\\e\\fR"), "{r}");
        assert!(r.contains("c\\ed"), "{r}");
    }

    #[test]
    fn tables_become_tbl() {
        let r = render("| a | b |\n|---|---|\n| `x-y` | two words |\n");
        assert!(needs_tbl(&r));
        assert!(r.contains(".TS\nallbox;\nlb lb\nl l .\n"), "{r}");
        assert!(
            r.contains("T{\n\\fBx\\-y\\fR\nT}\tT{\ntwo words\nT}"),
            "{r}"
        );
        assert!(r.trim_end().ends_with(".TE\n.ad"));
    }

    #[test]
    fn lists_nest_and_links_keep_their_text() {
        let r = render(
            "- one [ref](#anchor)\n- two <https://example.org>\n  - inner\n\n1. first\n2. second\n",
        );
        assert!(r.contains(".IP \\(bu 2\none ref\n"), "{r}");
        assert!(r.contains(".RS 2\n.IP \\(bu 2\ninner\n.RE"), "{r}");
        assert!(r.contains(".IP 1. 4\nfirst"), "{r}");
        assert!(r.contains(".IP 2. 4\nsecond"), "{r}");
        assert!(!r.contains("#anchor"));
    }
}
