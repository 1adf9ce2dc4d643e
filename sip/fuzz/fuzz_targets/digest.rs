//! Digest authentication header values (RFC 2617, RFC 7616): `Challenge::parse` and `Credentials::parse` on
//! arbitrary text, as they would arrive in WWW-Authenticate / Proxy-Authenticate and Authorization /
//! Proxy-Authorization. A parsed Digest challenge or credential written out parses back to the same values.

#![no_main]

use carillon_sip::HeaderName;
use carillon_sip::auth::{Challenge, Credentials};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let (challenge_header, credentials_header) = if choice & 1 == 0 {
        (HeaderName::WwwAuthenticate, HeaderName::Authorization)
    } else {
        (HeaderName::ProxyAuthenticate, HeaderName::ProxyAuthorization)
    };

    if let Ok(Challenge::Digest(c)) = Challenge::parse(text, challenge_header) {
        let written = c.to_string();
        let again = Challenge::parse(&written, challenge_header).expect("a written challenge parses");
        let Challenge::Digest(again) = again else { panic!("{written:?} is no longer a Digest challenge") };
        assert_eq!(again.to_string(), written, "writing a challenge is not stable");
    }

    if let Ok(Credentials::Digest(c)) = Credentials::parse(text, credentials_header) {
        let written = c.to_string();
        let again = Credentials::parse(&written, credentials_header).expect("written credentials parse");
        let Credentials::Digest(again) = again else { panic!("{written:?} are no longer Digest credentials") };
        assert_eq!(again.to_string(), written, "writing credentials is not stable");
    }
});
