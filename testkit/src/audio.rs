//! Test audio: known tones to send, and the analysis that proves a recording carries them.
//!
//! Phones in tests send a sine of a known frequency (8 kHz mono 16-bit WAV, what G.711 carries and what baresip's
//! `aufile` source accepts) and record what they receive. Giving each direction its own frequency (1000 Hz one
//! way, 440 Hz the other) makes a loop-back or an echo fail the test instead of passing it.
//!
//! The analysis measures the level (RMS and peak, in dBFS), the share of 20 ms frames that are not silent, and the
//! share of the signal's energy at one frequency, by the Goertzel algorithm over 100 ms blocks: blocks keep the
//! measure insensitive to the phase jumps a jitter buffer or a lost packet leaves between stretches of tone.
//!
//! Reading is tolerant of what real recorders write: a `data` chunk whose declared size exceeds the bytes present
//! (liblinphone's recorder, or any recording read before it was finalised) is read up to the bytes present.
//!
//! ```no_run
//! use std::time::Duration;
//! use carillon_testkit::audio;
//!
//! audio::write_tone("/tmp/a.wav".as_ref(), 1000.0, Duration::from_secs(30), 0.5).expect("write the tone");
//! // ... a phone sends /tmp/a.wav, the far end records /tmp/rx.wav ...
//! audio::assert_tone("/tmp/rx.wav".as_ref(), 1000.0, 0.9);
//! ```

use std::f64::consts::PI;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;
use crate::scratch::ScratchDir;

/// The sample rate of generated audio: G.711's.
pub const SAMPLE_RATE: u32 = 8000;

/// The level below which a recording counts as silent for [`check_tone`] and [`assert_tone`].
pub const MIN_RMS_DBFS: f64 = -40.0;

/// The shortest recording [`check_tone`] and [`assert_tone`] accept: shorter means the call barely carried audio.
pub const MIN_DURATION: Duration = Duration::from_secs(1);

/// The level below which a 20 ms frame counts as silent in [`Recording::active_fraction`].
pub const SILENT_FRAME_DBFS: f64 = -50.0;

/// A sine of `frequency_hz` lasting `duration` at [`SAMPLE_RATE`], peak `amplitude` (0 to 1 of full scale).
pub fn tone_samples(frequency_hz: f64, duration: Duration, amplitude: f64) -> Vec<i16> {
    let count = sample_count(duration);
    let peak = amplitude.clamp(0.0, 1.0) * f64::from(i16::MAX);
    let step = 2.0 * PI * frequency_hz / f64::from(SAMPLE_RATE);
    // The float-to-int cast saturates, and |peak| <= i16::MAX anyway.
    (0..count).map(|n| (peak * (step * n as f64).sin()).round() as i16).collect()
}

/// Writes a tone WAV (8 kHz, mono, 16-bit little-endian PCM); see [`tone_samples`].
pub fn write_tone(path: &Path, frequency_hz: f64, duration: Duration, amplitude: f64) -> Result<(), Error> {
    write_wav(path, SAMPLE_RATE, &tone_samples(frequency_hz, duration, amplitude))
}

/// Writes a silent WAV (8 kHz, mono, 16-bit) lasting `duration`.
pub fn write_silence(path: &Path, duration: Duration) -> Result<(), Error> {
    write_wav(path, SAMPLE_RATE, &vec![0; sample_count(duration)])
}

/// Writes mono 16-bit little-endian PCM samples as a WAV file.
pub fn write_wav(path: &Path, sample_rate: u32, samples: &[i16]) -> Result<(), Error> {
    let too_long = || Error::InvalidArgument(format!("{} samples do not fit a WAV file", samples.len()));
    let data_len = u32::try_from(samples.len() * 2).map_err(|_| too_long())?;
    let riff_len = data_len.checked_add(36).ok_or_else(too_long)?;
    let mut wav = Vec::with_capacity(44 + samples.len() * 2);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&riff_len.to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&sample_rate.to_le_bytes());
    wav.extend_from_slice(&(sample_rate * 2).to_le_bytes()); // bytes per second
    wav.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    fs::write(path, wav).map_err(|e| Error::io(format!("write {}", path.display()), e))
}

fn sample_count(duration: Duration) -> usize {
    (duration.as_secs_f64() * f64::from(SAMPLE_RATE)).round() as usize
}

/// What a phone sends into its calls.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioSource {
    /// A sine of this frequency (Hz), half of full scale, generated for the phone's lifetime.
    Tone(f64),
    /// Silence, generated for the phone's lifetime.
    Silence,
    /// This WAV file: 8 kHz mono 16-bit (baresip's `aufile` accepts nothing else for G.711); a call ends when it
    /// ends.
    File(PathBuf),
}

