//! `sim`: a physically grounded CSI simulator that writes RuView paired-JSONL recordings with known truth.
//!
//! RuView never published a recording, and its labels are only 0 or 1, so countscope makes its own test
//! material — **synthetic**, and every line it writes says so (`"synthetic": "countscope simulate …"`;
//! the report and the page repeat it). The model is a ray-level channel model, not noise with a label:
//!
//! ```text
//! H_k(t) = R_k · [ Σ_static  a_p S_p(t) e^{jφ_p} e^{-j2π kΔf τ_p}
//!                + Σ_persons Σ_q b_q(t) e^{-j2π (f_c + kΔf) τ_q(t)} ]  +  n_k(t)
//! I_k + jQ_k = round( A(t) · H_k(t) )  clamped to int8        amplitude_k = √(I_k² + Q_k²)
//! ```
//!
//! - `k` runs over the 56 used subcarriers of a 20 MHz HT channel (−28…−1, 1…28), Δf = 312.5 kHz,
//!   f_c = 2.437 GHz (channel 6); `R_k` is the radio's own response (band-edge roll-off, filter ripple).
//! - Static paths `p` (line of sight, one reflection per wall, furniture scatterers) come from the
//!   [`room::Room`]; `S_p(t) = Π_persons (1 − 0.6 e^{−(d/0.35 m)²})` is shadowing by bodies, `d` the distance
//!   from a person to the path's route (0.35 m ≈ body radius + first Fresnel zone at these distances).
//! - Each person (see [`people`]) adds a bistatic body path (gain `0.4·body / (d_tx·d_rx)`), a wall-bounce
//!   body path via the nearest wall (× Γ_wall), and while moving a limb path (× 0.3). Their delays follow
//!   position, breathing and limb swing, so the phase term `f_c τ(t)` produces the Doppler and micro-Doppler.
//! - `n_k` is thermal noise (room SNR 18–30 dB). `A(t)` is the receiver's AGC: it partly compensates the
//!   received power (smoothed over 0.5 s, room-specific strength 0.3–0.8), drifts (Ornstein–Uhlenbeck,
//!   σ 0.5 dB, 30 s) and sometimes steps by 1–3 dB (on average every 200 s).
//! - Frames arrive at `fps` with ±15 % timing jitter; 0.4 % of frames are dropped (the window spans a gap)
//!   and 0.2 % duplicated (the previous frame is delivered again), as ESP32 CSI streams do.
//!
//! Every window is 20 consecutive delivered frames; its label is the modal person count over those frames
//! (ties to the lower count) and `n_persons_max` the largest. All arithmetic is IEEE `f64` with `libm`'s
//! portable functions and a self-contained generator, so a seed gives byte-identical files natively, under
//! wasmtime and in the browser.

pub mod people;
pub mod rng;
pub mod room;

use crate::{time, N_FRAMES, N_SUBCARRIERS};
use people::{Activity, Crowd};
use rng::Rng;
use room::{distance_to_segment, mirror, Room};
use std::fmt::Write as _;

/// A point on the floor plan, metres.
pub type Point = (f64, f64);

/// Speed of light, m/s.
pub const C: f64 = 299_792_458.0;
/// 2π.
pub const TAU: f64 = std::f64::consts::TAU;
/// Carrier frequency (Wi-Fi channel 6), Hz.
pub const CARRIER_HZ: f64 = 2.437e9;
/// OFDM subcarrier spacing, Hz.
pub const SUBCARRIER_SPACING_HZ: f64 = 312.5e3;
/// Body scattering gain constant (bistatic amplitude form, m).
const BODY_GAIN: f64 = 0.4;
/// Shadowing depth and width.
const SHADOW_DEPTH: f64 = 0.6;
const SHADOW_WIDTH_M: f64 = 0.35;
/// Frame loss and duplication probabilities.
pub const DROP_PROBABILITY: f64 = 0.004;
/// See [`DROP_PROBABILITY`].
pub const DUPLICATE_PROBABILITY: f64 = 0.002;

/// Subcarrier index (−28…−1, 1…28) of the `i`-th of the 56 values.
pub fn subcarrier_index(i: usize) -> i32 {
    if i < 28 {
        i as i32 - 28
    } else {
        i as i32 - 27
    }
}

/// How the simulator labels its flat frame-major `csi` array.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShapeLabel {
    /// `[20,56]`: RuView's writer since fix #1007 (correct).
    #[default]
    Current,
    /// `[56,20]`: RuView's writer before #1007 (the data is still frame-major; only the label is wrong).
    Legacy,
}

