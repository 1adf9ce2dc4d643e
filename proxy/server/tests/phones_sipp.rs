//! SIPp through the running service, on loopback: REGISTER with digest (RFC 3261 §10.2, §22), a call from a SIPp
//! UAC that answers the proxy's 407 to a SIPp UAS registered for an extension (RFC 3261 §16), and a CANCEL of a
//! ringing call (§16.10). Call records are checked for each call.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;
#[path = "common/phones.rs"]
mod phones;

use std::path::PathBuf;
use std::time::Duration;

use carillon_sip::StatusCode;
use carillon_sip::auth::Algorithm;
use carillon_testkit::ScratchDir;
use carillon_testkit::baresip::{AnswerMode, EventKind};
use carillon_testkit::linphone::Linphone;
use carillon_testkit::sipp::{Sipp, SippOutcome};
use common::{DOMAIN, Ua};
use phones::{CALLEE_HZ, STEP, Site, expect_event};

/// How long a SIPp run may take before it is killed.
const SIPP_LIMIT: Duration = Duration::from_secs(30);

/// The start of a UAC scenario: an INVITE from `sip:[caller]@[domain]` to `[service]` at the proxy, its 407
/// acknowledged (same branch, RFC 3261 §17.1.1.3) and the INVITE sent again with the credentials of -au/-ap
/// (RFC 3261 §22.3). Message indexes 0 to 5; the authenticated INVITE is index 4.
const UAC_AUTHENTICATED_INVITE: &str = r#"
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[caller]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>

  <recv response="100" optional="true"/>

  <recv response="407" auth="true"/>

  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-3];rport
      From: <sip:[caller]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[caller]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      [authentication]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>

  <recv response="100" optional="true"/>
"#;

/// After the authenticated INVITE: 180, 200 (its Record-Route kept), the ACK and, after the call duration (-d),
/// the BYE along the route set (RFC 3261 §12.2.1.1), answered 200.
const UAC_ANSWERED: &str = r#"
  <recv response="180" optional="true"/>

  <recv response="200" rrs="true"/>

  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      From: <sip:[caller]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

  <pause/>

  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      From: <sip:[caller]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

  <recv response="200"/>
"#;

/// After the authenticated INVITE (index 4): 180 (index 6), a moment of ringing, the CANCEL (index 8, the
/// INVITE's branch, RFC 3261 §9.1), its 200, the 487 and its ACK (index 11, the INVITE's branch again).
const UAC_CANCELLED: &str = r#"
  <recv response="180"/>

  <pause milliseconds="500"/>

  <send retrans="500">
    <![CDATA[

      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-4];rport
      From: <sip:[caller]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>
      Call-ID: [call_id]
      CSeq: 2 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

  <recv response="200"/>

  <recv response="487"/>

  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-7];rport
      From: <sip:[caller]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"#;

/// Writes a UAC scenario made of `parts` into `dir`.
fn uac_scenario(dir: &ScratchDir, name: &str, parts: &[&str]) -> PathBuf {
    let path = dir.join(format!("{name}.xml"));
    let text = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<!DOCTYPE scenario SYSTEM \"sipp.dtd\">\n\
         <scenario name=\"{name}\">\n{}\n</scenario>\n",
        parts.concat()
    );
    std::fs::write(&path, text).expect("write the scenario");
    path
}

/// A SIPp UAC calling `extension` at the service as 4000, with 4000's credentials. The digest-uri must be the
/// Request-URI (RFC 2617 §3.2.2.5); SIPp's default would be the proxy's address alone.
fn uac(site: &Site, scenario: PathBuf, extension: &str) -> Sipp {
    Sipp::scenario_file(scenario, Some(site.proxy()))
        .service(extension)
        .auth("4000", &site.password("4000"))
        .arg("-auth_uri")
        .arg(format!("{extension}@{}", site.proxy()))
        .key("caller", "4000")
        .key("domain", DOMAIN)
        .timeout(SIPP_LIMIT)
        .trace_messages()
}

