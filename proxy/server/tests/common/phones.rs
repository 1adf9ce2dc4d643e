//! What the tests with real phones share: the service and its campus driven from a plain test thread, phones
//! pointed at it, and the call records read back.
//!
//! The phones of `carillon-testkit` block while they wait, so these tests are ordinary `#[test]` functions: a
//! [`Site`] owns a tokio runtime that runs the service in-process (on its worker threads), and the test thread
//! drives the phones and blocks on the runtime only for database queries. Every wait is bounded.
//!
//! A test file includes this next to the common module:
//!
//! ```ignore
//! mod common;
//! #[path = "common/phones.rs"]
//! mod phones;
//! ```

#![allow(dead_code)] // each test file uses its own part of the helpers
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)] // test code: a failed expectation fails the test

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use carillon_proxy::Config;
use carillon_testkit::audio::{self, ToneReport};
use carillon_testkit::baresip::{Account, AnswerMode, AudioSource, Baresip, Event, EventKind};
use carillon_testkit::linphone::Linphone;

use crate::common::{Campus, Running, config};

/// How long one step of a call (a registration, an answer, a hangup reaching the far end) may take: generous
/// for a loaded two-core machine; a healthy run takes a fraction of it.
pub(crate) const STEP: Duration = Duration::from_secs(20);

/// How long an established call carries audio before it is ended: a few seconds of recording after the jitter
/// buffer settles.
pub(crate) const TALK: Duration = Duration::from_secs(3);

/// The tone the calling side sends.
pub(crate) const CALLER_HZ: f64 = 1000.0;
/// The tone the called side sends.
pub(crate) const CALLEE_HZ: f64 = 440.0;

/// The share of a recording's energy that must be at the expected tone.
pub(crate) const MIN_TONE_FRACTION: f64 = 0.8;

/// How long a phone process lives at most: longer than any test, so an orphan still ends.
const PHONE_LIFETIME: Duration = Duration::from_secs(150);

/// The service with its campus (extensions 4000, 4001 and 4002), running in-process on its own runtime.
pub(crate) struct Site {
    runtime: tokio::runtime::Runtime,
    pub(crate) campus: Campus,
    service: Option<Running>,
}

impl Site {
    /// A fresh campus database and the service started on it, offering MD5 digest only: baresip 1.0 and SIPp
    /// 3.6 give up on a challenge set that also offers SHA-256 (see `[auth] algorithms`).
    pub(crate) fn start() -> Site {
        Site::start_with(|config| config.auth.algorithms = vec!["MD5".to_owned()])
    }

    /// A fresh campus database and the service started on it, its configuration changed by `adjust` first.
    pub(crate) fn start_with(adjust: impl FnOnce(&mut Config)) -> Site {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (campus, service) = runtime.block_on(async {
            let campus = Campus::new().await;
            let mut config = config(&campus);
            adjust(&mut config);
            let service = Running::start(config).await;
            (campus, service)
        });
        Site { runtime, campus, service: Some(service) }
    }

    fn service(&self) -> &Running {
        self.service.as_ref().expect("the service runs until stop")
    }

    /// The service's UDP address.
    pub(crate) fn proxy(&self) -> SocketAddr {
        self.service().udp
    }

    /// The service's TLS address, when it was started with a TLS listener.
    pub(crate) fn tls_proxy(&self) -> SocketAddr {
        self.service().tls.expect("the service has a TLS listener")
    }

    /// The service's UDP address as `ip:port`, the registrar a phone is given.
    pub(crate) fn registrar(&self) -> String {
        self.proxy().to_string()
    }

    /// Runs `future` to completion on the site's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The line password of `extension`.
    pub(crate) fn password(&self, extension: &str) -> String {
        self.campus.password(extension)
    }

    /// The name alias (`first.last`) of `extension`'s user.
    pub(crate) fn alias(&self, extension: &str) -> String {
        self.campus.lines.iter().find(|l| l.extension == extension).expect("a demo extension").alias.clone()
    }

    /// The account of `extension`'s line at the service: registering with its digest credentials, and sending
    /// every request through the service (an outbound proxy, as a phone provisioned with a proxy address does), so
    /// it can dial `sip:<user>@campus.test`.
    pub(crate) fn account(&self, extension: &str) -> Account {
        Account::registered(extension, &self.registrar())
            .password(&self.password(extension))
            .outbound_proxy(self.proxy())
    }

    /// A baresip phone of `extension` sending a tone of `tone_hz`, started (not yet registered).
    pub(crate) fn baresip(&self, extension: &str, tone_hz: f64, answer: AnswerMode) -> Baresip {
        Baresip::builder(self.account(extension).answer_mode(answer))
            .source(AudioSource::Tone(tone_hz))
            .lifetime(PHONE_LIFETIME)
            .start()
            .unwrap_or_else(|e| panic!("start baresip {extension}: {e}"))
    }

