//! The tutorial's sensor: random devices, measures and values.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Measure, Reading};

/// Generates readings like the tutorial's producer: a device id in 0..=100, a random measure
/// and a value in 0..=100. Seeded for reproducible runs.
#[derive(Debug)]
pub struct Simulator {
    rng: StdRng,
}

impl Simulator {
    /// A simulator seeded from `seed`, or from the OS when `None`.
    pub fn new(seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self { rng }
    }

    /// The next reading.
    pub fn next_reading(&mut self) -> Reading {
        let measure = if self.rng.random_bool(0.5) {
            Measure::Pressure
        } else {
            Measure::Temperature
        };
        Reading {
            device: self.rng.random_range(0..=100),
            measure,
            value: self.rng.random_range(0..=100),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_stay_in_the_tutorial_ranges_and_cover_both_measures() {
        let mut sim = Simulator::new(Some(7));
        let readings: Vec<Reading> = (0..500).map(|_| sim.next_reading()).collect();
        assert!(readings.iter().all(|r| (0..=100).contains(&r.device)));
        assert!(readings.iter().all(|r| (0..=100).contains(&r.value)));
        for m in Measure::ALL {
            assert!(readings.iter().any(|r| r.measure == m));
        }
        let mut again = Simulator::new(Some(7));
        assert_eq!(again.next_reading(), readings[0]);
    }
}
