//! A YAML tree that keeps the source position of every node.
//!
//! Rule errors must point at `file:line:column`, and the common YAML crates drop
//! positions once a document is loaded.  This module builds its own small tree from
//! `yaml-rust2`'s marked event stream; anchors/aliases resolve to a copy of the
//! anchored node.  Nothing here panics on any input text.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in a source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
    /// Character index in the source (for aligning scalar text with its source).
    pub index: usize,
}

/// How a scalar was written, which decides how its text maps back to the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Scalar(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }
    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Scalar(..) => "a scalar",
            Kind::Seq(_) => "a sequence",
            Kind::Map(_) => "a mapping",
        }
    }
    /// True for a YAML null (`~`, `null` or an empty plain scalar).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s, Style::Plain) if s.is_empty() || s == "~" || s == "null")
    }
}

fn pos(m: &Marker) -> Pos {
    // yaml-rust2 reports 1-based lines but 0-based columns.
    Pos {
        line: m.line(),
        col: m.col() + 1,
        index: m.index(),
    }
}

enum Frame {
    Seq(Vec<Node>, Pos, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Pos, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: Vec<(usize, Node)>,
    alias_error: Option<Pos>,
}

impl Builder {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            Some(Frame::Seq(items, _, _)) => items.push(node),
            Some(Frame::Map(entries, key, _, _)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => *key = Some(node),
            },
            None => self.docs.push(node),
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let p = pos(&mark);
        match ev {
            Event::Scalar(text, style, anchor, _) => {
                let style = match style {
                    TScalarStyle::Plain => Style::Plain,
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => Style::Quoted,
                    TScalarStyle::Literal | TScalarStyle::Folded => Style::Block,
                };
                self.push_node(
                    Node {
                        kind: Kind::Scalar(text, style),
                        pos: p,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(Vec::new(), p, anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(Vec::new(), None, p, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(items, p, a)) => (
                        Node {
                            kind: Kind::Seq(items),
                            pos: p,
                        },
                        a,
                    ),
                    Some(Frame::Map(entries, _, p, a)) => (
                        Node {
                            kind: Kind::Map(entries),
                            pos: p,
                        },
                        a,
                    ),
                    None => return,
                };
                self.push_node(node, anchor);
            }
            Event::Alias(id) => match self.anchors.iter().rev().find(|(a, _)| *a == id) {
                Some((_, n)) => {
                    let n = n.clone();
                    self.push_node(n, 0)
                }
                None => self.alias_error = Some(p),
            },
            _ => {}
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Parses every document in `src`.
pub fn parse(src: &str) -> Result<Vec<Node>, YamlError> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(src);
    parser.load(&mut b, true).map_err(|e| YamlError {
        pos: pos(e.marker()),
        message: e.info().to_string(),
    })?;
    if let Some(p) = b.alias_error {
        return Err(YamlError {
            pos: p,
            message: "alias to an unknown anchor".into(),
        });
    }
    Ok(b.docs)
}

/// Maps each character of a scalar's value back to its (line, column) in `src`.
///
/// Multi-line plain and block scalars fold newlines and indentation away, so the
/// value is aligned with the source greedily: non-space characters must match in
/// order, and whitespace in either text is skipped.  Where alignment fails (escape
/// sequences in quoted text) the remaining characters map to the last good position,
/// which is still the right line in practice.
pub fn align(src: &str, node: &Node) -> Vec<(usize, usize)> {
    let Kind::Scalar(value, style) = &node.kind else {
        return Vec::new();
    };
    let chars: Vec<char> = src.chars().collect();
    // Positions of each source char.
    let mut line = node.pos.line;
    let mut col = node.pos.col;
    let mut i = node.pos.index;
    let advance = |i: &mut usize, line: &mut usize, col: &mut usize| {
        if chars.get(*i) == Some(&'\n') {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
        *i += 1;
    };
    match style {
        Style::Quoted => advance(&mut i, &mut line, &mut col),
        // yaml-rust2 marks block scalars at their first content character.
        Style::Block | Style::Plain => {}
    }
    let mut out = Vec::with_capacity(value.chars().count());
    let mut last = (line, col);
    for c in value.chars() {
        if c.is_whitespace() {
            out.push(last);
            continue;
        }
        while let Some(sc) = chars.get(i) {
            if sc.is_whitespace() {
                advance(&mut i, &mut line, &mut col);
            } else {
                break;
            }
        }
        if chars.get(i) == Some(&c) {
            last = (line, col);
            out.push(last);
            advance(&mut i, &mut line, &mut col);
        } else {
            out.push(last);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let docs = parse("- rule: a\n  condition: fd.sport = 1\n").unwrap();
        let item = &docs[0].as_seq().unwrap()[0];
        let c = item.get("condition").unwrap();
        assert_eq!(c.as_str(), Some("fd.sport = 1"));
        assert_eq!((c.pos.line, c.pos.col), (2, 14));
    }

    #[test]
    fn aligns_block_scalars() {
        let src = "- macro: m\n  condition: >\n    fd.sport = 1\n    and bad\n";
        let docs = parse(src).unwrap();
        let c = docs[0].as_seq().unwrap()[0].get("condition").unwrap();
        let v = c.as_str().unwrap();
        let map = align(src, c);
        let at = v.find("bad").unwrap();
        assert_eq!(map[at], (4, 9));
        assert_eq!(map[0], (3, 5));
    }

    #[test]
    fn aligns_quoted_scalars() {
        let src = "x: \"fd.sport = 1\"\n";
        let docs = parse(src).unwrap();
        let c = docs[0].get("x").unwrap();
        let map = align(src, c);
        assert_eq!(map[0], (1, 5));
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse("- a: [1, 2\n").unwrap_err();
        assert!(e.pos.line >= 1);
    }

    #[test]
    fn aliases_resolve() {
        let docs = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(docs[0].get("b").unwrap().as_seq().unwrap().len(), 2);
    }
}
