//! A room: its walls, the radio link and the static multipath the link sees when nobody is there.
//!
//! Geometry is 2-D (a floor plan), which is enough for the delays and the shadowing that matter to 56
//! amplitude subcarriers. A room is drawn from its number alone (stream [`ROOM_STREAM`]), so room 3 is
//! the same room in every session, and rooms can be held out of training as a whole.
//!
//! Static paths (time-invariant apart from shadowing by people):
//! - line of sight, gain `1 / d` (free space: amplitude ∝ λ / 4πd; the constant folds into the gain scale);
//! - one first-order specular reflection per wall by the image method, gain `Γ_w / d_image`, with a
//!   per-wall reflection coefficient Γ_w ∈ [0.25, 0.6] (drywall to concrete);
//! - 3–8 furniture scatterers, gain `σ_s / (d_tx,s · d_s,rx)` (bistatic radar equation, amplitude form),
//!   σ_s ∈ [0.05, 0.3] m.
//!
//! Each static path has a fixed random phase (carrier phase at its delay is unknowable to 2π; only the
//! delay-dependent slope over the subcarriers matters for amplitude).

use super::rng::Rng;
use super::Point;

/// Stream tag of the room generator (`Rng::new(room, ROOM_STREAM)`).
pub const ROOM_STREAM: u64 = 0x524F_4F4D;

/// One time-invariant propagation path.
#[derive(Clone, Debug)]
pub struct StaticPath {
    /// Propagation delay in seconds.
    pub delay: f64,
    /// Amplitude gain (linear, before the receiver's gain).
    pub gain: f64,
    /// Carrier phase in radians.
    pub phase: f64,
    /// The polyline the energy travels along (tx, bounce points…, rx), for shadowing by bodies.
    pub route: Vec<Point>,
}

/// A room with its radio link.
#[derive(Clone, Debug)]
pub struct Room {
    /// The room number it was drawn from.
    pub id: u32,
    /// Width (x) in metres.
    pub width: f64,
    /// Depth (y) in metres.
    pub depth: f64,
    /// Transmitter (access point) position.
    pub tx: Point,
    /// Receiver (ESP32) position.
    pub rx: Point,
    /// Where people come in and leave.
    pub door: Point,
    /// Reflection coefficient of the walls x = 0, x = width, y = 0, y = depth.
    pub wall_gamma: [f64; 4],
    /// Static multipath.
    pub paths: Vec<StaticPath>,
    /// Thermal noise standard deviation per I/Q component, in the same linear units as the gains.
    pub noise_sigma: f64,
    /// Receiver gain that brings a typical subcarrier to the amplitude range RuView's files show (≈ 10–40).
    pub gain_scale: f64,
    /// How strongly the AGC compensates received power changes: 0 none, 1 fully.
    pub agc_strength: f64,
    /// The radio's own amplitude response per subcarrier (band-edge roll-off and filter ripple).
    pub hw_response: [f64; crate::N_SUBCARRIERS],
}

fn dist(a: Point, b: Point) -> f64 {
    libm::hypot(a.0 - b.0, a.1 - b.1)
}

/// Length of a polyline.
pub fn route_length(route: &[Point]) -> f64 {
    route.windows(2).map(|w| dist(w[0], w[1])).sum()
}

/// Mirror `p` across wall `w` (0: x = 0, 1: x = width, 2: y = 0, 3: y = depth).
pub fn mirror(p: Point, w: usize, width: f64, depth: f64) -> Point {
    match w {
        0 => (-p.0, p.1),
        1 => (2.0 * width - p.0, p.1),
        2 => (p.0, -p.1),
        _ => (p.0, 2.0 * depth - p.1),
    }
}

/// Where the straight line from `image` to `to` crosses wall `w`: the specular bounce point.
fn bounce_point(image: Point, to: Point, w: usize, width: f64, depth: f64) -> Point {
    let (wall, along_x) = match w {
        0 => (0.0, true),
        1 => (width, true),
        2 => (0.0, false),
        _ => (depth, false),
    };
    if along_x {
        let t = (wall - image.0) / (to.0 - image.0);
        (wall, image.1 + t * (to.1 - image.1))
    } else {
        let t = (wall - image.1) / (to.1 - image.1);
        (image.0 + t * (to.0 - image.0), wall)
    }
}