fn assert_succeeded(outcome: &SippOutcome, what: &str) {
    assert!(
        outcome.all_calls_succeeded(),
        "{what}: {outcome:#?}\n{}",
        outcome.messages.as_deref().unwrap_or("(no message trace)")
    );
}

/// Registers `contact` for `extension` from the test's own user agent, answering the 401 with MD5.
fn register_for(site: &Site, extension: &str, contact: &str) {
    let ok = site.block_on(async {
        let mut ua = Ua::new(site.proxy(), extension, &site.password(extension)).await;
        ua.register(contact, 600, Algorithm::Md5).await
    });
    assert_eq!(ok.status(), Some(StatusCode::OK), "{ok:?}");
}

#[test]
fn sipp_registers_with_digest_for_a_demo_user_rfc3261_10_2() {
    let site = Site::start();
    // The domain as the proxy's address (SIPp's default) and as the campus domain.
    for (extension, domain) in [("4000", None), ("4001", Some(DOMAIN))] {
        let mut register = Sipp::register(site.proxy(), extension, &site.password(extension)).trace_messages();
        if let Some(domain) = domain {
            register = register.domain(domain);
        }
        let outcome = register.run_to_completion(SIPP_LIMIT).expect("run SIPp");
        assert_succeeded(&outcome, "REGISTER answered 200 after the 401");
        let messages = outcome.messages.as_deref().unwrap_or_default();
        assert!(messages.contains("SIP/2.0 401"), "challenged first:\n{messages}");
        assert!(messages.contains(&format!("Authorization: Digest username=\"{extension}\"")), "{messages}");
        let contacts = site.block_on(site.campus.wait_for_contacts(extension, |c| c.len() == 1));
        assert!(contacts[0].starts_with(&format!("sip:{extension}@127.0.0.1:")), "SIPp's contact: {contacts:?}");
    }

    // A wrong password is refused: SIPp fails its call and nothing is bound.
    let wrong = Sipp::register(site.proxy(), "4002", "not-the-password").run_to_completion(SIPP_LIMIT).expect("run");
    assert!(!wrong.all_calls_succeeded(), "{wrong:#?}");
    assert!(site.stored_contacts("4002").is_empty());
    site.stop();
}

#[test]
fn sipp_uac_answers_the_407_and_calls_a_registered_sipp_uas_through_the_proxy_rfc3261_16() {
    let site = Site::start();
    let uas = Sipp::scenario_file(common::data("uas.xml"), None)
        .timeout(SIPP_LIMIT)
        .trace_messages()
        .spawn()
        .expect("start the SIPp UAS");
    register_for(&site, "4001", &format!("sip:4001@{}", uas.local_addr()));

    let dir = ScratchDir::new("sipp-uac").expect("scratch dir");
    let scenario = uac_scenario(&dir, "uac-answered", &[UAC_AUTHENTICATED_INVITE, UAC_ANSWERED]);
    let outcome = uac(&site, scenario, "4001")
        .call_duration(Duration::from_secs(2))
        .run_to_completion(SIPP_LIMIT)
        .expect("run the SIPp UAC");
    assert_succeeded(&outcome, "the UAC's call: 407, 200, ACK, BYE, 200");
    let messages = outcome.messages.as_deref().unwrap_or_default();
    assert!(messages.contains("Proxy-Authorization: Digest username=\"4000\""), "{messages}");
    assert!(messages.contains("Record-Route:"), "the proxy record-routed the call:\n{messages}");
    let uas_outcome = { uas }.wait(STEP).expect("the UAS ends");
    assert_succeeded(&uas_outcome, "the UAS saw INVITE, ACK and BYE");

    let records = site.wait_for_call_records(1);
    assert_eq!(records.len(), 1, "one record; the 407 is no call: {records:#?}");
    let record = &records[0];
    assert_eq!((record.src.as_str(), record.dst.as_str()), ("4000", "4001"), "{record:?}");
    assert_eq!(record.dstchannel, "4001", "the line that answered: {record:?}");
    assert_eq!(record.disposition, "ANSWERED", "{record:?}");
    assert!((1..=10).contains(&record.billsec), "the call lasted about 2 s: {record:?}");
    site.stop();
}

