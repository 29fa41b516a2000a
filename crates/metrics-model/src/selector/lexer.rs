//! Splits a selector string into tokens, as the apimachinery selector lexer does: operators are
//! the characters `=!<>(),` (and the pairs `==`, `!=`), identifiers are runs of anything else but whitespace.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind {
    Identifier,
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Not,
    GreaterThan,
    LessThan,
    OpenParen,
    CloseParen,
    Comma,
    End,
}

/// A token and where it starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'a> {
    pub(super) kind: TokenKind,
    pub(super) text: &'a str,
    pub(super) position: usize,
}

impl Token<'_> {
    /// How an error message names the token.
    pub(super) fn describe(&self) -> String {
        match self.kind {
            TokenKind::End => "the end of the selector".to_owned(),
            _ => format!("{:?}", self.text),
        }
    }
}

/// Only ASCII space, tab, CR and LF separate tokens, as in Kubernetes; other Unicode spaces
/// are part of an identifier (and then fail validation).
fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>' | '(' | ')' | ',')
}

/// A one-token-lookahead lexer.
pub(super) struct Lexer<'a> {
    input: &'a str,
    position: usize,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(input: &'a str) -> Self {
        Lexer { input, position: 0 }
    }

    /// The next token, without consuming it.
    pub(super) fn peek(&self) -> Token<'a> {
        self.scan().0
    }

    /// The next token, consumed.
    pub(super) fn next(&mut self) -> Token<'a> {
        let (token, end) = self.scan();
        self.position = end;
        token
    }

    fn scan(&self) -> (Token<'a>, usize) {
        let rest = &self.input[self.position..];
        let start = self.position + (rest.len() - rest.trim_start_matches(is_whitespace).len());
        let rest = &self.input[start..];
        let Some(first) = rest.chars().next() else {
            let end = Token {
                kind: TokenKind::End,
                text: "",
                position: start,
            };
            return (end, start);
        };
        let length = if is_special(first) {
            // Single-character operators, except the two-character `==` and `!=`.
            match rest.as_bytes() {
                [b'=' | b'!', b'=', ..] => 2,
                _ => 1,
            }
        } else {
            rest.find(|c: char| is_whitespace(c) || is_special(c))
                .unwrap_or(rest.len())
        };
        let text = &rest[..length];
        let kind = match text {
            "in" => TokenKind::In,
            "notin" => TokenKind::NotIn,
            "=" => TokenKind::Equals,
            "==" => TokenKind::DoubleEquals,
            "!=" => TokenKind::NotEquals,
            "!" => TokenKind::Not,
            ">" => TokenKind::GreaterThan,
            "<" => TokenKind::LessThan,
            "(" => TokenKind::OpenParen,
            ")" => TokenKind::CloseParen,
            "," => TokenKind::Comma,
            _ => TokenKind::Identifier,
        };
        let token = Token {
            kind,
            text,
            position: start,
        };
        (token, start + length)
    }
}
