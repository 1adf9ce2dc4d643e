//! Tone generation and analysis on generated WAV files: the right tone is found, a wrong one and silence are not,
//! and imperfect files real recorders write are still read.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

use std::fs;
use std::path::Path;
use std::time::Duration;

use carillon_testkit::ScratchDir;
use carillon_testkit::audio::{self, Recording, SAMPLE_RATE};

const SECONDS_3: Duration = Duration::from_secs(3);

fn scratch() -> ScratchDir {
    ScratchDir::new("audio-test").expect("scratch dir")
}

#[test]
fn a_generated_tone_is_an_8khz_mono_16bit_wav_at_the_asked_level() {
    let dir = scratch();
    let path = dir.join("tone.wav");
    audio::write_tone(&path, 1000.0, SECONDS_3, 0.5).expect("write");
    let bytes = fs::read(&path).expect("read");
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..16], b"WAVEfmt ");
    assert_eq!(u16::from_le_bytes([bytes[20], bytes[21]]), 1, "PCM");
    assert_eq!(u16::from_le_bytes([bytes[22], bytes[23]]), 1, "mono");
    assert_eq!(u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]), 8000);
    assert_eq!(u16::from_le_bytes([bytes[34], bytes[35]]), 16, "bits per sample");
    assert_eq!(bytes.len(), 44 + 3 * 8000 * 2);

    let recording = Recording::read(&path).expect("read back");
    assert_eq!(recording.sample_rate(), SAMPLE_RATE);
    assert_eq!(recording.duration(), SECONDS_3);
    // A sine at half of full scale: peak -6 dBFS, RMS 3 dB below the peak.
    assert!((recording.peak_dbfs() + 6.02).abs() < 0.1, "peak {}", recording.peak_dbfs());
    assert!((recording.rms_dbfs() + 9.03).abs() < 0.1, "rms {}", recording.rms_dbfs());
    assert_eq!(recording.active_fraction(audio::SILENT_FRAME_DBFS), 1.0);
}

#[test]
fn the_right_tone_is_detected_and_the_other_direction_s_tone_is_not() {
    let dir = scratch();
    for (sent, other) in [(1000.0, 440.0), (440.0, 1000.0)] {
        let path = dir.join(format!("{sent}.wav"));
        audio::write_tone(&path, sent, SECONDS_3, 0.5).expect("write");
        let report = audio::assert_tone(&path, sent, 0.9);
        assert!(report.tone_fraction > 0.99, "{report}");
        let wrong = audio::check_tone(&path, other).expect("analyse");
        assert!(wrong.tone_fraction < 0.01, "{wrong}");
        assert!(!wrong.carries_tone(0.5), "{wrong}");
    }
}

#[test]
#[should_panic(expected = "no 440 Hz tone")]
fn assert_tone_panics_on_the_wrong_tone() {
    let dir = scratch();
    let path = dir.join("1000.wav");
    audio::write_tone(&path, 1000.0, SECONDS_3, 0.5).expect("write");
    audio::assert_tone(&path, 440.0, 0.5);
}

#[test]
fn silence_carries_no_tone() {
    let dir = scratch();
    let path = dir.join("silence.wav");
    audio::write_silence(&path, SECONDS_3).expect("write");
    let report = audio::check_tone(&path, 1000.0).expect("analyse");
    assert_eq!(report.tone_fraction, 0.0);
    assert_eq!(report.rms_dbfs, f64::NEG_INFINITY);
    assert_eq!(report.active_fraction, 0.0);
    assert!(!report.carries_tone(0.0), "silence passes no threshold: {report}");
}

#[test]
fn a_faint_tone_is_not_enough() {
    let dir = scratch();
    let path = dir.join("faint.wav");
    // -66 dBFS peak: the right frequency, but far below what a call carries.
    audio::write_tone(&path, 1000.0, SECONDS_3, 0.0005).expect("write");
    let report = audio::check_tone(&path, 1000.0).expect("analyse");
    assert!(report.tone_fraction > 0.9, "{report}");
    assert!(!report.carries_tone(0.5), "{report}");
}

#[test]
fn a_tone_too_short_is_not_enough() {
    let dir = scratch();
    let path = dir.join("short.wav");
    audio::write_tone(&path, 1000.0, Duration::from_millis(500), 0.5).expect("write");
    assert!(!audio::check_tone(&path, 1000.0).expect("analyse").carries_tone(0.5));
}

