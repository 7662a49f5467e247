//! Path patterns: `/orders`, `/orders/{id}`, `/orders/*/lines`, `/orders/**`.
//!
//! A literal segment matches itself; `{name}` matches any one non-empty segment and names
//! it (a route parameter); `*` matches any one segment unnamed; `**`, only as the last
//! segment, matches the rest of the path, zero or more segments.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// One parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    text: String,
    segments: Vec<Segment>,
    rest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Any,
}

/// A pattern that cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid path pattern {pattern:?}: {reason}")]
pub struct PatternError {
    pattern: String,
    reason: &'static str,
}

impl PathPattern {
    /// Parses a pattern; it must start with `/`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let err = |reason| PatternError { pattern: text.to_owned(), reason };
        let Some(body) = text.strip_prefix('/') else {
            return Err(err("it must start with /"));
        };
        let parts: Vec<&str> = if body.is_empty() { Vec::new() } else { body.split('/').collect() };
        let mut segments = Vec::new();
        let mut rest = false;
        for (i, part) in parts.iter().enumerate() {
            if rest {
                return Err(err("** must be the last segment"));
            }
            match *part {
                "**" => {
                    if i + 1 != parts.len() {
                        return Err(err("** must be the last segment"));
                    }
                    rest = true;
                }
                "*" => segments.push(Segment::Any),
                "" => return Err(err("empty segment")),
                p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => {
                    segments.push(Segment::Param(p[1..p.len() - 1].to_owned()));
                }
                p if p.contains(['{', '}', '*']) => {
                    return Err(err("{name}, * and ** must be whole segments"))
                }
                p => segments.push(Segment::Literal(p.to_owned())),
            }
        }
        Ok(Self { text: text.to_owned(), segments, rest })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The route parameters if `path` (without its query) matches.
    pub fn matches(&self, path: &str) -> Option<BTreeMap<String, String>> {
        self.captures(path).map(|(params, _)| params)
    }

    /// The route parameters and, for a pattern ending in `**`, the rest of the path it
    /// matched (`""` when nothing, else the segments joined by `/`, without a leading `/`).
    pub fn captures(&self, path: &str) -> Option<(BTreeMap<String, String>, String)> {
        let body = path.strip_prefix('/')?;
        let body = body.strip_suffix('/').unwrap_or(body);
        let parts: Vec<&str> = if body.is_empty() { Vec::new() } else { body.split('/').collect() };
        if parts.len() < self.segments.len() || (!self.rest && parts.len() != self.segments.len()) {
            return None;
        }
        let mut params = BTreeMap::new();
        for (seg, part) in self.segments.iter().zip(&parts) {
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(_) | Segment::Any if part.is_empty() => return None,
                Segment::Param(name) => {
                    params.insert(name.clone(), (*part).to_owned());
                }
                Segment::Any => {}
            }
        }
        let rest = if self.rest { parts[self.segments.len()..].join("/") } else { String::new() };
        Some((params, rest))
    }

    /// Orders patterns by specificity, the most specific first: segment by segment from
    /// the left, a literal beats `{param}` or `*`, which beat the end of the pattern, and
    /// an exact end beats `**`. Equal shapes compare `Equal` (the caller breaks the tie).
    pub fn specificity_cmp(&self, other: &Self) -> Ordering {
        fn rank(p: &PathPattern, i: usize) -> u8 {
            match p.segments.get(i) {
                Some(Segment::Literal(_)) => 3,
                Some(Segment::Param(_) | Segment::Any) => 2,
                // The path ends here: an exact pattern beats one whose `**` matches nothing.
                None if p.rest => 0,
                None => 1,
            }
        }
        let n = self.segments.len().max(other.segments.len());
        for i in 0..n {
            match rank(other, i).cmp(&rank(self, i)) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        // Same shape so far: exact beats `**`.
        self.rest.cmp(&other.rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_and_name_their_parameters() {
        let p = PathPattern::parse("/orders/{id}").unwrap();
        assert_eq!(p.matches("/orders/7").unwrap()["id"], "7");
        assert!(p.matches("/orders").is_none());
        assert!(p.matches("/orders/7/lines").is_none());
        let all = PathPattern::parse("/orders/**").unwrap();
        assert!(all.matches("/orders").is_some());
        assert!(all.matches("/orders/7/lines").is_some());
        assert!(all.matches("/ordersx").is_none());
        assert!(PathPattern::parse("/**").unwrap().matches("/").is_some());
        assert!(PathPattern::parse("/").unwrap().matches("/").is_some());
        let (params, rest) =
            PathPattern::parse("/shop/{id}/**").unwrap().captures("/shop/7/assets/app.js").unwrap();
        assert_eq!((params["id"].as_str(), rest.as_str()), ("7", "assets/app.js"));
        assert_eq!(all.captures("/orders/").unwrap().1, "");
        for bad in ["orders", "/a/**/b", "/a//b", "/a{b}", "/x*"] {
            assert!(PathPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_most_specific_pattern_sorts_first() {
        let mut ps: Vec<PathPattern> =
            ["/**", "/orders/**", "/orders/{id}", "/orders/special", "/{c}/{id}", "/orders"]
                .iter()
                .map(|t| PathPattern::parse(t).unwrap())
                .collect();
        ps.sort_by(PathPattern::specificity_cmp);
        let order: Vec<&str> = ps.iter().map(PathPattern::as_str).collect();
        assert_eq!(
            order,
            ["/orders/special", "/orders/{id}", "/orders", "/orders/**", "/{c}/{id}", "/**"]
        );
    }
}
