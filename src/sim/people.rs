//! People: who is in the room, where, how they move, and when they come and go.
//!
//! **Occupancy** is a birth–death process: changes happen at exponentially spaced times (mean
//! `mean_dwell_s`); at each, one person arrives or one leaves with equal odds (forced at the limits), so
//! over a long session every count from `min` to `max` is visited about equally often. An arrival appears
//! at the door and walks in; a departure walks to the door and is counted until it is through it.
//!
//! **Motion** alternates walking and standing (mean 8 s and 20 s, exponential). Walking: speed 0.5–1.3 m/s,
//! heading a random walk (σ = 1 rad/√s), bouncing off the walls 0.3 m in. Standing: postural sway, a
//! bounded random walk of 2 cm/√s. Breathing moves the chest 3–6 mm at 0.2–0.35 Hz in both states; walking
//! adds limb swing at the gait frequency (1.6–2.0 Hz, ±0.15 m). Body size scales the scattering gain
//! (0.7–1.3).

use super::rng::Rng;
use super::room::Room;
use super::{Point, TAU};

/// What a person is doing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activity {
    /// Moving at `speed` m/s along `heading`.
    Walking,
    /// Standing or sitting.
    Standing,
    /// Walking to the door to leave.
    Leaving,
}

/// One person in the room.
#[derive(Clone, Debug)]
pub struct Person {
    /// Position in metres.
    pub pos: Point,
    /// Heading in radians.
    pub heading: f64,
    /// Walking speed in m/s.
    pub speed: f64,
    /// Current activity.
    pub activity: Activity,
    /// Seconds until the activity changes (not used while leaving).
    pub until_change: f64,
    /// Body-size factor of the scattering gain.
    pub body: f64,
    /// Breathing displacement amplitude (m), rate (Hz) and phase.
    pub breath: (f64, f64, f64),
    /// Gait frequency (Hz) and phase.
    pub gait: (f64, f64),
}

impl Person {
    fn new(r: &mut Rng, pos: Point, walking: bool) -> Person {
        Person {
            pos,
            heading: r.range(0.0, TAU),
            speed: r.range(0.5, 1.3),
            activity: if walking {
                Activity::Walking
            } else {
                Activity::Standing
            },
            until_change: if walking {
                r.exponential(8.0)
            } else {
                r.exponential(20.0)
            },
            body: r.range(0.7, 1.3),
            breath: (r.range(0.003, 0.006), r.range(0.2, 0.35), r.range(0.0, TAU)),
            gait: (r.range(1.6, 2.0), r.range(0.0, TAU)),
        }
    }

    /// Extra path length from breathing and, while moving, limb swing: (chest, limbs) in metres at time `t`.
    pub fn micro_motion(&self, t: f64) -> (f64, f64) {
        let (a, f, ph) = self.breath;
        let chest = a * libm::sin(TAU * f * t + ph);
        let limbs = match self.activity {
            Activity::Standing => 0.0,
            _ => 0.15 * libm::sin(TAU * self.gait.0 * t + self.gait.1),
        };
        (chest, limbs)
    }
}

/// Everyone in the room and the occupancy schedule.
#[derive(Clone, Debug)]
pub struct Crowd {
    /// People present (counted), including those on their way out.
    pub people: Vec<Person>,
    min: usize,
    max: usize,
    mean_dwell_s: f64,
    next_event: f64,
}

const MARGIN: f64 = 0.3;

impl Crowd {
    /// A crowd starting with a uniformly drawn count in `[min, max]`, placed at random and mostly standing.
    pub fn new(r: &mut Rng, room: &Room, min: usize, max: usize, mean_dwell_s: f64) -> Crowd {
        let n = r.int(min as u32, max as u32) as usize;
        let people = (0..n)
            .map(|_| {
                let pos = (
                    r.range(MARGIN, room.width - MARGIN),
                    r.range(MARGIN, room.depth - MARGIN),
                );
                let walking = r.chance(0.3);
                Person::new(r, pos, walking)
            })
            .collect();
        let next_event = r.exponential(mean_dwell_s);
        Crowd {
            people,
            min,
            max,
            mean_dwell_s,
            next_event,
        }
    }

    /// People present now: the ground-truth count.
    pub fn count(&self) -> usize {
        self.people.len()
    }