#[test]
fn a_tone_with_phase_jumps_and_gaps_is_still_detected() {
    // What a jitter buffer leaves: stretches of tone that do not join in phase, and silence where packets were
    // lost.
    let mut samples = Vec::new();
    for stretch in 0..10 {
        let tone = audio::tone_samples(440.0, Duration::from_millis(270 + stretch * 13), 0.5);
        samples.extend(tone.iter().skip(stretch as usize * 3));
        samples.extend(std::iter::repeat_n(0i16, 160));
    }
    let recording = Recording::from_samples(SAMPLE_RATE, samples);
    let fraction = recording.tone_fraction(440.0);
    assert!(fraction > 0.8, "{fraction}");
    assert!(recording.tone_fraction(1000.0) < 0.05);
}

#[test]
fn a_mix_is_measured_by_share_of_energy() {
    let a = audio::tone_samples(1000.0, SECONDS_3, 0.4);
    let b = audio::tone_samples(440.0, SECONDS_3, 0.2);
    let mixed: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let recording = Recording::from_samples(SAMPLE_RATE, mixed);
    // Energy goes with the square of the amplitude: 0.16 against 0.04.
    assert!((recording.tone_fraction(1000.0) - 0.8).abs() < 0.02);
    assert!((recording.tone_fraction(440.0) - 0.2).abs() < 0.02);
}

/// liblinphone's recorder declares more data than it writes; a recording read mid-call has not been finalised.
#[test]
fn a_data_size_larger_than_the_file_is_read_up_to_the_bytes_present() {
    let dir = scratch();
    let path = dir.join("oversized.wav");
    audio::write_tone(&path, 1000.0, SECONDS_3, 0.5).expect("write");
    let mut bytes = fs::read(&path).expect("read");
    bytes[40..44].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    bytes.push(0x12); // half a sample at the end
    fs::write(&path, &bytes).expect("rewrite");
    let recording = Recording::read(&path).expect("tolerant read");
    assert_eq!(recording.samples().len(), 3 * 8000);
    audio::assert_tone(&path, 1000.0, 0.9);
}

#[test]
fn extra_chunks_and_stereo_are_read_first_channel_only() {
    let left = audio::tone_samples(1000.0, Duration::from_secs(2), 0.5);
    let mut wav = Vec::new();
    let data_len = (left.len() * 4) as u32;
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(4 + 26 + 24 + 8 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVE");
    wav.extend_from_slice(b"LIST");
    wav.extend_from_slice(&17u32.to_le_bytes());
    wav.extend_from_slice(&[b'x'; 17]);
    wav.push(0); // pad to even
    wav.extend_from_slice(b"fmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    for field in [1u16, 2] {
        wav.extend_from_slice(&field.to_le_bytes());
    }
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&32000u32.to_le_bytes());
    wav.extend_from_slice(&4u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for sample in &left {
        wav.extend_from_slice(&sample.to_le_bytes());
        wav.extend_from_slice(&0i16.to_le_bytes()); // silent right channel
    }
    let recording = Recording::from_wav_bytes(&wav).expect("parse");
    assert_eq!(recording.samples(), &left[..]);
}

#[test]
fn files_that_are_not_16bit_pcm_wav_are_refused_with_a_reason() {
    assert!(Recording::from_wav_bytes(b"not a wav file at all").is_err());
    let dir = scratch();
    let path = dir.join("tone.wav");
    audio::write_tone(&path, 1000.0, SECONDS_3, 0.5).expect("write");
    let mut bytes = fs::read(&path).expect("read");
    bytes[34] = 8; // 8 bits per sample
    let error = Recording::from_wav_bytes(&bytes).expect_err("8-bit refused");
    assert!(error.contains("16-bit"), "{error}");
    assert!(audio::check_tone(Path::new("/nonexistent/x.wav"), 1000.0).is_err());
}

#[test]
fn skip_leaves_out_the_start() {
    let mut samples = vec![0i16; 8000];
    samples.extend(audio::tone_samples(1000.0, SECONDS_3, 0.5));
    let recording = Recording::from_samples(SAMPLE_RATE, samples);
    assert!(recording.active_fraction(audio::SILENT_FRAME_DBFS) < 0.8);
    let skipped = recording.skip(Duration::from_secs(1));
    assert_eq!(skipped.duration(), SECONDS_3);
    assert_eq!(skipped.active_fraction(audio::SILENT_FRAME_DBFS), 1.0);
}
