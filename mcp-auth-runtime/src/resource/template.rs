//! RFC 6570 level-1 URI templates (`invoice://{invoice_id}`): parsing, matching a URI against
//! one, and whether two templates can match the same URI.
//!
//! Level 1 is simple string expansion: a variable's value is percent-encoded except for
//! unreserved characters, so a variable matches a non-empty run of unreserved characters and
//! percent-encoded octets, and never a `/`, `?` or `#`. That is what lets a read be routed to
//! one template and what makes overlap between templates decidable.

use std::collections::{BTreeSet, HashSet};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text that must appear as is.
    Literal(String),
    /// `{name}`: a non-empty run of unreserved characters and `%XX`.
    Variable(String),
}

/// A parsed level-1 template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UriTemplate {
    parts: Vec<Part>,
}

/// Why a template is not a level-1 template this crate serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TemplateError {
    #[error("a `{{` is not closed")]
    Unclosed,
    #[error("a `}}` closes nothing")]
    StrayClose,
    #[error("`{{}}` names no variable")]
    EmptyVariable,
    #[error(
        "`{{{0}}}` is not a level-1 variable: only `{{name}}` is supported (no operator, \
         list or modifier)"
    )]
    NotLevelOne(String),
    #[error("variable `{0}` appears twice")]
    Repeated(String),
    #[error("variables `{0}` and `{1}` are adjacent: a read could not tell where one ends")]
    Adjacent(String, String),
    #[error("the template has no variable: declare it with `uri` instead")]
    NoVariable,
    #[error("the template does not start with a URI scheme (`scheme:`)")]
    NoScheme,
    #[error("the template contains `{0}`, which cannot appear in a URI")]
    InvalidCharacter(char),
}

