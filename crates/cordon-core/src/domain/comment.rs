//! The comment every write carries. Defender records it with the action and shows it to
//! everyone who later reads the machine's history, so it must be something a person can
//! read: one rule, one limit and one set of messages for the CLI, the console and the
//! worker. A [`Comment`] can only be made by [`Comment::parse`], so an unchecked comment
//! cannot reach the service.

use std::fmt;

use serde::Serialize;

/// The longest comment cordon sends. The service documents no limit; 1,000 characters
/// hold a ticket id and a paragraph and keep audit lines readable.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// Why a comment was refused. The messages are written for the analyst.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommentError {
    #[error("A comment is required: say why, e.g. the ticket id.")]
    Empty,
    #[error("The comment has {chars} characters; shorten it to {MAX_COMMENT_CHARS} or fewer.")]
    TooLong { chars: usize },
    #[error(
        "The comment has no visible character ({found}); say why in words, e.g. the ticket id."
    )]
    Invisible { found: String },
    #[error(
        "The comment contains a control or invisible character ({found}); type it as plain text on one line."
    )]
    Hidden { found: String },
    #[error("The comment must match {pattern} (comment_pattern).")]
    NoMatch { pattern: String },
}

/// A profile's own rule on top of the common one: `comment_pattern`, a regex the
/// comment must match (e.g. `^(IR|INC)-\d+`). One type for the CLI and the console.
#[derive(Debug, Clone, Default)]
pub struct CommentRule {
    pattern: Option<regex::Regex>,
}

impl CommentRule {
    /// The rule for a `comment_pattern`; an invalid regex is a config error.
    pub fn new(pattern: Option<&str>) -> Result<Self, String> {
        let pattern = match pattern.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(
                regex::Regex::new(p)
                    .map_err(|e| format!("comment_pattern is not a valid regex ({e})"))?,
            ),
            None => None,
        };
        Ok(Self { pattern })
    }

    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_ref().map(regex::Regex::as_str)
    }

    /// The common rule, then the pattern.
    pub fn parse(&self, raw: &str) -> Result<Comment, CommentError> {
        let comment = Comment::parse(raw)?;
        match &self.pattern {
            Some(re) if !re.is_match(comment.as_str()) => Err(CommentError::NoMatch {
                pattern: re.as_str().to_string(),
            }),
            _ => Ok(comment),
        }
    }
}

/// A checked comment: trimmed, 1 to [`MAX_COMMENT_CHARS`] characters, at least one
/// visible character, and no control, bidi or invisible formatting character (which
/// could hide or reorder what the history shows).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Comment(String);

impl Comment {
    pub fn parse(raw: &str) -> Result<Self, CommentError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(CommentError::Empty);
        }
        let chars = text.chars().count();
        if chars > MAX_COMMENT_CHARS {
            return Err(CommentError::TooLong { chars });
        }
        let hidden: Vec<char> = text
            .chars()
            .filter(|&c| crate::sanitize::is_hidden(c))
            .collect();
        let names = |cs: &[char]| {
            let mut seen: Vec<String> = Vec::new();
            for c in cs {
                let name = format!("U+{:04X}", u32::from(*c));
                if !seen.contains(&name) {
                    seen.push(name);
                }
            }
            seen.truncate(3);
            seen.join(", ")
        };
        if text
            .chars()
            .all(|c| c.is_whitespace() || crate::sanitize::is_hidden(c))
        {
            return Err(CommentError::Invisible {
                found: names(&hidden),
            });
        }
        if !hidden.is_empty() {
            return Err(CommentError::Hidden {
                found: names(&hidden),
            });
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Comment {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Comment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_comment_is_trimmed_and_kept() {
        assert_eq!(
            Comment::parse("  IR-1234 ransomware  ").map(|c| c.to_string()),
            Ok("IR-1234 ransomware".into())
        );
        assert!(Comment::parse("Ünïcødé 東京 ✓").is_ok());
    }

    #[test]
    fn empty_long_invisible_and_hidden_comments_are_refused() {
        assert_eq!(Comment::parse(" \t "), Err(CommentError::Empty));
        assert_eq!(
            Comment::parse(&"x".repeat(MAX_COMMENT_CHARS + 1)),
            Err(CommentError::TooLong {
                chars: MAX_COMMENT_CHARS + 1
            })
        );
        assert!(Comment::parse(&"x".repeat(MAX_COMMENT_CHARS)).is_ok());
        assert!(matches!(
            Comment::parse("\u{200b}"),
            Err(CommentError::Invisible { .. })
        ));
        assert!(matches!(
            Comment::parse("\u{1b}\u{7}"),
            Err(CommentError::Invisible { .. })
        ));
        let Err(CommentError::Hidden { found }) = Comment::parse("IR-1\u{202e}4321") else {
            panic!("a bidi override must be refused")
        };
        assert_eq!(found, "U+202E");
        assert!(matches!(
            Comment::parse("line one\nline two"),
            Err(CommentError::Hidden { .. })
        ));
        assert!(matches!(
            Comment::parse("IR-\u{ad}1"),
            Err(CommentError::Hidden { .. })
        ));
    }
}