#[test]
fn sipp_uac_cancels_a_ringing_call_to_a_baresip_phone_rfc3261_16_10() {
    let site = Site::start();
    let mut callee = site.registered_baresip("4001", CALLEE_HZ, AnswerMode::Manual);

    let dir = ScratchDir::new("sipp-uac").expect("scratch dir");
    let scenario = uac_scenario(&dir, "uac-cancelled", &[UAC_AUTHENTICATED_INVITE, UAC_CANCELLED]);
    let outcome = uac(&site, scenario, "4001").run_to_completion(SIPP_LIMIT).expect("run the SIPp UAC");
    assert_succeeded(&outcome, "the UAC's call: 407, 180, CANCEL, 200, 487, ACK");
    expect_event(&mut callee, EventKind::CallIncoming, "the phone rang");
    expect_event(&mut callee, EventKind::CallClosed, "the CANCEL reached the phone");

    let records = site.wait_for_call_records(1);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!((records[0].dst.as_str(), records[0].disposition.as_str()), ("4001", "CANCEL"), "{records:#?}");
    assert_eq!(records[0].dstchannel, "", "nobody answered: {records:#?}");
    site.stop();
}

/// RFC 3261 §18.1.1 moves requests over 1300 octets from UDP to TCP, but a phone registered over UDP may not
/// accept TCP at all (linphone here listens on UDP only; a phone behind NAT cannot be reached by a new
/// connection): a call with a large SDP offer, as video or ICE candidates make, must still reach it over UDP.
#[test]
fn a_large_invite_reaches_a_phone_registered_over_udp_only_rfc3261_18_1_1() {
    let site = Site::start();
    let mut linphone = Linphone::builder("4002").auto_answer().start().expect("start linphonec");
    let (registrar, password) = (site.registrar(), site.password("4002"));
    linphone.command(&format!("register sip:4002@{DOMAIN} sip:{registrar} {password}")).expect("register");
    linphone.wait_registered(STEP).expect("linphone registered");
    site.wait_for_binding("4002", linphone.sip_addr().port());

    // ICE-like candidate lines make the forwarded INVITE well over 1300 octets.
    let candidates: String = (0..12)
        .map(|i| format!("      a=candidate:{i} 1 UDP {} 127.0.0.1 {} typ host\n", 2_130_706_431 - i, 40_000 + i))
        .collect();
    let invite = UAC_AUTHENTICATED_INVITE.replace(
        "      a=rtpmap:0 PCMU/8000\n\n    ]]>",
        &format!("      a=rtpmap:0 PCMU/8000\n{candidates}\n    ]]>"),
    );
    assert!(invite.len() > UAC_AUTHENTICATED_INVITE.len() + 600, "the candidates were added");
    let dir = ScratchDir::new("sipp-uac").expect("scratch dir");
    let scenario = uac_scenario(&dir, "uac-large", &[&invite, UAC_ANSWERED]);
    let outcome = uac(&site, scenario, "4002")
        .call_duration(Duration::from_secs(1))
        .run_to_completion(SIPP_LIMIT)
        .expect("run the SIPp UAC");
    assert_succeeded(&outcome, "the large INVITE was answered by linphone");
    linphone.wait_call_connected(STEP).expect("linphone answered");
    linphone.wait_call_ended(STEP).expect("the BYE reached linphone");

    let records = site.wait_for_call_records(1);
    assert_eq!((records[0].dst.as_str(), records[0].disposition.as_str()), ("4002", "ANSWERED"), "{records:#?}");
    site.stop();
}