impl UriTemplate {
    /// Parses `template`.
    pub(crate) fn parse(template: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut names = HashSet::new();
        let mut rest = template;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                Some(at) if rest.as_bytes()[at] == b'}' => return Err(TemplateError::StrayClose),
                Some(at) => {
                    if at > 0 {
                        parts.push(Part::Literal(literal(&rest[..at])?));
                    }
                    let close = rest[at..].find('}').ok_or(TemplateError::Unclosed)? + at;
                    let name = &rest[at + 1..close];
                    if name.contains('{') {
                        return Err(TemplateError::Unclosed);
                    }
                    if name.is_empty() {
                        return Err(TemplateError::EmptyVariable);
                    }
                    if !is_varname(name) {
                        return Err(TemplateError::NotLevelOne(name.to_owned()));
                    }
                    if !names.insert(name) {
                        return Err(TemplateError::Repeated(name.to_owned()));
                    }
                    if let Some(Part::Variable(previous)) = parts.last() {
                        return Err(TemplateError::Adjacent(previous.clone(), name.to_owned()));
                    }
                    parts.push(Part::Variable(name.to_owned()));
                    rest = &rest[close + 1..];
                }
                None => {
                    parts.push(Part::Literal(literal(rest)?));
                    rest = "";
                }
            }
        }
        if names.is_empty() {
            return Err(TemplateError::NoVariable);
        }
        match parts.first() {
            Some(Part::Literal(text)) if has_scheme(text) => {}
            _ => return Err(TemplateError::NoScheme),
        }
        Ok(UriTemplate { parts })
    }

    /// The variables' values if `uri` is an expansion of this template, percent-decoded;
    /// `None` when it is not, when `uri` is longer than [`MAX_URI_LEN`], or when a decoded
    /// value is one a handler could mistake for a path or a line: with `/`, `?`, `#`, `\` or a
    /// control character in it, or `.` or `..` (level 1 encodes all of those, so a URI that
    /// decodes to one was not made by expanding a value, and a handler looking the value up as
    /// a key or a path must never be handed another resource's path).
    ///
    /// Matching is a memoized search over (part, position) pairs, each decided once, with
    /// variables ending only on whole characters or `%XX` octets and the shortest value tried
    /// first: at most parts × length² steps, whatever the template and the URI.
    pub(crate) fn match_uri(&self, uri: &str) -> Option<Vec<(String, String)>> {
        if uri.len() > MAX_URI_LEN {
            return None;
        }
        let mut memo = Memo {
            width: uri.len() + 1,
            known: vec![None; (self.parts.len() + 1) * (uri.len() + 1)],
        };
        let mut ends = Vec::new();
        if !self.matches_at(0, 0, uri, &mut memo) {
            return None;
        }
        // Walk the decided path again: each step's choice is the first that the memo says
        // leads to a match.
        let mut position = 0;
        for (index, part) in self.parts.iter().enumerate() {
            match part {
                Part::Literal(text) => position += text.len(),
                Part::Variable(name) => {
                    let end = value_ends(uri, position)
                        .find(|&end| self.matches_at(index + 1, end, uri, &mut memo))?;
                    ends.push((name, position, end));
                    position = end;
                }
            }
        }
        ends.into_iter()
            .map(|(name, start, end)| {
                let value = decode(&uri[start..end]).filter(|value| is_safe_value(value))?;
                Some((name.clone(), value))
            })
            .collect()
    }

    /// Whether `parts[index..]` matches `uri[position..]`, each pair decided once.
    fn matches_at(&self, index: usize, position: usize, uri: &str, memo: &mut Memo) -> bool {
        if let Some(known) = memo.get(index, position) {
            return known;
        }
        let rest = &uri[position..];
        let matched = match self.parts.get(index) {
            None => rest.is_empty(),
            Some(Part::Literal(text)) => {
                rest.starts_with(text.as_str())
                    && self.matches_at(index + 1, position + text.len(), uri, memo)
            }
            Some(Part::Variable(_)) => {
                value_ends(uri, position).any(|end| self.matches_at(index + 1, end, uri, memo))
            }
        };
        memo.set(index, position, matched);
        matched
    }

    /// Whether some URI is an expansion of both templates (one or the other would serve it,
    /// under perhaps other scopes). Decided exactly on the languages the two templates
    /// match, by a search of the pairs of positions both can be in after the same text.
    pub(crate) fn overlaps(&self, other: &UriTemplate) -> bool {
        // Every character that matters: the literals' and one that stands for any other
        // character a variable accepts.
        let mut alphabet: BTreeSet<char> =
            self.literal_chars().chain(other.literal_chars()).collect();
        let stand_in = ('0'..='z')
            .chain(['-', '.', '_', '~'])
            .find(|c| is_value_byte(*c as u8) && !alphabet.contains(c));
        alphabet.extend(stand_in);
        let start = (self.closure([(0, false)]), other.closure([(0, false)]));
        let mut seen = HashSet::from([start.clone()]);
        let mut queue = vec![start];
        while let Some((mine, theirs)) = queue.pop() {
            if self.accepts(&mine) && other.accepts(&theirs) {
                return true;
            }
            for &c in &alphabet {
                let next = (self.step(&mine, c), other.step(&theirs, c));
                if !next.0.is_empty() && !next.1.is_empty() && seen.insert(next.clone()) {
                    queue.push(next);
                }
            }
        }
        false
    }

    fn literal_chars(&self) -> impl Iterator<Item = char> + '_ {
        self.parts.iter().flat_map(|part| match part {
            Part::Literal(text) => text.chars().collect::<Vec<_>>(),
            Part::Variable(_) => Vec::new(),
        })
    }

    /// The automaton's states reachable from `states` without reading: the end of a
    /// variable that has read a character, and, within a literal, the position in it.
    /// A state is (part, offset) where offset counts characters of a literal, or is 1 once
    /// a variable has read a character.
    fn closure(&self, states: impl IntoIterator<Item = (usize, bool)>) -> BTreeSet<(usize, usize)> {
        let mut out = BTreeSet::new();
        for (index, in_variable) in states {
            out.insert((index, usize::from(in_variable)));
            if in_variable {
                out.insert((index + 1, 0));
            }
        }
        out
    }

    fn step(&self, states: &BTreeSet<(usize, usize)>, c: char) -> BTreeSet<(usize, usize)> {
        let mut next = BTreeSet::new();
        for &(index, offset) in states {
            match self.parts.get(index) {
                Some(Part::Literal(text)) if text.chars().nth(offset) == Some(c) => {
                    if offset + 1 == text.chars().count() {
                        next.insert((index + 1, 0));
                    } else {
                        next.insert((index, offset + 1));
                    }
                }
                Some(Part::Variable(_)) if c.is_ascii() && is_value_byte(c as u8) => {
                    next.extend(self.closure([(index, true)]));
                }
                _ => {}
            }
        }
        next
    }

    fn accepts(&self, states: &BTreeSet<(usize, usize)>) -> bool {
        states.contains(&(self.parts.len(), 0))
    }
}

