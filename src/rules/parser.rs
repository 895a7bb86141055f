//! The condition language: a lexer and a recursive-descent parser with Falco's
//! grammar and precedence (`or` < `and` < `not` < comparison).
//!
//! The parser is purely syntactic: macro and list names stay names and fields stay
//! text; [`super::compile`] resolves and type-checks them.  Every node carries a
//! span (character offsets into the condition) so errors can point at the exact
//! column.  Input of any shape gives an `Expr` or a [`ParseError`], never a panic;
//! nesting is bounded so a hostile file cannot overflow the stack.

/// Character offsets `[start, end)` into the condition text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Intersects,
    Pmatch,
    Contains,
    IContains,
    StartsWith,
    EndsWith,
    Glob,
    Regex,
    Exists,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::Pmatch => "pmatch",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::StartsWith => "startswith",
            Op::EndsWith => "endswith",
            Op::Glob => "glob",
            Op::Regex => "regex",
            Op::Exists => "exists",
        }
    }
    /// Operators that take a parenthesised list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::Pmatch)
    }
    fn from_word(w: &str) -> Option<Op> {
        Some(match w {
            "in" => Op::In,
            "intersects" => Op::Intersects,
            "pmatch" => Op::Pmatch,
            "contains" => Op::Contains,
            "icontains" => Op::IContains,
            "startswith" => Op::StartsWith,
            "endswith" => Op::EndsWith,
            "glob" => Op::Glob,
            "regex" => Op::Regex,
            "exists" => Op::Exists,
            _ => return None,
        })
    }
}

/// One literal value; `bare` values may name a list when inside a list.
#[derive(Clone, Debug, PartialEq)]
pub struct Lit {
    pub text: String,
    pub span: Span,
    pub bare: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    One(Lit),
    List(Vec<Lit>, Span),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A macro reference (a bare name that is not a field comparison).
    Name(String, Span),
    Cmp {
        field: String,
        field_span: Span,
        op: Op,
        op_span: Span,
        value: Value,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub message: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Sym(&'static str),
    Word(String),
    Str(String),
}

const MAX_DEPTH: usize = 200;

fn lex(src: &[char]) -> Result<Vec<(Tok, Span)>, ParseError> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = src.get(i) {
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = src.get(i + 1).copied();
        let (tok, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '=' if next == Some('=') => (Tok::Sym("="), 2),
            '=' => (Tok::Sym("="), 1),
            '!' if next == Some('=') => (Tok::Sym("!="), 2),
            '<' if next == Some('=') => (Tok::Sym("<="), 2),
            '<' => (Tok::Sym("<"), 1),
            '>' if next == Some('=') => (Tok::Sym(">="), 2),
            '>' => (Tok::Sym(">"), 1),
            '"' | '\'' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    match src.get(j) {
                        None => {
                            return Err(ParseError {
                                message: "unterminated string".into(),
                                span: Span {
                                    start,
                                    end: src.len(),
                                },
                            })
                        }
                        Some(&q) if q == c => break,
                        Some('\\') => {
                            match src.get(j + 1) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some(&e) => s.push(e),
                                None => {}
                            }
                            j += 2;
                            continue;
                        }
                        Some(&ch) => s.push(ch),
                    }
                    j += 1;
                }
                (Tok::Str(s), j + 1 - i)
            }
            _ => {
                let mut j = i;
                let mut bracket = false;
                while let Some(&ch) = src.get(j) {
                    // A field argument (`container.label[a.b/c]`) may hold any
                    // character up to its closing bracket.
                    if bracket {
                        if ch == ']' {
                            bracket = false;
                        }
                    } else if ch == '[' {
                        bracket = true;
                    } else if ch.is_whitespace() || "(),=<>!\"'".contains(ch) {
                        break;
                    }
                    j += 1;
                }
                if j == i {
                    return Err(ParseError {
                        message: format!("unexpected character '{c}'"),
                        span: Span { start, end: i + 1 },
                    });
                }
                (Tok::Word(src[i..j].iter().collect()), j - i)
            }
        };
        i += len;
        out.push((tok, Span { start, end: i }));
    }
    Ok(out)
}