impl AudioSource {
    /// The WAV file to play: a generated one (`source.wav` in `dir`, lasting `duration`) or the given one.
    pub(crate) fn materialize(&self, dir: &ScratchDir, duration: Duration) -> Result<PathBuf, Error> {
        let generated = dir.join("source.wav");
        match self {
            AudioSource::Tone(hz) => write_tone(&generated, *hz, duration, 0.5).map(|()| generated),
            AudioSource::Silence => write_silence(&generated, duration).map(|()| generated),
            AudioSource::File(path) => Ok(path.clone()),
        }
    }
}

/// Mono audio read from a WAV file (the first channel of a multi-channel one), ready for analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    sample_rate: u32,
    samples: Vec<i16>,
}

impl Recording {
    /// Reads a 16-bit PCM WAV file, tolerating a `data` size larger than the bytes present.
    pub fn read(path: &Path) -> Result<Recording, Error> {
        let bytes = fs::read(path).map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        Recording::from_wav_bytes(&bytes).map_err(|reason| Error::BadFile { path: path.to_owned(), reason })
    }

    /// Audio from samples already in memory.
    pub fn from_samples(sample_rate: u32, samples: Vec<i16>) -> Recording {
        Recording { sample_rate, samples }
    }

    /// Parses a WAV file's contents; the error says what is wrong.
    pub fn from_wav_bytes(bytes: &[u8]) -> Result<Recording, String> {
        if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err("not a RIFF/WAVE file".to_owned());
        }
        let mut format: Option<(u32, usize)> = None;
        let mut rest = &bytes[12..];
        while rest.len() >= 8 {
            let id = &rest[0..4];
            let declared = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            let body = &rest[8..];
            // A recorder that never finalised its header declares more (or zero) bytes than it wrote.
            let present = if id == b"data" && (declared > body.len() || declared == 0) { body.len() } else { declared };
            let Some(chunk) = body.get(..present) else {
                return Err(format!("chunk {:?} declares {declared} bytes, {} present", ascii(id), body.len()));
            };
            match id {
                b"fmt " => format = Some(parse_format(chunk)?),
                b"data" => {
                    let (sample_rate, channels) = format.ok_or("data chunk before the fmt chunk")?;
                    let frame_len = 2 * channels;
                    let samples =
                        chunk.chunks_exact(frame_len).map(|frame| i16::from_le_bytes([frame[0], frame[1]])).collect();
                    return Ok(Recording { sample_rate, samples });
                }
                _ => {}
            }
            // Chunks are padded to an even length.
            let next = present + (present & 1);
            rest = body.get(next..).unwrap_or_default();
        }
        Err("no data chunk".to_owned())
    }

    /// Samples per second.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The samples (first channel).
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// How long the audio lasts.
    pub fn duration(&self) -> Duration {
        if self.sample_rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.sample_rate))
    }

    /// The audio after its first `start`: to leave out a call's first moments, before media flowed.
    pub fn skip(&self, start: Duration) -> Recording {
        let skipped = (start.as_secs_f64() * f64::from(self.sample_rate)) as usize;
        Recording { sample_rate: self.sample_rate, samples: self.samples.get(skipped..).unwrap_or_default().to_vec() }
    }

    /// The RMS level relative to full scale; negative infinity for digital silence or no samples.
    pub fn rms_dbfs(&self) -> f64 {
        dbfs(rms(&self.samples))
    }

    /// The peak level relative to full scale; negative infinity for digital silence or no samples.
    pub fn peak_dbfs(&self) -> f64 {
        dbfs(self.samples.iter().map(|s| f64::from(s.unsigned_abs())).fold(0.0, f64::max))
    }

    /// The share of 20 ms frames louder than `threshold_dbfs` (0 when there is no whole frame).
    pub fn active_fraction(&self, threshold_dbfs: f64) -> f64 {
        let frame_len = (self.sample_rate / 50).max(1) as usize;
        let frames = self.samples.chunks_exact(frame_len);
        let total = frames.len();
        if total == 0 {
            return 0.0;
        }
        let active = frames.filter(|frame| dbfs(rms(frame)) > threshold_dbfs).count();
        active as f64 / total as f64
    }

    /// The share of the signal's energy at `frequency_hz`, from 0 (none, or silence) to 1 (a pure tone), measured
    /// by the Goertzel algorithm over whole 100 ms blocks (a trailing partial block is left out). Frequencies
    /// more than about 10 Hz away do not count.
    pub fn tone_fraction(&self, frequency_hz: f64) -> f64 {
        let block_len = (self.sample_rate / 10).max(1) as usize;
        let mut total_energy = 0.0;
        let mut tone_energy = 0.0;
        for block in self.samples.chunks_exact(block_len) {
            total_energy += block.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>();
            tone_energy += goertzel_power(block, self.sample_rate, frequency_hz) * 2.0 / block_len as f64;
        }
        if total_energy > 0.0 { (tone_energy / total_energy).clamp(0.0, 1.0) } else { 0.0 }
    }
}