    /// Advance everyone by `dt` seconds to time `t`.
    pub fn step(&mut self, r: &mut Rng, room: &Room, t: f64, dt: f64) {
        if t >= self.next_event {
            self.next_event = t + r.exponential(self.mean_dwell_s);
            let staying = self
                .people
                .iter()
                .filter(|p| p.activity != Activity::Leaving)
                .count();
            let arrive = if staying <= self.min {
                true
            } else if staying >= self.max || self.people.len() >= self.max {
                false
            } else {
                r.chance(0.5)
            };
            if arrive && self.people.len() < self.max {
                let mut p = Person::new(r, clamp(room, room.door), true);
                p.heading = libm::atan2(room.depth / 2.0 - p.pos.1, room.width / 2.0 - p.pos.0);
                self.people.push(p);
            } else if !arrive && staying > self.min {
                let candidates: Vec<usize> = (0..self.people.len())
                    .filter(|&i| self.people[i].activity != Activity::Leaving)
                    .collect();
                let who = candidates[r.int(0, candidates.len() as u32 - 1) as usize];
                self.people[who].activity = Activity::Leaving;
            }
        }
        let door = clamp(room, room.door);
        for p in &mut self.people {
            match p.activity {
                Activity::Leaving => {
                    p.heading = libm::atan2(door.1 - p.pos.1, door.0 - p.pos.0);
                    walk(p, room, dt);
                }
                Activity::Walking => {
                    p.heading += 1.0 * libm::sqrt(dt) * r.normal();
                    walk(p, room, dt);
                }
                Activity::Standing => {
                    let s = 0.02 * libm::sqrt(dt);
                    p.pos = clamp(room, (p.pos.0 + s * r.normal(), p.pos.1 + s * r.normal()));
                }
            }
            if p.activity != Activity::Leaving {
                p.until_change -= dt;
                if p.until_change <= 0.0 {
                    let walking = p.activity == Activity::Standing;
                    p.activity = if walking {
                        Activity::Walking
                    } else {
                        Activity::Standing
                    };
                    p.until_change = if walking {
                        r.exponential(8.0)
                    } else {
                        r.exponential(20.0)
                    };
                    if walking {
                        p.speed = r.range(0.5, 1.3);
                    }
                }
            }
        }
        self.people.retain(|p| {
            !(p.activity == Activity::Leaving
                && libm::hypot(p.pos.0 - door.0, p.pos.1 - door.1) < 0.2)
        });
    }
}

/// `p` pulled inside the walls' margin (the door point becomes where people appear and disappear).
fn clamp(room: &Room, p: Point) -> Point {
    (
        p.0.clamp(MARGIN, room.width - MARGIN),
        p.1.clamp(MARGIN, room.depth - MARGIN),
    )
}

fn walk(p: &mut Person, room: &Room, dt: f64) {
    let (mut x, mut y) = (
        p.pos.0 + p.speed * dt * libm::cos(p.heading),
        p.pos.1 + p.speed * dt * libm::sin(p.heading),
    );
    // Bounce off the walls: mirror the heading on the axis that was crossed.
    if x < MARGIN || x > room.width - MARGIN {
        p.heading = std::f64::consts::PI - p.heading;
        x = x.clamp(MARGIN, room.width - MARGIN);
    }
    if y < MARGIN || y > room.depth - MARGIN {
        p.heading = -p.heading;
        y = y.clamp(MARGIN, room.depth - MARGIN);
    }
    p.pos = (x, y);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupancy_visits_every_count_and_people_stay_inside() {
        let room = Room::generate(1);
        let mut r = Rng::new(5, 9);
        let mut crowd = Crowd::new(&mut r, &room, 0, 7, 20.0);
        let mut seen = [0u32; 8];
        let dt = 0.04;
        for n in 0..(4 * 3600 * 25) {
            crowd.step(&mut r, &room, n as f64 * dt, dt);
            seen[crowd.count()] += 1;
            for p in &crowd.people {
                assert!(p.pos.0 >= MARGIN - 1e-9 && p.pos.0 <= room.width - MARGIN + 1e-9);
                assert!(p.pos.1 >= MARGIN - 1e-9 && p.pos.1 <= room.depth - MARGIN + 1e-9);
            }
        }
        let total: u32 = seen.iter().sum();
        for (c, &n) in seen.iter().enumerate() {
            assert!(
                n as f64 / total as f64 > 0.04,
                "count {c} only {n} of {total} frames: {seen:?}"
            );
        }
    }

    #[test]
    fn limits_are_respected() {
        let room = Room::generate(2);
        let mut r = Rng::new(1, 1);
        let mut crowd = Crowd::new(&mut r, &room, 2, 3, 5.0);
        for n in 0..(3600 * 25) {
            crowd.step(&mut r, &room, n as f64 * 0.04, 0.04);
            // Arrivals wait until fewer than `max` are present (people on their way out included), and
            // departures until more than `min` are staying, so the count never leaves [min, max].
            assert!((2..=3).contains(&crowd.count()), "{}", crowd.count());
        }
    }
}
