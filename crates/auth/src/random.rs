//! Randomness for secrets comes from the operating system's generator only.

use reelsmith_core::{Code, ErrorCode};

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

impl ErrorCode for RandomError {
    fn code(&self) -> Code {
        Code::AuthRandomUnavailable
    }

    fn is_client_error(&self) -> bool {
        false
    }
}

pub fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|e| RandomError(e.to_string()))
}

pub fn bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut buf = [0u8; N];
    fill(&mut buf)?;
    Ok(buf)
}

/// A uniformly distributed number below `bound`. Rejection sampling: taking a random u32 modulo
/// `bound` would make the low values slightly likelier.
pub fn below(bound: u32) -> Result<u32, RandomError> {
    assert!(bound > 0, "bound must be positive");
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let value = u32::from_le_bytes(bytes::<4>()?);
        if value < zone {
            return Ok(value % bound);
        }
    }
}