/// RFC 6570 `varname`: `varchar *( ["."] varchar )`, `varchar = ALPHA / DIGIT / "_" / pct-encoded`;
/// percent-encoded names are left out, they would not be Rust parameter names anyway.
fn is_varname(name: &str) -> bool {
    !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// The longest URI a template is matched against: resource URIs are identifiers, and the
/// bound keeps matching cheap whatever a client sends.
pub(crate) const MAX_URI_LEN: usize = 2048;

/// What [`UriTemplate::matches_at`] decided, by (part, position).
struct Memo {
    width: usize,
    known: Vec<Option<bool>>,
}

impl Memo {
    fn get(&self, index: usize, position: usize) -> Option<bool> {
        self.known[index * self.width + position]
    }

    fn set(&mut self, index: usize, position: usize, matched: bool) {
        self.known[index * self.width + position] = Some(matched);
    }
}

/// The positions where a variable's value starting at `start` may end, shortest first: after
/// each unreserved character or whole `%XX` octet of the run that starts there.
fn value_ends(uri: &str, start: usize) -> impl Iterator<Item = usize> + '_ {
    let bytes = uri.as_bytes();
    let mut at = start;
    std::iter::from_fn(move || {
        let step = match bytes.get(at)? {
            b'%' => {
                let hex = bytes.get(at + 1..at + 3)?;
                hex.iter().all(u8::is_ascii_hexdigit).then_some(3)?
            }
            b if is_value_byte(*b) => 1,
            _ => return None,
        };
        at += step;
        Some(at)
    })
}

/// Whether a decoded value is one a level-1 expansion could have produced from a value that
/// is no path, query, fragment or line of its own.
fn is_safe_value(value: &str) -> bool {
    value != "."
        && value != ".."
        && !value
            .chars()
            .any(|c| matches!(c, '/' | '?' | '#' | '\\') || c.is_control())
}

/// A byte a level-1 expansion can produce: unreserved, or part of `%XX`.
fn is_value_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%')
}

/// RFC 3986 characters: unreserved, reserved, and `%` (its hex digits are checked by those
/// who decode).
fn is_uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

fn literal(text: &str) -> Result<String, TemplateError> {
    match text.chars().find(|c| !is_uri_char(*c)) {
        Some(bad) => Err(TemplateError::InvalidCharacter(bad)),
        None => Ok(text.to_owned()),
    }
}

