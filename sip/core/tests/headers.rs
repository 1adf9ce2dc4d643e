//! Property tests of the typed header views: no input makes a parser panic, and well-formed values generated
//! from their grammar parse back to what was generated.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use carillon_sip::headers::{
    Allow, Event, Identities, MediaType, PrivValue, Privacy, ProductList, Reason, ReferTo, ReferredBy, Replaces,
    RetryAfter, SipDate, SubscriptionState, Timestamp, TokenList, Warning, parse_identity, parse_reply_to,
};
use carillon_sip::{HeaderName, Message, Method};
use proptest::prelude::*;

/// Fragments that steer generated values into the interesting corners of the grammars: quotes, escapes,
/// comments, folds, separators and overlong numbers.
const PIECES: &[&str] = &[
    "presence",
    "active",
    "terminated",
    "SIP",
    "Q.850",
    "application",
    "sdp",
    "*",
    "/",
    ";",
    ",",
    "=",
    "\"",
    "\\",
    "(",
    ")",
    "<",
    ">",
    "@",
    ":",
    ".",
    "?",
    "&",
    "%",
    "%4",
    "%40",
    " ",
    "\t",
    "\r\n ",
    "\r\n",
    "id",
    "to-tag",
    "from-tag",
    "early-only",
    "cause",
    "text",
    "duration",
    "expires",
    "reason",
    "retry-after",
    "q",
    "0",
    "1",
    "307",
    "0.5",
    "1.000",
    "99999999999999999999",
    "4294967296",
    "sip:a@b",
    "tel:+1",
    "?Replaces=",
    "GMT",
    "EST",
    "Sat,",
    "13",
    "Nov",
    "2010",
    "23:29:00",
    "é",
    "\u{0}",
];

fn pieces() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..16).prop_map(|v| v.concat())
}

fn inputs() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[ -~\t\r\n]{0,64}", pieces()]
}

/// Calls every parser and, when it succeeds, every accessor.
fn exercise(v: &str) {
    if let Ok(e) = Event::parse(v) {
        let _ = (e.package(), e.templates().count(), e.id(), e.matches(&e));
    }
    if let Ok(s) = SubscriptionState::parse(v) {
        let _ = (s.expires(), s.retry_after(), s.reason());
    }
    if let Ok(r) = Replaces::parse(v) {
        assert!(r.identifies(r.call_id, r.to_tag, r.from_tag));
    }
    if let Ok(r) = RetryAfter::parse(v) {
        let _ = (r.duration(), r.comment_text());
    }
    if let Ok(w) = Warning::parse(v) {
        assert!(w.code <= 999);
        let _ = w.text_unescaped();
    }
    if let Ok(r) = Reason::parse(v) {
        let _ = (r.cause(), r.text());
    }
    let _ = SipDate::parse(v);
    if let Ok(t) = Timestamp::parse(v) {
        let _ = (t.value_duration(), t.delay_duration(), t.echo_with_delay(Duration::from_millis(7)));
    }
    for header in [HeaderName::ContentType, HeaderName::Accept] {
        if let Ok(m) = MediaType::parse_as(v, header) {
            let _ = (m.essence(), m.q(), m.accepts(&m), m.is("a", "b"));
        }
    }
    if let Ok(p) = Privacy::parse(v) {
        assert!(p.values().count() >= 1);
    }
    let _ = parse_identity(v, HeaderName::PAssertedIdentity);
    if let Ok(r) = ReferTo::parse(v)
        && let Ok(Some(embedded)) = r.replaces()
    {
        let _ = Replaces::parse(&embedded);
    }
    if let Ok(r) = ReferredBy::parse(v) {
        let _ = r.cid();
    }
    let _ = parse_reply_to(v);
    if let Ok(list) = ProductList::parse_as(v, HeaderName::UserAgent) {
        assert!(list.iter().count() >= 1, "a parsed list has an item");
    }
}