/// The measures of a recording against one expected frequency; see [`check_tone`].
#[derive(Debug, Clone, PartialEq)]
pub struct ToneReport {
    /// The file analysed.
    pub path: PathBuf,
    /// How long it lasts.
    pub duration: Duration,
    /// Its RMS level.
    pub rms_dbfs: f64,
    /// Its peak level.
    pub peak_dbfs: f64,
    /// The share of 20 ms frames above [`SILENT_FRAME_DBFS`].
    pub active_fraction: f64,
    /// The frequency looked for.
    pub frequency_hz: f64,
    /// The share of the energy at that frequency.
    pub tone_fraction: f64,
}

impl ToneReport {
    /// Whether the recording carries the tone: at least `min_fraction` of its energy at the frequency, louder
    /// than [`MIN_RMS_DBFS`], and lasting at least [`MIN_DURATION`].
    pub fn carries_tone(&self, min_fraction: f64) -> bool {
        self.tone_fraction >= min_fraction && self.rms_dbfs >= MIN_RMS_DBFS && self.duration >= MIN_DURATION
    }
}

impl fmt::Display for ToneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {:.2} s, rms {:.1} dBFS, peak {:.1} dBFS, {:.0} % active, {:.3} of the energy at {} Hz",
            self.path.display(),
            self.duration.as_secs_f64(),
            self.rms_dbfs,
            self.peak_dbfs,
            self.active_fraction * 100.0,
            self.tone_fraction,
            self.frequency_hz
        )
    }
}

/// Reads `path` and measures it against `frequency_hz`.
pub fn check_tone(path: &Path, frequency_hz: f64) -> Result<ToneReport, Error> {
    let recording = Recording::read(path)?;
    Ok(ToneReport {
        path: path.to_owned(),
        duration: recording.duration(),
        rms_dbfs: recording.rms_dbfs(),
        peak_dbfs: recording.peak_dbfs(),
        active_fraction: recording.active_fraction(SILENT_FRAME_DBFS),
        frequency_hz,
        tone_fraction: recording.tone_fraction(frequency_hz),
    })
}

/// Asserts that the recording at `path` carries a tone of `frequency_hz` ([`ToneReport::carries_tone`] with
/// `min_fraction`), and returns the measures. Panics, with the measures, when it does not or cannot be read.
#[track_caller]
#[allow(clippy::panic, reason = "an assertion: failing the test is its purpose")]
pub fn assert_tone(path: &Path, frequency_hz: f64, min_fraction: f64) -> ToneReport {
    match check_tone(path, frequency_hz) {
        Ok(report) if report.carries_tone(min_fraction) => report,
        Ok(report) => panic!(
            "no {frequency_hz} Hz tone (wanted at least {min_fraction} of the energy, {MIN_RMS_DBFS} dBFS, \
             {MIN_DURATION:?}) in {report}"
        ),
        Err(error) => panic!("cannot analyse {}: {error}", path.display()),
    }
}

fn parse_format(chunk: &[u8]) -> Result<(u32, usize), String> {
    if chunk.len() < 16 {
        return Err(format!("fmt chunk of {} bytes", chunk.len()));
    }
    let tag = u16::from_le_bytes([chunk[0], chunk[1]]);
    let channels = u16::from_le_bytes([chunk[2], chunk[3]]);
    let sample_rate = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
    let bits = u16::from_le_bytes([chunk[14], chunk[15]]);
    // WAVE_FORMAT_EXTENSIBLE names its real format in the first two bytes of the sub-format GUID.
    let real_tag = if tag == 0xFFFE && chunk.len() >= 26 { u16::from_le_bytes([chunk[24], chunk[25]]) } else { tag };
    if real_tag != 1 || bits != 16 {
        return Err(format!("format {tag:#06x} with {bits} bits per sample; only 16-bit PCM is read"));
    }
    if channels == 0 || sample_rate == 0 {
        return Err(format!("{channels} channels at {sample_rate} Hz"));
    }
    Ok((sample_rate, usize::from(channels)))
}

fn ascii(id: &[u8]) -> String {
    String::from_utf8_lossy(id).into_owned()
}

fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (energy / samples.len() as f64).sqrt()
}

fn dbfs(level: f64) -> f64 {
    if level > 0.0 { 20.0 * (level / 32768.0).log10() } else { f64::NEG_INFINITY }
}

/// The squared magnitude of the signal's DFT at `frequency_hz` (Goertzel): `(A * n / 2)^2` for a sine of
/// amplitude `A` at that frequency over `n` samples.
fn goertzel_power(samples: &[i16], sample_rate: u32, frequency_hz: f64) -> f64 {
    let coefficient = 2.0 * (2.0 * PI * frequency_hz / f64::from(sample_rate)).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &sample in samples {
        let s0 = f64::from(sample) + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coefficient * s1 * s2
}