struct P {
    toks: Vec<(Tok, Span)>,
    i: usize,
    end: usize,
    depth: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.0)
    }
    fn span(&self) -> Span {
        self.toks.get(self.i).map(|t| t.1).unwrap_or(Span {
            start: self.end,
            end: self.end,
        })
    }
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }
    fn err<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            message: message.into(),
            span: self.span(),
        })
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut v = vec![self.and()?];
        while self.peek_word("or") {
            self.i += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }
    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut v = vec![self.not()?];
        while self.peek_word("and") {
            self.i += 1;
            v.push(self.not()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }
    fn not(&mut self) -> Result<Expr, ParseError> {
        if self.peek_word("not") {
            self.i += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return self.err("condition nests too deeply");
            }
            let e = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Expr, ParseError> {
        let span = self.span();
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.i += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return self.err("condition nests too deeply");
                }
                let e = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(ParseError {
                        message: "unbalanced parentheses: this '(' is never closed".into(),
                        span,
                    });
                }
                self.i += 1;
                Ok(e)
            }
            Some(Tok::Word(w)) if !matches!(w.as_str(), "and" | "or") => {
                self.i += 1;
                self.comparison(w, span)
            }
            Some(Tok::RParen) => self.err("unbalanced parentheses: unexpected ')'"),
            Some(_) => self.err("expected a field, a macro name, 'not' or '('"),
            None => self.err("unexpected end of condition"),
        }
    }
    fn comparison(&mut self, name: String, name_span: Span) -> Result<Expr, ParseError> {
        let op_span = self.span();
        let op = match self.peek() {
            Some(Tok::Sym(s)) => match *s {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            Some(Tok::Word(w)) => match Op::from_word(w) {
                Some(op) => op,
                None if matches!(w.as_str(), "and" | "or") => {
                    return Ok(Expr::Name(name, name_span))
                }
                None => return self.err(format!("expected an operator, found '{w}'")),
            },
            _ => return Ok(Expr::Name(name, name_span)),
        };
        self.i += 1;
        let value = if op == Op::Exists {
            Value::None
        } else if op.takes_list() {
            self.list()?
        } else {
            Value::One(self.literal()?)
        };
        Ok(Expr::Cmp {
            field: name,
            field_span: name_span,
            op,
            op_span,
            value,
        })
    }
    fn literal(&mut self) -> Result<Lit, ParseError> {
        let span = self.span();
        match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                self.i += 1;
                Ok(Lit {
                    text: w,
                    span,
                    bare: true,
                })
            }
            Some(Tok::Str(s)) => {
                self.i += 1;
                Ok(Lit {
                    text: s,
                    span,
                    bare: false,
                })
            }
            _ => self.err("expected a value"),
        }
    }
    fn list(&mut self) -> Result<Value, ParseError> {
        let start = self.span();
        if self.peek() != Some(&Tok::LParen) {
            // Falco also accepts a bare list name after `in`.
            let l = self.literal()?;
            return Ok(Value::List(vec![l], start));
        }
        self.i += 1;
        let mut items = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::RParen) => {
                    let end = self.span().end;
                    self.i += 1;
                    return Ok(Value::List(
                        items,
                        Span {
                            start: start.start,
                            end,
                        },
                    ));
                }
                Some(Tok::Comma) => self.i += 1,
                None => {
                    return Err(ParseError {
                        message: "unbalanced parentheses: this list's '(' is never closed".into(),
                        span: start,
                    })
                }
                _ => items.push(self.literal()?),
            }
        }
    }
}

/// Parses a condition.
pub fn parse(cond: &str) -> Result<Expr, ParseError> {
    let chars: Vec<char> = cond.chars().collect();
    let toks = lex(&chars)?;
    let mut p = P {
        toks,
        i: 0,
        end: chars.len(),
        depth: 0,
    };
    let e = p.or()?;
    match p.peek() {
        None => Ok(e),
        Some(Tok::RParen) => p.err("unbalanced parentheses: unexpected ')'"),
        Some(_) => p.err("expected 'and', 'or' or the end of the condition"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_or_below_and_below_not() {
        let e = parse("a or not b and c").unwrap();
        let Expr::Or(v) = e else { panic!() };
        assert!(matches!(v[0], Expr::Name(ref n, _) if n == "a"));
        let Expr::And(w) = &v[1] else { panic!() };
        assert!(matches!(w[0], Expr::Not(_)));
    }

    #[test]
    fn comparisons_and_lists() {
        let e = parse("fd.sip in (10.0.0.0/8, \"a b\", x) and fd.sport >= 1024").unwrap();
        let Expr::And(v) = e else { panic!() };
        let Expr::Cmp { op, value, .. } = &v[0] else {
            panic!()
        };
        assert_eq!(*op, Op::In);
        let Value::List(items, _) = value else {
            panic!()
        };
        assert_eq!(items.len(), 3);
        assert!(!items[1].bare);
        assert!(matches!(&v[1], Expr::Cmp { op: Op::Ge, .. }));
    }

    #[test]
    fn field_arguments_and_exists() {
        let e = parse("container.label[com.docker.compose.service] exists").unwrap();
        assert!(matches!(e, Expr::Cmp { ref field, op: Op::Exists, .. }
            if field == "container.label[com.docker.compose.service]"));
        let e = parse("fd.rip = fd00:ec2::254").unwrap();
        assert!(
            matches!(e, Expr::Cmp { value: Value::One(ref l), .. } if l.text == "fd00:ec2::254")
        );
    }

    #[test]
    fn unbalanced_parentheses_point_at_the_open_one() {
        let e = parse("a and (b or c").unwrap_err();
        assert!(e.message.contains("unbalanced"));
        assert_eq!(e.span.start, 6);
        let e = parse("a)").unwrap_err();
        assert!(e.message.contains("unbalanced"));
        assert_eq!(e.span.start, 1);
        assert!(parse("fd.sport in (1, 2").is_err());
    }

    #[test]
    fn hostile_input_is_an_error_not_a_crash() {
        assert!(parse(&"(".repeat(10_000)).is_err());
        assert!(parse(&"not ".repeat(10_000)).is_err());
        assert!(parse("").is_err());
        assert!(parse("\"abc").is_err());
        assert!(parse("a = ").is_err());
    }
}