/// Whether `text` starts with `scheme:` (RFC 3986 §3.1).
pub(crate) fn has_scheme(text: &str) -> bool {
    let Some((scheme, _)) = text.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Whether `uri` is an absolute URI a resource may have: a scheme, URI characters only, and
/// well-formed percent-encoding.
pub(crate) fn is_resource_uri(uri: &str) -> bool {
    has_scheme(uri) && uri.chars().all(is_uri_char) && decode(uri).is_some()
}

/// Percent-decodes a variable's value; `None` when an escape is malformed or the result is
/// not UTF-8.
fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(template: &str) -> UriTemplate {
        UriTemplate::parse(template).unwrap()
    }

    #[test]
    fn variables_bind_by_name_and_are_decoded() {
        let template = t("invoice://{tenant}/invoices/{invoice_id}");
        assert_eq!(
            template.match_uri("invoice://acme/invoices/INV%2D7"),
            Some(vec![
                ("tenant".into(), "acme".into()),
                ("invoice_id".into(), "INV-7".into())
            ])
        );
    }

    #[test]
    fn a_decoded_value_is_never_a_path_a_query_a_fragment_or_a_line() {
        let template = t("doc://{name}");
        for uri in [
            "doc://admin%2Fsecret",
            "doc://..%2F..%2Fetc%2Fpasswd",
            "doc://a%3Fb",
            "doc://a%23b",
            "doc://a%5Cb",
            "doc://a%00b",
            "doc://a%0Ab",
            "doc://%2E",
            "doc://%2E%2E",
            "doc://..",
        ] {
            assert_eq!(template.match_uri(uri), None, "{uri}");
        }
        assert_eq!(
            template.match_uri("doc://a%2Eb"),
            Some(vec![("name".into(), "a.b".into())])
        );
    }

    #[test]
    fn matching_is_cheap_whatever_the_uri() {
        // Shapes that take exponential time with backtracking: many ways to split a run.
        let template = t("report://{year}-{month}-{day}");
        let uri = format!("report://{}/", "1-".repeat(MAX_URI_LEN / 2 - 10));
        let started = std::time::Instant::now();
        assert_eq!(template.match_uri(&uri), None);
        let long = format!("invoice://{}", "a".repeat(MAX_URI_LEN + 1));
        assert_eq!(t("invoice://{invoice_id}").match_uri(&long), None);
        // Generous for a debug build on a loaded machine; the backtracking matcher took
        // minutes on this input.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn a_variable_matches_no_reserved_character_and_is_never_empty() {
        let template = t("invoice://{invoice_id}");
        assert_eq!(template.match_uri("invoice://a/b"), None);
        assert_eq!(template.match_uri("invoice://a?b"), None);
        assert_eq!(template.match_uri("invoice://"), None);
        assert_eq!(template.match_uri("invoice://%zz"), None);
        assert_eq!(template.match_uri("other://a"), None);
    }

    #[test]
    fn the_literal_after_a_variable_decides_where_it_ends() {
        let template = t("file://{name}.txt");
        assert_eq!(
            template.match_uri("file://a.b.txt"),
            Some(vec![("name".into(), "a.b".into())])
        );
        assert_eq!(template.match_uri("file://a.md"), None);
    }

    #[test]
    fn what_is_not_a_level_one_template_is_refused() {
        for (template, error) in [
            ("invoice://{+id}", TemplateError::NotLevelOne("+id".into())),
            ("invoice://{a,b}", TemplateError::NotLevelOne("a,b".into())),
            ("invoice://{id*}", TemplateError::NotLevelOne("id*".into())),
            ("invoice://{id", TemplateError::Unclosed),
            ("invoice://id}", TemplateError::StrayClose),
            ("invoice://{}", TemplateError::EmptyVariable),
            ("invoice://{a}/{a}", TemplateError::Repeated("a".into())),
            (
                "invoice://{a}{b}",
                TemplateError::Adjacent("a".into(), "b".into()),
            ),
            ("invoice://all", TemplateError::NoVariable),
            ("{scheme}://x", TemplateError::NoScheme),
            ("invoice:// {id}", TemplateError::InvalidCharacter(' ')),
        ] {
            assert_eq!(UriTemplate::parse(template), Err(error), "{template}");
        }
    }

    #[test]
    fn overlap_is_decided_on_what_both_match() {
        assert!(t("invoice://{id}").overlaps(&t("invoice://{other}")));
        assert!(t("invoice://{id}").overlaps(&t("invoice://INV-{n}")));
        assert!(t("a://{x}.json").overlaps(&t("a://report.{ext}")));
        assert!(!t("invoice://{id}").overlaps(&t("invoice://{id}/lines")));
        assert!(!t("invoice://{id}").overlaps(&t("customer://{id}")));
        assert!(!t("a://{x}.json").overlaps(&t("a://{x}.csv")));
    }

    #[test]
    fn resource_uris_are_absolute_and_well_formed() {
        assert!(is_resource_uri("billing://tenant/summary"));
        assert!(is_resource_uri("file:///etc/hosts"));
        assert!(!is_resource_uri("tenant/summary"));
        assert!(!is_resource_uri("billing://tenant summary"));
        assert!(!is_resource_uri("billing://%2"));
    }
}
