//! The responses a response context collects, and the choice of the one sent upstream when every branch is done
//! (RFC 3261 §16.7 steps 6 and 7).
//!
//! The order of preference:
//! - a 6xx, if any (§16.7 step 6: "MUST choose from the 6xx class responses if any exist");
//! - otherwise the lowest class (3xx before 4xx before 5xx);
//! - within 4xx, responses that let the caller retry are preferred (§16.7 step 6: 401, 407, 415, 420, 484), 407
//!   before 401 (see below); then 486 Busy Here, which says the callee exists and is busy, the most useful thing a
//!   caller can learn from a fork that reached nobody; then 480; then the other codes, lowest first; 408 last, as
//!   it only says that a branch gave no answer;
//! - otherwise the lowest code; a received response before a stood-in one with the same code, then the earliest.
//!
//! When the chosen response is a 401 or 407, the WWW-Authenticate and Proxy-Authenticate values of every other
//! 401 and 407 are added to it (step 7), so the caller can answer every challenge at once. 407 wins over 401
//! because the proxy's challenge must be met before any request reaches the user agent that sent the 401.
//!
//! A 503 is never forwarded: it would tell the caller that this proxy is unavailable, when only one target was
//! (step 6); a 500 is generated instead.

use carillon_sip::{HeaderName, Message, StatusCode};

/// One final outcome in the response context.
#[derive(Debug, Clone)]
pub(crate) enum Final {
    /// A final response received on a branch, our Via already removed.
    Received(Message),
    /// An outcome without a response: 408 for a branch that timed out (§16.8, or given up after its target's
    /// timeout), 503 for one that could not be sent (§16.9).
    StandIn(StatusCode),
}

impl Final {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Final::Received(m) => m.status().unwrap_or(StatusCode::SERVER_INTERNAL_ERROR),
            Final::StandIn(s) => *s,
        }
    }
}

/// The index of the best final response (see the module documentation), `None` when there is none.
pub(crate) fn best(finals: &[Final]) -> Option<usize> {
    finals
        .iter()
        .enumerate()
        .min_by_key(|(i, f)| (preference(f.status()), matches!(f, Final::StandIn(_)), *i))
        .map(|(i, _)| i)
}

/// Lower is better.
fn preference(status: StatusCode) -> (u16, u8, u16) {
    let class = status.class();
    let class_rank = if class == 6 { 0 } else { class };
    let within = if class == 4 {
        match status.as_u16() {
            407 => 0,
            401 => 1,
            415 | 420 | 484 => 2,
            486 => 3,
            480 => 4,
            408 => 6,
            _ => 5,
        }
    } else {
        0
    };
    (class_rank, within, status.as_u16())
}

/// §16.7 step 7: adds to `chosen` (a 401 or 407) the challenges of every other 401 and 407 in `finals`.
pub(crate) fn aggregate_challenges(chosen: &mut Message, finals: &[Final], chosen_index: usize) {
    let mut challenges = Vec::new();
    for (i, f) in finals.iter().enumerate() {
        let Final::Received(m) = f else { continue };
        let is_challenge =
            matches!(m.status(), Some(StatusCode::UNAUTHORIZED | StatusCode::PROXY_AUTHENTICATION_REQUIRED));
        if i == chosen_index || !is_challenge {
            continue;
        }
        for name in [HeaderName::WwwAuthenticate, HeaderName::ProxyAuthenticate] {
            challenges.extend(m.header_lines(name).map(|line| (name, line.to_owned())));
        }
    }
    for (name, value) in challenges {
        chosen.push_header(name.as_str(), &value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(list: &[u16]) -> Vec<Final> {
        list.iter().map(|c| Final::StandIn(StatusCode::new(*c).expect("valid code"))).collect()
    }

    fn chosen(list: &[u16]) -> u16 {
        let finals = codes(list);
        finals[best(&finals).expect("not empty")].status().as_u16()
    }

    #[test]
    fn best_response_order_rfc3261_16_7_step_6() {
        assert_eq!(chosen(&[486, 404, 503]), 486, "busy beats not found; 4xx beats 5xx");
        assert_eq!(chosen(&[503, 600, 302]), 600, "6xx first");
        assert_eq!(chosen(&[503, 404, 302]), 302, "lowest class");
        assert_eq!(chosen(&[404, 401, 407]), 407, "challenges first, proxy challenge before user agent's");
        assert_eq!(chosen(&[404, 484]), 484, "retry information");
        assert_eq!(chosen(&[408, 404]), 404, "a timeout says least");
        assert_eq!(chosen(&[408, 480]), 480);
        assert_eq!(chosen(&[502, 500]), 500);
        assert_eq!(best(&[]), None);
    }
}