fn message_with(header: &str, value: &str) -> Option<Message> {
    let text = format!(
        "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@example.com>\r\n\
         From: <sip:b@example.com>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n{header}: {value}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    Message::parse(Bytes::from(text)).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_input_panics_any_parser(v in inputs()) {
        exercise(&v);
    }

    #[test]
    fn no_header_line_panics_the_list_views(v in inputs()) {
        for header in ["Supported", "Require", "Allow-Events", "Allow", "Privacy", "P-Asserted-Identity"] {
            let Some(m) = message_with(header, &v) else { continue };
            for name in [HeaderName::Supported, HeaderName::Require, HeaderName::AllowEvents] {
                let list = TokenList::new(&m, name);
                let _ = (list.validate(), list.contains_ignore_case("timer"), list.is_present());
            }
            let _ = Allow::new(&m).methods().count();
            let _ = Allow::new(&m).allows(&Method::Invite);
            let _ = Privacy::requested(&m, &PrivValue::Id);
            let _ = Identities::from_message(&m, HeaderName::PAssertedIdentity);
        }
    }

    /// RFC 6665 §8.4: any event-type with an id parses back to its parts, whatever LWS surrounds them.
    #[test]
    fn generated_events_parse_back(
        parts in prop::collection::vec("[a-zA-Z0-9!%*_+`'~-]{1,8}", 1..4),
        id in "[a-zA-Z0-9.!%*_+`'~-]{1,12}",
        lws in prop::sample::select(vec!["", " ", "\t", "\r\n ", "  \r\n\t"]),
    ) {
        let event_type = parts.join(".");
        let v = format!("{lws}{event_type}{lws};{lws}id{lws}={lws}{id}{lws}");
        let e = Event::parse(&v).expect("generated from the grammar");
        prop_assert_eq!(e.event_type, event_type.as_str());
        prop_assert_eq!(e.id(), Some(id.as_str()));
        prop_assert_eq!(e.package(), parts[0].as_str());
    }

    /// RFC 3261 §20.33: delta-seconds, an optional comment with escapes, and a duration.
    #[test]
    fn generated_retry_after_parses_back(
        seconds: u32,
        duration: u32,
        zeros in 0usize..30,
        comment in "[a-zA-Z0-9 ;\"]{0,20}",
    ) {
        let escaped = format!("{comment} \\) (nested)");
        let v = format!("{}{seconds} ({escaped}) ;duration={duration}", "0".repeat(zeros));
        let r = RetryAfter::parse(&v).expect("generated from the grammar");
        prop_assert_eq!((r.seconds, r.duration()), (seconds, Some(duration)));
        prop_assert_eq!(r.comment, Some(escaped.as_str()));
    }

    /// RFC 3261 §20.43: warn-text escapes resolve to the text that was escaped.
    #[test]
    fn generated_warnings_parse_back(code in 100u16..1000, agent in "[a-z0-9.-]{1,20}", text in "[ -~]{0,30}") {
        let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
        let v = format!("{code} {agent} \"{escaped}\"");
        let w = Warning::parse(&v).expect("generated from the grammar");
        prop_assert_eq!((w.code, w.agent), (code, agent.as_str()));
        prop_assert_eq!(w.text_unescaped(), text.as_str());
    }

    /// RFC 3261 §8.2.6.1: the timestamp is kept exactly as written, for echoing.
    #[test]
    fn generated_timestamps_are_kept_verbatim(value in "[0-9]{1,40}(\\.[0-9]{0,12})?", delay in "([0-9]{0,6}(\\.[0-9]{0,6})?)?") {
        let v = format!("{value} \r\n {delay}");
        let t = Timestamp::parse(&v).expect("generated from the grammar");
        prop_assert_eq!(t.value, value.as_str());
        prop_assert_eq!(t.delay, (!delay.is_empty()).then_some(delay.as_str()));
    }

    /// RFC 3261 §20.17: every instant httpdate can write as an rfc1123 date reads back unchanged.
    #[test]
    fn dates_round_trip(secs in 0u64..253_402_300_799) {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let text = httpdate::fmt_http_date(time);
        prop_assert_eq!(SipDate::parse(&text).expect("rfc1123 in GMT").time, time);
    }
}
