//! Addresses-of-record in the canonical form that indexes bindings (RFC 3261 §10.3 step 5).

use std::fmt;
use std::sync::Arc;

use carillon_sip::Error;
use carillon_sip::uri::{Host, SipUri, Uri, escape, is_user_char};

/// An address-of-record in canonical form: `scheme:user@host[:port]`.
///
/// RFC 3261 §10.3 step 5 removes every URI parameter (the `user` parameter included) and resolves escapes before
/// the AOR "serves as an index into the list of bindings". Here the user part is unescaped and then escaped again
/// where the grammar requires it (upper-case hex), so the canonical text is still a valid SIP URI and can be
/// stored and read back with [`Aor::parse`]. The host is written in lower case, the password and URI headers are
/// dropped. The scheme and port stay: `sips:alice@example.com` and `sip:alice@example.com:5080` are other
/// resources than `sip:alice@example.com` under the URI comparison rules of §19.1.4. Mapping aliases (an
/// extension, a nickname) to the AOR a user's bindings live under is the caller's decision, made before
/// [`crate::Registrar::register`] through [`crate::Authorization::Granted`].
///
/// Cloning is cheap: the text is shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aor(Arc<str>);

impl Aor {
    /// The canonical AOR of a SIP URI (a To header's, or a Request-URI a proxy looks up).
    pub fn from_uri(uri: &SipUri<'_>) -> Aor {
        let mut text = String::with_capacity(64);
        text.push_str(uri.scheme.as_str());
        text.push(':');
        if let Some(user) = uri.user_unescaped() {
            text.push_str(&escape(&user, is_user_char));
            text.push('@');
        }
        match uri.host {
            Host::Domain(domain) => text.push_str(&domain.to_ascii_lowercase()),
            other => text.push_str(&other.to_string()),
        }
        if let Some(port) = uri.port {
            text.push(':');
            text.push_str(&port.to_string());
        }
        Aor(text.into())
    }

    /// Parses a URI and returns its canonical AOR; an error unless it is a `sip:` or `sips:` URI.
    pub fn parse(text: &str) -> Result<Aor, Error> {
        match Uri::parse(text)? {
            Uri::Sip(uri) => Ok(Aor::from_uri(&uri)),
            _ => Err(Error::BadUri("not a sip or sips address-of-record")),
        }
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Aor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aor(s: &str) -> String {
        Aor::parse(s).expect("a SIP URI").as_str().to_owned()
    }

    #[test]
    fn parameters_and_headers_are_removed_rfc3261_10_3_step5() {
        assert_eq!(aor("sip:alice@Campus.Example;user=phone;transport=tcp?Subject=x"), "sip:alice@campus.example");
        assert_eq!(aor("sip:alice:secret@campus.example"), "sip:alice@campus.example");
    }

    #[test]
    fn escapes_are_normalised_rfc3261_10_3_step5() {
        assert_eq!(aor("sip:%61lice@campus.example"), "sip:alice@campus.example");
        assert_eq!(aor("sip:a%2fb@campus.example"), aor("sip:a/b@campus.example"));
        // `@` must stay escaped for the canonical form to remain a URI.
        let text = aor("sip:a%40b@campus.example");
        assert_eq!(text, "sip:a%40b@campus.example");
        assert_eq!(aor(&text), text, "canonical text parses back to itself");
    }

    #[test]
    fn scheme_and_port_distinguish_aors_rfc3261_19_1_4() {
        assert_ne!(aor("sips:alice@campus.example"), aor("sip:alice@campus.example"));
        assert_eq!(aor("sip:alice@campus.example:5080"), "sip:alice@campus.example:5080");
        assert_eq!(aor("sip:[2001:DB8::1]"), "sip:[2001:db8::1]");
    }

    #[test]
    fn only_sip_and_sips_are_addresses_of_record() {
        assert!(Aor::parse("tel:+15551234").is_err());
        assert!(Aor::parse("mailto:alice@campus.example").is_err());
        assert!(Aor::parse("not a uri").is_err());
    }
}