/// What to simulate. [`SimConfig::default`] is a 30-minute session in room 0 at 25 Hz with 0–7 people.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Session seed: people, noise, AGC and frame timing.
    pub seed: u64,
    /// Room number: geometry and radio, independent of the seed.
    pub room: u32,
    /// Length of the session in seconds.
    pub duration_s: f64,
    /// CSI frame rate in Hz.
    pub fps: f64,
    /// Fewest people present.
    pub min_persons: u8,
    /// Most people present (at most 7, the model's top class).
    pub max_persons: u8,
    /// Mean seconds between occupancy changes.
    pub mean_dwell_s: f64,
    /// Epoch seconds of the first frame.
    pub start: f64,
    /// The `csi_shape` label to write.
    pub shape_label: ShapeLabel,
}

/// 2026-05-20T14:00:00Z, the day of RuView's published session.
pub const DEFAULT_START: f64 = 1_779_285_600.0;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            room: 0,
            duration_s: 1800.0,
            fps: 25.0,
            min_persons: 0,
            max_persons: 7,
            mean_dwell_s: 45.0,
            start: DEFAULT_START,
            shape_label: ShapeLabel::Current,
        }
    }
}

/// A configuration the simulator refuses, with the reason.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SimError {
    /// A parameter is out of range.
    #[error("simulate: {0}")]
    Invalid(String),
}

impl SimConfig {
    fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Invalid(m));
        if !(self.fps.is_finite() && self.fps > 0.0 && self.fps <= 1000.0) {
            return bad(format!("frame rate {} Hz must be in (0, 1000]", self.fps));
        }
        if !(self.duration_s.is_finite()
            && self.duration_s > 0.0
            && self.duration_s <= 31.0 * 86_400.0)
        {
            return bad(format!(
                "duration {} s must be positive and at most 31 days",
                self.duration_s
            ));
        }
        if self.max_persons as usize >= crate::N_CLASSES {
            return bad(format!(
                "at most {} persons (the model's top class); asked for {}",
                crate::N_CLASSES - 1,
                self.max_persons
            ));
        }
        if self.min_persons > self.max_persons {
            return bad(format!(
                "min persons {} exceeds max persons {}",
                self.min_persons, self.max_persons
            ));
        }
        if !(self.mean_dwell_s.is_finite() && self.mean_dwell_s > 0.0) {
            return bad(format!(
                "mean time between occupancy changes {} s must be positive",
                self.mean_dwell_s
            ));
        }
        if !self.start.is_finite() {
            return bad("start time must be finite".into());
        }
        Ok(())
    }

    /// The `synthetic` tag written on every line: how to regenerate it.
    pub fn provenance(&self) -> String {
        let mut s = format!(
            "countscope simulate --seed {} --room {} --fps {} --persons {}-{} --dwell {}",
            self.seed, self.room, self.fps, self.min_persons, self.max_persons, self.mean_dwell_s
        );
        if self.shape_label == ShapeLabel::Legacy {
            s.push_str(" --legacy-shape");
        }
        s
    }
}

/// One simulated window, in RuView's writer layout.
#[derive(Clone, Debug, PartialEq)]
pub struct SimWindow {
    /// Amplitudes, flat frame-major `[20][56]` (value `f * 56 + s`), quantised to 0.1.
    pub csi: Vec<f32>,
    /// Modal person count over the 20 frames (ties to the lower).
    pub n_persons_mode: u8,
    /// Largest person count over the 20 frames.
    pub n_persons_max: u8,
    /// Epoch seconds of the first frame.
    pub ts_start: f64,
    /// Epoch seconds of the last frame.
    pub ts_end: f64,
}

/// A delivered frame.
#[derive(Clone)]
struct Frame {
    amplitudes: [f32; N_SUBCARRIERS],
    count: u8,
    t: f64,
}

/// Streams simulated windows; memory stays at one window however long the session.
pub struct Simulator {
    cfg: SimConfig,
    room: Room,
    people_rng: Rng,
    radio_rng: Rng,
    crowd: Crowd,
    slot: u64,
    total_slots: u64,
    agc_db: f64,
    power_avg: f64,
    power_ref: f64,
    previous: Option<Frame>,
    provenance: String,
}