impl Room {
    /// Draw room `id`.
    pub fn generate(id: u32) -> Room {
        let mut r = Rng::new(id as u64, ROOM_STREAM);
        let width = r.range(3.5, 9.0);
        let depth = r.range(3.0, 7.0);
        // The link: two devices near walls (or on a shelf), at least 2.5 m apart.
        let tx = (r.range(0.2, width - 0.2), r.range(0.2, 0.8 * depth));
        let mut rx;
        loop {
            rx = (r.range(0.2, width - 0.2), r.range(0.2, depth - 0.2));
            if dist(tx, rx) >= 2.5f64.min(0.6 * libm::hypot(width, depth)) {
                break;
            }
        }
        let door = match r.int(0, 3) {
            0 => (0.0, r.range(0.5, depth - 0.5)),
            1 => (width, r.range(0.5, depth - 0.5)),
            2 => (r.range(0.5, width - 0.5), 0.0),
            _ => (r.range(0.5, width - 0.5), depth),
        };
        let wall_gamma = [
            r.range(0.25, 0.6),
            r.range(0.25, 0.6),
            r.range(0.25, 0.6),
            r.range(0.25, 0.6),
        ];

        let mut paths = Vec::new();
        let los = dist(tx, rx);
        paths.push(StaticPath {
            delay: los / super::C,
            gain: 1.0 / los,
            phase: r.range(0.0, super::TAU),
            route: vec![tx, rx],
        });
        for (w, gamma) in wall_gamma.iter().enumerate() {
            let image = mirror(tx, w, width, depth);
            let d = dist(image, rx);
            let b = bounce_point(image, rx, w, width, depth);
            paths.push(StaticPath {
                delay: d / super::C,
                gain: gamma / d,
                phase: r.range(0.0, super::TAU),
                route: vec![tx, b, rx],
            });
        }
        for _ in 0..r.int(3, 8) {
            let s = (r.range(0.3, width - 0.3), r.range(0.3, depth - 0.3));
            let (d1, d2) = (dist(tx, s), dist(s, rx));
            let sigma = r.range(0.05, 0.3);
            paths.push(StaticPath {
                delay: (d1 + d2) / super::C,
                // Far-field form, floored at 0.3 m so a scatterer beside an antenna stays finite.
                gain: sigma / (d1.max(0.3) * d2.max(0.3)),
                phase: r.range(0.0, super::TAU),
                route: vec![tx, s, rx],
            });
        }

        // SNR of the line of sight against thermal noise, 18–30 dB.
        let snr_db = r.range(18.0, 30.0);
        let noise_sigma = (1.0 / los) * libm::pow(10.0, -snr_db / 20.0) / std::f64::consts::SQRT_2;
        // Typical received amplitude after the gain: 12–30 (RuView files: roughly 0–60).
        let gain_scale = r.range(12.0, 30.0) * los;
        let agc_strength = r.range(0.3, 0.8);
        let mut hw_response = [0.0; crate::N_SUBCARRIERS];
        let (ripple, ripple_period, ripple_phase) = (
            r.range(0.03, 0.12),
            r.range(12.0, 40.0),
            r.range(0.0, super::TAU),
        );
        for (i, h) in hw_response.iter_mut().enumerate() {
            let k = super::subcarrier_index(i) as f64;
            // Roll-off towards the band edges (|k| = 28) and a gentle filter ripple.
            let edge = 1.0 - 0.35 * libm::pow((k.abs() / 28.0).max(0.0), 6.0);
            *h = edge * (1.0 + ripple * libm::cos(super::TAU * k / ripple_period + ripple_phase));
        }
        Room {
            id,
            width,
            depth,
            tx,
            rx,
            door,
            wall_gamma,
            paths,
            noise_sigma,
            gain_scale,
            agc_strength,
            hw_response,
        }
    }

    /// The wall nearest to `p` (index as in [`mirror`]).
    pub fn nearest_wall(&self, p: Point) -> usize {
        let d = [p.0, self.width - p.0, p.1, self.depth - p.1];
        let mut best = 0;
        for i in 1..4 {
            if d[i] < d[best] {
                best = i;
            }
        }
        best
    }

    /// One line describing the room, for the simulator's header and the artifacts README.
    pub fn describe(&self) -> String {
        format!(
            "room {}: {:.1} × {:.1} m, link {:.1} m, {} static paths, SNR {:.0} dB, AGC strength {:.2}",
            self.id,
            self.width,
            self.depth,
            dist(self.tx, self.rx),
            self.paths.len(),
            20.0 * libm::log10((1.0 / dist(self.tx, self.rx)) / (self.noise_sigma * std::f64::consts::SQRT_2)),
            self.agc_strength
        )
    }
}

/// Distance from `p` to the segment `a`–`b`.
pub fn distance_to_segment(p: Point, a: Point, b: Point) -> f64 {
    let (vx, vy) = (b.0 - a.0, b.1 - a.1);
    let len2 = vx * vx + vy * vy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * vx + (p.1 - a.1) * vy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    dist(p, (a.0 + t * vx, a.1 + t * vy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_reproducible_and_different() {
        let a = Room::generate(3);
        let b = Room::generate(3);
        assert_eq!(a.paths.len(), b.paths.len());
        assert_eq!(a.width, b.width);
        assert_ne!(Room::generate(4).width, a.width);
    }

    #[test]
    fn image_paths_are_longer_than_line_of_sight_and_bounce_on_the_wall() {
        for id in 0..20 {
            let room = Room::generate(id);
            let los = room.paths[0].delay;
            for p in &room.paths[1..] {
                assert!(p.delay > los, "room {id}");
                // The route length equals the delay (the bounce point is on the specular path).
                assert!(
                    (route_length(&p.route) / super::super::C - p.delay).abs() < 1e-12,
                    "room {id}"
                );
            }
            for p in &room.paths[1..5] {
                let b = p.route[1];
                assert!(
                    b.0.abs() < 1e-9
                        || (b.0 - room.width).abs() < 1e-9
                        || b.1.abs() < 1e-9
                        || (b.1 - room.depth).abs() < 1e-9
                );
            }
        }
    }

    #[test]
    fn segment_distance() {
        assert!((distance_to_segment((1.0, 1.0), (0.0, 0.0), (2.0, 0.0)) - 1.0).abs() < 1e-12);
        assert!((distance_to_segment((3.0, 0.0), (0.0, 0.0), (2.0, 0.0)) - 1.0).abs() < 1e-12);
    }
}
