//! Randomness for `States.UUID` and `States.MathRandom` without a seed.
//!
//! While an [`Execution`](crate::Execution) with a seed steps, values come from its own
//! generator, so replaying the execution's inputs makes the same values again (a durable
//! driver rebuilds executions that way). Without a seed they come from the system.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Runs `f` with `state` as the source of random values, and keeps where it got to.
pub(crate) fn with_state<R>(state: &mut Option<u64>, f: impl FnOnce() -> R) -> R {
    let outer = STATE.with(|s| s.replace(*state));
    let r = f();
    *state = STATE.with(|s| s.replace(outer));
    r
}

/// The next random 64 bits.
pub(crate) fn next_u64() -> u64 {
    STATE.with(|s| match s.get() {
        Some(x) => {
            // splitmix64.
            let next = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            s.set(Some(next));
            let mut z = next;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        None => uuid::Uuid::new_v4().as_u64_pair().0,
    })
}

/// A version 4 UUID.
pub(crate) fn uuid() -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&next_u64().to_le_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_repeats_its_values() {
        let mut a = Some(42);
        let first = with_state(&mut a, || (uuid(), next_u64()));
        let mut b = Some(42);
        let again = with_state(&mut b, || (uuid(), next_u64()));
        assert_eq!(first, again);
        assert_eq!(a, b);
        assert_ne!(a, Some(42), "the generator moved on");
        assert_eq!(first.0.get_version_num(), 4);
        // Without a seed, values differ.
        assert_ne!(uuid(), uuid());
    }
}