    /// A baresip phone of `extension`, registered: `reginfo` says OK (its first REGISTER_OK comes before the
    /// control socket is connected), and its binding is in the database.
    pub(crate) fn registered_baresip(&self, extension: &str, tone_hz: f64, answer: AnswerMode) -> Baresip {
        let mut phone = self.baresip(extension, tone_hz, answer);
        phone.wait_registered(STEP).unwrap_or_else(|e| panic!("{extension} registered: {e}"));
        let port = phone.sip_addr().port();
        self.wait_for_binding(extension, port);
        phone
    }

    /// A linphonec phone of `extension` sending a tone of `tone_hz`, started (not yet registered).
    pub(crate) fn linphone(&self, extension: &str, tone_hz: f64) -> Linphone {
        Linphone::builder(extension)
            .source(AudioSource::Tone(tone_hz))
            .lifetime(PHONE_LIFETIME)
            .start()
            .unwrap_or_else(|e| panic!("start linphonec {extension}: {e}"))
    }

    /// Waits until `extension`'s AOR has exactly one stored binding, a contact at 127.0.0.1:`port`.
    pub(crate) fn wait_for_binding(&self, extension: &str, port: u16) -> String {
        let at = format!("@127.0.0.1:{port}");
        let contacts = self.block_on(self.campus.wait_for_contacts(extension, |c| c.len() == 1 && c[0].contains(&at)));
        contacts.into_iter().next().expect("one contact")
    }

    /// The AOR's stored contacts now.
    pub(crate) fn stored_contacts(&self, extension: &str) -> Vec<String> {
        self.block_on(self.campus.stored_contacts(extension))
    }

    /// The call records, oldest first, once there are at least `count` of them.
    pub(crate) fn wait_for_call_records(&self, count: usize) -> Vec<CallRow> {
        let until = Instant::now() + STEP;
        loop {
            let rows = self.call_records();
            if rows.len() >= count {
                return rows;
            }
            assert!(Instant::now() < until, "{count} call records expected, found {rows:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The call records now, oldest first.
    pub(crate) fn call_records(&self) -> Vec<CallRow> {
        type Row = (String, String, String, String, String, String, i32, i32, bool, String);
        let rows: Vec<Row> = self
            .block_on(
                sqlx::query_as(
                    "SELECT src, dst, clid, channel, dstchannel, disposition, duration, billsec, \
                     answer IS NOT NULL, call_id FROM call_records ORDER BY id",
                )
                .fetch_all(&self.campus.pool),
            )
            .expect("query call records");
        rows.into_iter()
            .map(|(src, dst, clid, channel, dstchannel, disposition, duration, billsec, answered, call_id)| CallRow {
                src,
                dst,
                clid,
                channel,
                dstchannel,
                disposition,
                duration,
                billsec,
                answered,
                call_id,
            })
            .collect()
    }

    /// Stops the service gracefully (it must exit cleanly in time).
    pub(crate) fn stop(mut self) {
        if let Some(service) = self.service.take() {
            self.runtime.block_on(service.stop());
        }
    }
}

/// One row of `call_records`, the columns the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallRow {
    pub(crate) src: String,
    pub(crate) dst: String,
    pub(crate) clid: String,
    pub(crate) channel: String,
    pub(crate) dstchannel: String,
    pub(crate) disposition: String,
    pub(crate) duration: i32,
    pub(crate) billsec: i32,
    pub(crate) answered: bool,
    pub(crate) call_id: String,
}

/// Lets a call carry audio for `duration`, failing when it ends meanwhile.
pub(crate) fn talk(phone: &mut Baresip, duration: Duration) {
    if let Ok(closed) = phone.wait_event(EventKind::CallClosed, duration) {
        panic!("the call ended while talking: {closed:?}\n{}", phone.log_tail(40));
    }
}

/// Waits for `phone`'s next event of `kind`, failing with its log.
pub(crate) fn expect_event(phone: &mut Baresip, kind: EventKind, what: &str) -> Event {
    phone.wait_event(kind.clone(), STEP).unwrap_or_else(|e| panic!("{what}: no {kind}: {e}"))
}

/// Asserts that the `index`-th recording of what `phone` received (oldest first) carries `hz` and not `other_hz`
/// (no loop-back, no echo).
pub(crate) fn assert_heard(phone: &Baresip, index: usize, hz: f64, other_hz: f64) -> ToneReport {
    let recordings = phone.received_recordings().expect("list the recordings");
    let recording = recordings.get(index).unwrap_or_else(|| panic!("recording {index} of {recordings:?}"));
    let report = audio::assert_tone(recording, hz, MIN_TONE_FRACTION);
    assert!(report.duration >= Duration::from_secs(2), "{report}");
    let other = audio::check_tone(recording, other_hz).expect("analyse the recording");
    assert!(other.tone_fraction < 0.05, "the far end's own tone came back: {other}");
    report
}
