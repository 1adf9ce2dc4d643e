//! User-Agent and Server (RFC 3261 §20.41, §20.35): products and comments describing the software.
//!
//! ```text
//! Server          = "Server" HCOLON server-val *(LWS server-val)
//! server-val      = product / comment
//! product         = token [SLASH product-version]
//! product-version = token
//! ```

use super::lexical::skip_comment;
use crate::error::Error;
use crate::message::HeaderName;
use crate::text::{is_lws, is_token_char, trim_lws_start};

/// One element of a User-Agent or Server value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductItem<'a> {
    /// `name[/version]`.
    Product {
        /// The product name.
        name: &'a str,
        /// The product version, if given.
        version: Option<&'a str>,
    },
    /// A comment without its outer parentheses, as written (nested comments and quoted-pairs kept; see
    /// [`crate::text::unescape_quoted`]).
    Comment(&'a str),
}

/// The products and comments of one User-Agent or Server value, checked by [`ProductList::parse_as`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductList<'a> {
    raw: &'a str,
}

impl<'a> ProductList<'a> {
    /// Parses a value of `header` (User-Agent or Server). It must hold at least one product or comment.
    /// Whitespace may be omitted next to a comment's parentheses, as the grammar of comments allows.
    pub fn parse_as(v: &'a str, header: HeaderName) -> Result<ProductList<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: header, reason };
        let mut rest = v;
        let mut count = 0usize;
        while let Some(item) = next_item(&mut rest) {
            item.map_err(bad)?;
            count += 1;
        }
        if count == 0 {
            return Err(bad("no product or comment"));
        }
        Ok(ProductList { raw: v })
    }

    /// The products and comments in order.
    pub fn iter(&self) -> impl Iterator<Item = ProductItem<'a>> + 'a {
        let mut rest = self.raw;
        std::iter::from_fn(move || next_item(&mut rest)).map_while(Result::ok)
    }

    /// The products only, as `(name, version)`.
    pub fn products(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        self.iter().filter_map(|item| match item {
            ProductItem::Product { name, version } => Some((name, version)),
            ProductItem::Comment(_) => None,
        })
    }
}

/// Takes the next item off the front of `rest`; `None` at the end.
fn next_item<'a>(rest: &mut &'a str) -> Option<Result<ProductItem<'a>, &'static str>> {
    let s = trim_lws_start(rest);
    if s.is_empty() {
        *rest = s;
        return None;
    }
    if s.starts_with('(') {
        let Some(end) = skip_comment(s.as_bytes(), 0) else {
            *rest = "";
            return Some(Err("unterminated or malformed comment"));
        };
        *rest = &s[end..];
        return Some(Ok(ProductItem::Comment(&s[1..end - 1])));
    }
    let name_end = token_end(s);
    if name_end == 0 {
        *rest = "";
        return Some(Err("product is not a token"));
    }
    let name = &s[..name_end];
    let after_name = &s[name_end..];
    // SLASH = SWS "/" SWS
    let (version, after) = match trim_lws_start(after_name).strip_prefix('/') {
        Some(v) => {
            let v = trim_lws_start(v);
            let version_end = token_end(v);
            if version_end == 0 {
                *rest = "";
                return Some(Err("product version is not a token"));
            }
            (Some(&v[..version_end]), &v[version_end..])
        }
        None => (None, after_name),
    };
    if !after.is_empty() && !after.starts_with(|c: char| c == '(' || (c.is_ascii() && is_lws(c as u8))) {
        *rest = "";
        return Some(Err("junk after a product"));
    }
    *rest = after;
    Some(Ok(ProductItem::Product { name, version }))
}

fn token_end(s: &str) -> usize {
    s.bytes().take_while(|&b| is_token_char(b)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(v: &str) -> Vec<ProductItem<'_>> {
        ProductList::parse_as(v, HeaderName::UserAgent).expect("valid").iter().collect()
    }

    /// RFC 3261 §20.35 and §20.41 examples.
    #[test]
    fn rfc3261_examples() {
        assert_eq!(
            items("Softphone Beta1.5"),
            [
                ProductItem::Product { name: "Softphone", version: None },
                ProductItem::Product { name: "Beta1.5", version: None },
            ]
        );
        let list = ProductList::parse_as("HomeServer v2", HeaderName::Server).expect("valid");
        assert_eq!(list.products().collect::<Vec<_>>(), [("HomeServer", None), ("v2", None)]);
    }

    /// RFC 3261 §25.1: SLASH = SWS "/" SWS; comments nest and carry quoted-pairs.
    #[test]
    fn versions_and_nested_comments() {
        assert_eq!(
            items(" Carillon / 0.1.0 (Linux; x86_64 (\\)odd\\( \"q\")) \r\n libsip/2(a)(b)"),
            [
                ProductItem::Product { name: "Carillon", version: Some("0.1.0") },
                ProductItem::Comment("Linux; x86_64 (\\)odd\\( \"q\")"),
                ProductItem::Product { name: "libsip", version: Some("2") },
                ProductItem::Comment("a"),
                ProductItem::Comment("b"),
            ]
        );
    }

    #[test]
    fn malformed() {
        for v in ["", "  ", "a/", "a/ (c)", "a b/c/d", "a (open", "a@b", "\"quoted\"", "a/1,2", "(a) )"] {
            assert!(ProductList::parse_as(v, HeaderName::UserAgent).is_err(), "{v:?}");
        }
    }
}
