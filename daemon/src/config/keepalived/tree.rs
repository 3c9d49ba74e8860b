//! Turns lexed lines into a tree of statements: `keyword args... [{ block }]`.
//! A `{` may end the keyword's line or stand on the next line; `}` closes the
//! innermost block. Unbalanced braces are reported and the tree stays usable.

use super::lexer::{Line, Token};
use crate::config::diag::Diagnostics;

#[derive(Clone, Debug)]
pub struct Node {
    pub word: Token,
    pub args: Vec<Token>,
    pub block: Option<Vec<Node>>,
}

impl Node {
    /// The argument texts, for parsers that need plain words.
    pub fn arg_words(&self) -> Vec<&str> {
        self.args.iter().map(|t| t.text.as_str()).collect()
    }

    /// The keyword followed by its arguments, for list-like blocks.
    pub fn all_words(&self) -> Vec<&str> {
        std::iter::once(self.word.text.as_str())
            .chain(self.args.iter().map(|t| t.text.as_str()))
            .collect()
    }
}

struct Frame {
    nodes: Vec<Node>,
    /// The statement whose block this frame is, if any (None at top level).
    owner: Option<Node>,
}

pub fn build(lines: Vec<Line>, diags: &mut Diagnostics) -> Vec<Node> {
    let mut stack: Vec<Frame> = vec![Frame {
        nodes: Vec::new(),
        owner: None,
    }];
    for line in lines {
        let mut current: Vec<Token> = Vec::new();
        for tok in line {
            if tok.is_open() {
                let owner = if current.is_empty() {
                    // A lone `{` opens the block of the previous statement.
                    take_previous_blockless(&mut stack)
                } else {
                    Some(statement(std::mem::take(&mut current)))
                };
                match owner {
                    Some(node) => stack.push(Frame {
                        nodes: Vec::new(),
                        owner: Some(node),
                    }),
                    None => {
                        diags.error(Some(&tok.loc), "'{' without a keyword before it");
                        // Still track nesting so the matching '}' is consumed.
                        stack.push(Frame {
                            nodes: Vec::new(),
                            owner: None,
                        });
                    }
                }
            } else if tok.is_close() {
                flush(&mut stack, &mut current);
                if stack.len() <= 1 {
                    diags.error(Some(&tok.loc), "unmatched '}': no block is open here");
                } else {
                    close_frame(&mut stack);
                }
            } else {
                current.push(tok);
            }
        }
        flush(&mut stack, &mut current);
    }
    while stack.len() > 1 {
        if let Some(owner) = stack.last().and_then(|f| f.owner.as_ref()) {
            diags.error(
                Some(&owner.word.loc),
                format!(
                    "block of '{}' is not closed: expected '}}' before the end of the file",
                    owner.word.text
                ),
            );
        }
        close_frame(&mut stack);
    }
    stack.pop().map(|f| f.nodes).unwrap_or_default()
}

fn statement(mut tokens: Vec<Token>) -> Node {
    let word = tokens.remove(0);
    Node {
        word,
        args: tokens,
        block: None,
    }
}

fn flush(stack: &mut [Frame], current: &mut Vec<Token>) {
    if current.is_empty() {
        return;
    }
    let node = statement(std::mem::take(current));
    if let Some(top) = stack.last_mut() {
        top.nodes.push(node);
    }
}

fn take_previous_blockless(stack: &mut [Frame]) -> Option<Node> {
    let top = stack.last_mut()?;
    match top.nodes.last() {
        Some(n) if n.block.is_none() => top.nodes.pop(),
        _ => None,
    }
}

fn close_frame(stack: &mut Vec<Frame>) {
    let Some(frame) = stack.pop() else { return };
    let Some(parent) = stack.last_mut() else {
        return;
    };
    // An ownerless block's contents were already reported; keep them out.
    if let Some(mut owner) = frame.owner {
        owner.block = Some(frame.nodes);
        parent.nodes.push(owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keepalived::lexer::{LexOptions, Lexer};
    use std::sync::Arc;

    fn tree(text: &str) -> (Vec<Node>, Diagnostics) {
        let mut d = Diagnostics::default();
        let mut lx = Lexer::new(LexOptions::default(), &mut d);
        lx.text(&Arc::from("t.conf"), text, None);
        let lines = lx.finish();
        let nodes = build(lines, &mut d);
        (nodes, d)
    }

    #[test]
    fn nested_blocks() {
        let (n, d) = tree("a {\n b 1\n c {\n  d\n }\n}\ne 2\n");
        assert!(!d.has_errors());
        assert_eq!(n.len(), 2);
        let a = n[0].block.as_ref().unwrap();
        assert_eq!(a[0].arg_words(), vec!["1"]);
        assert_eq!(a[1].block.as_ref().unwrap()[0].word.text, "d");
    }

    #[test]
    fn brace_on_next_line_and_one_line_blocks() {
        let (n, d) = tree("vrrp_instance X\n{\n virtual_ipaddress { 10.0.0.1 }\n}\n");
        assert!(!d.has_errors());
        let inner = n[0].block.as_ref().unwrap();
        assert_eq!(inner[0].block.as_ref().unwrap()[0].word.text, "10.0.0.1");
    }

    #[test]
    fn unbalanced_braces_are_reported() {
        let (_, d) = tree("a {\n b\n");
        assert!(
            d.items()[0]
                .to_string()
                .contains("t.conf:1:1: error: block of 'a' is not closed")
        );
        let (_, d) = tree("}\n");
        assert!(d.items()[0].message.contains("unmatched '}'"));
        let (_, d) = tree("{\n}\n");
        assert!(d.items()[0].message.contains("without a keyword"));
    }
}