impl Simulator {
    /// A simulator for `cfg`, or why the configuration is refused.
    pub fn new(cfg: SimConfig) -> Result<Self, SimError> {
        cfg.validate()?;
        let room = Room::generate(cfg.room);
        let mut people_rng = Rng::new(cfg.seed, 0x5045_4F50 ^ ((cfg.room as u64) << 32));
        let radio_rng = Rng::new(cfg.seed, 0x5241_4449 ^ ((cfg.room as u64) << 32));
        let crowd = Crowd::new(
            &mut people_rng,
            &room,
            cfg.min_persons as usize,
            cfg.max_persons as usize,
            cfg.mean_dwell_s,
        );
        let total_slots = (cfg.duration_s * cfg.fps).floor() as u64;
        let mut sim = Simulator {
            provenance: cfg.provenance(),
            cfg,
            room,
            people_rng,
            radio_rng,
            crowd,
            slot: 0,
            total_slots,
            agc_db: 0.0,
            power_avg: 0.0,
            power_ref: 0.0,
            previous: None,
        };
        // The AGC's reference is the empty room's received power.
        let empty = mean_power(&sim.noiseless_channel(&[], 0.0));
        sim.power_ref = empty;
        sim.power_avg = empty;
        Ok(sim)
    }

    /// The room being simulated.
    pub fn room(&self) -> &Room {
        &self.room
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Windows the session will produce, about (dropped frames make it a little fewer).
    pub fn expected_windows(&self) -> u64 {
        self.total_slots / N_FRAMES as u64
    }

    /// The channel before noise and AGC, per subcarrier.
    fn noiseless_channel(&self, people: &[people::Person], t: f64) -> [(f64, f64); N_SUBCARRIERS] {
        let mut h = [(0.0, 0.0); N_SUBCARRIERS];
        let room = &self.room;
        for p in &room.paths {
            let mut shadow = 1.0;
            for person in people {
                let d = p
                    .route
                    .windows(2)
                    .map(|s| distance_to_segment(person.pos, s[0], s[1]))
                    .fold(f64::INFINITY, f64::min);
                let x = d / SHADOW_WIDTH_M;
                shadow *= 1.0 - SHADOW_DEPTH * libm::exp(-x * x);
            }
            add_path(
                &mut h,
                p.gain * shadow,
                p.phase - TAU * -28.0 * SUBCARRIER_SPACING_HZ * p.delay,
                p.delay,
            );
        }
        for person in people {
            let (chest, limbs) = person.micro_motion(t);
            let d1 = libm::hypot(person.pos.0 - room.tx.0, person.pos.1 - room.tx.1);
            let d2 = libm::hypot(person.pos.0 - room.rx.0, person.pos.1 - room.rx.1);
            let g = BODY_GAIN * person.body / (d1.max(0.3) * d2.max(0.3));
            let moving_path = |h: &mut [(f64, f64); N_SUBCARRIERS], gain: f64, length: f64| {
                let tau = length / C;
                add_path(
                    h,
                    gain,
                    -TAU * (CARRIER_HZ - 28.0 * SUBCARRIER_SPACING_HZ) * tau,
                    tau,
                );
            };
            moving_path(&mut h, g, d1 + d2 + 2.0 * chest);
            let w = room.nearest_wall(person.pos);
            let rx_image = mirror(room.rx, w, room.width, room.depth);
            let d2w = libm::hypot(person.pos.0 - rx_image.0, person.pos.1 - rx_image.1);
            moving_path(
                &mut h,
                room.wall_gamma[w] * BODY_GAIN * person.body / (d1.max(0.3) * d2w.max(0.3)),
                d1 + d2w + 2.0 * chest,
            );
            if person.activity != Activity::Standing {
                moving_path(&mut h, 0.3 * g, d1 + d2 + 2.0 * limbs);
            }
        }
        for (v, r) in h.iter_mut().zip(room.hw_response.iter()) {
            *v = (v.0 * r, v.1 * r);
        }
        h
    }

    /// Simulate the next frame slot: `None` if the frame is dropped.
    fn next_frame(&mut self) -> Option<Frame> {
        let dt = 1.0 / self.cfg.fps;
        let t = self.slot as f64 * dt;
        self.slot += 1;
        self.crowd.step(&mut self.people_rng, &self.room, t, dt);
        // AGC drift (Ornstein–Uhlenbeck in dB) and occasional steps.
        let tau_agc = 30.0;
        self.agc_db += -self.agc_db * dt / tau_agc
            + 0.5 * libm::sqrt(2.0 * dt / tau_agc) * self.radio_rng.normal();
        if self.radio_rng.chance(dt / 200.0) {
            let step = self.radio_rng.range(1.0, 3.0);
            self.agc_db += if self.radio_rng.chance(0.5) {
                step
            } else {
                -step
            };
        }
        let jitter = self.radio_rng.range(-0.15, 0.15) * dt;
        let drop = self.radio_rng.chance(DROP_PROBABILITY);
        let duplicate = self.radio_rng.chance(DUPLICATE_PROBABILITY);
        let mut noise = [(0.0, 0.0); N_SUBCARRIERS];
        for n in &mut noise {
            *n = (self.radio_rng.normal(), self.radio_rng.normal());
        }

        let h = self.noiseless_channel(&self.crowd.people, t);
        let power = mean_power(&h);
        self.power_avg += (power - self.power_avg) * (dt / 0.5).min(1.0);
        let compensation = libm::pow(
            self.power_ref / self.power_avg,
            self.room.agc_strength / 2.0,
        );
        let gain = self.room.gain_scale * compensation * libm::pow(10.0, self.agc_db / 20.0);
        let sigma = self.room.noise_sigma;
        let mut amplitudes = [0.0f32; N_SUBCARRIERS];
        for ((a, v), n) in amplitudes.iter_mut().zip(h.iter()).zip(noise.iter()) {
            let i = (gain * (v.0 + sigma * n.0)).round().clamp(-127.0, 127.0);
            let q = (gain * (v.1 + sigma * n.1)).round().clamp(-127.0, 127.0);
            // Quantise the amplitude to 0.1 as written; f32 keeps it exactly as printed with one decimal.
            *a = ((libm::sqrt(i * i + q * q) * 10.0).round() / 10.0) as f32;
        }
        let frame = Frame {
            amplitudes,
            count: self.crowd.count() as u8,
            t: self.cfg.start + t + jitter,
        };
        if drop {
            return None;
        }
        if duplicate {
            if let Some(prev) = &self.previous {
                let dup = Frame {
                    t: frame.t,
                    count: frame.count,
                    amplitudes: prev.amplitudes,
                };
                self.previous = Some(frame);
                return Some(dup);
            }
        }
        self.previous = Some(frame.clone());
        Some(frame)
    }

    /// The next window, or `None` when the session is over (a partial last window is not written, as
    /// RuView's aligner does not).
    pub fn next_window(&mut self) -> Option<SimWindow> {
        let mut frames: Vec<Frame> = Vec::with_capacity(N_FRAMES);
        while frames.len() < N_FRAMES {
            if self.slot >= self.total_slots {
                return None;
            }
            if let Some(f) = self.next_frame() {
                frames.push(f);
            }
        }
        let mut hist = [0u32; crate::N_CLASSES];
        frames.iter().for_each(|f| hist[f.count as usize] += 1);
        let mut mode = 0;
        for (c, &n) in hist.iter().enumerate() {
            if n > hist[mode] {
                mode = c;
            }
        }
        let max = frames.iter().map(|f| f.count).max().unwrap_or(0);
        Some(SimWindow {
            csi: frames.iter().flat_map(|f| f.amplitudes).collect(),
            n_persons_mode: mode as u8,
            n_persons_max: max,
            ts_start: frames[0].t,
            ts_end: frames[N_FRAMES - 1].t,
        })
    }

    /// Write the next window as one JSONL line (with its newline) into `out`, in RuView's writer format;
    /// `false` when the session is over.
    pub fn next_line(&mut self, out: &mut String) -> bool {
        let Some(w) = self.next_window() else {
            return false;
        };
        out.push_str("{\"csi\":[");
        for (i, v) in w.csi.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_decimal(out, *v);
        }
        let shape = match self.cfg.shape_label {
            ShapeLabel::Current => "[20,56]",
            ShapeLabel::Legacy => "[56,20]",
        };
        let _ = writeln!(
            out,
            "],\"csi_shape\":{shape},\"n_persons_mode\":{},\"n_persons_max\":{},\"ts_start\":\"{}\",\"ts_end\":\"{}\",\"synthetic\":\"{}\"}}",
            w.n_persons_mode,
            w.n_persons_max,
            time::format_iso8601(w.ts_start),
            time::format_iso8601(w.ts_end),
            self.provenance
        );
        true
    }
}

/// Mean received power over the subcarriers.
fn mean_power(h: &[(f64, f64); N_SUBCARRIERS]) -> f64 {
    h.iter().map(|(re, im)| re * re + im * im).sum::<f64>() / N_SUBCARRIERS as f64
}

/// Write a value quantised to 0.1 with at most one decimal, without a trailing `.0`.
fn write_decimal(out: &mut String, v: f32) {
    let tenths = (v as f64 * 10.0).round() as i64;
    let _ = write!(out, "{}", tenths / 10);
    if tenths % 10 != 0 {
        let _ = write!(out, ".{}", (tenths % 10).abs());
    }
}

/// Add one path to the channel: gain `g`, phase `phase0` at subcarrier −28, delay `tau`.
fn add_path(h: &mut [(f64, f64); N_SUBCARRIERS], g: f64, phase0: f64, tau: f64) {
    let (mut re, mut im) = (g * libm::cos(phase0), g * libm::sin(phase0));
    let step = -TAU * SUBCARRIER_SPACING_HZ * tau;
    let (sr, si) = (libm::cos(step), libm::sin(step));
    let mut i = 0;
    for k in -28..=28 {
        if k != 0 {
            h[i].0 += re;
            h[i].1 += im;
            i += 1;
        }
        (re, im) = (re * sr - im * si, re * si + im * sr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(seed: u64, room: u32) -> SimConfig {
        SimConfig {
            seed,
            room,
            duration_s: 120.0,
            ..SimConfig::default()
        }
    }

    #[test]
    fn same_seed_same_lines_and_different_seed_different_lines() {
        let lines = |cfg: SimConfig| {
            let mut s = Simulator::new(cfg).unwrap();
            let mut out = String::new();
            while s.next_line(&mut out) {}
            out
        };
        let a = lines(short(3, 1));
        assert_eq!(a, lines(short(3, 1)));
        assert_ne!(a, lines(short(4, 1)));
        // 120 s at 25 Hz is 3000 slots: 150 windows, minus one or two for dropped frames.
        assert!(
            (148..=150).contains(&a.lines().count()),
            "{}",
            a.lines().count()
        );
    }

    #[test]
    fn lines_parse_as_recordings_with_the_truth_they_say() {
        let mut s = Simulator::new(short(2, 5)).unwrap();
        let mut out = String::new();
        let mut n = 0;
        while s.next_line(&mut out) {
            n += 1;
        }
        let mut parser = crate::Parser::new(crate::LayoutPolicy::Labelled);
        let mut records = Vec::new();
        parser.push(out.as_bytes(), &mut records);
        parser.finish(&mut records);
        assert_eq!(records.len(), n);
        for r in &records {
            let r = r.as_ref().unwrap();
            assert!(r.truth.is_some());
            assert!(r
                .window
                .iter()
                .all(|v| v.is_finite() && *v >= 0.0 && *v <= 180.0));
            assert!(r.ts_end.unwrap() > r.ts_start.unwrap());
        }
    }

    #[test]
    fn people_change_the_channel() {
        // Same room and seed, with and without people: the amplitudes' frame-to-frame variation grows.
        let spread = |min: u8, max: u8| {
            let mut s = Simulator::new(SimConfig {
                min_persons: min,
                max_persons: max,
                ..short(9, 2)
            })
            .unwrap();
            let mut total = 0.0;
            let mut n = 0;
            while let Some(w) = s.next_window() {
                for sc in 0..N_SUBCARRIERS {
                    let col: Vec<f64> = (0..N_FRAMES)
                        .map(|f| w.csi[f * N_SUBCARRIERS + sc] as f64)
                        .collect();
                    let m = col.iter().sum::<f64>() / N_FRAMES as f64;
                    total += col.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / N_FRAMES as f64;
                    n += 1;
                }
            }
            total / n as f64
        };
        let (empty, busy) = (spread(0, 0), spread(5, 7));
        assert!(
            busy > 2.0 * empty,
            "temporal variance empty {empty:.3} vs 5–7 people {busy:.3}"
        );
    }

    #[test]
    fn refuses_bad_configs() {
        for cfg in [
            SimConfig {
                fps: 0.0,
                ..SimConfig::default()
            },
            SimConfig {
                duration_s: -1.0,
                ..SimConfig::default()
            },
            SimConfig {
                max_persons: 8,
                ..SimConfig::default()
            },
            SimConfig {
                min_persons: 3,
                max_persons: 2,
                ..SimConfig::default()
            },
            SimConfig {
                mean_dwell_s: f64::NAN,
                ..SimConfig::default()
            },
        ] {
            assert!(matches!(Simulator::new(cfg), Err(SimError::Invalid(_))));
        }
    }

    #[test]
    fn decimals_are_written_compactly() {
        let mut s = String::new();
        for v in [0.0f32, 12.0, 12.3, 0.1, 127.9] {
            write_decimal(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "0 12 12.3 0.1 127.9 ");
    }
}
