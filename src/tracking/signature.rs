//! The track & trace signature: `sig = md5(ts . secret)` in hex, `ts` in Unix seconds within
//! five minutes of the server's clock. This module checks one signature against one secret; it
//! knows nothing of API users, the database or HTTP.
//!
//! The contract has no nonce, so a request replayed within the window is accepted again; the
//! window bounds how long a captured URL works.

use md5::{Digest as _, Md5};

use subtle::ConstantTimeEq;

use super::secrets::Secret;

/// How far `ts` may be from the server's clock, either way, in seconds.
pub const WINDOW_SECS: i64 = 300;

/// The longest `ts` looked at: Unix seconds have 10 digits until the year 2286.
const MAX_TS_DIGITS: usize = 12;

/// Why a timestamp is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Not a decimal number of seconds.
    #[error("the timestamp is not decimal Unix seconds")]
    Malformed,
    /// More than [`WINDOW_SECS`] from the server's clock.
    #[error("the timestamp is more than five minutes off")]
    OutOfWindow,
}

/// Checks that `ts` is decimal Unix seconds within [`WINDOW_SECS`] of `now`.
///
/// # Errors
/// [`TimestampError`] saying which.
pub fn check_timestamp(ts: &str, now: i64) -> Result<i64, TimestampError> {
    if ts.is_empty() || ts.len() > MAX_TS_DIGITS || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TimestampError::Malformed);
    }
    let seconds: i64 = ts.parse().map_err(|_| TimestampError::Malformed)?;
    if (now - seconds).abs() > WINDOW_SECS {
        return Err(TimestampError::OutOfWindow);
    }
    Ok(seconds)
}

/// The signature of `ts` with `secret`: lower-case hex md5 of the ASCII `ts` as sent followed
/// by the secret.
pub fn sign(ts: &str, secret: &Secret) -> String {
    let mut md5 = Md5::new();
    md5.update(ts.as_bytes());
    md5.update(secret.expose().as_bytes());
    hex::encode(md5.finalize())
}

/// Whether `sig` (hex, either case) is the signature of `ts` with `secret`. The comparison
/// takes the same time wherever the first difference is.
pub fn verify(ts: &str, sig: &str, secret: &Secret) -> bool {
    let expected = sign(ts, secret);
    let given = sig.to_ascii_lowercase();
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    #[test]
    fn the_window_is_five_minutes_either_way_inclusive() {
        assert_eq!(check_timestamp("1750000000", NOW), Ok(NOW));
        assert_eq!(check_timestamp("1749999700", NOW), Ok(NOW - 300));
        assert_eq!(check_timestamp("1750000300", NOW), Ok(NOW + 300));
        assert_eq!(
            check_timestamp("1749999699", NOW),
            Err(TimestampError::OutOfWindow)
        );
        assert_eq!(
            check_timestamp("1750000301", NOW),
            Err(TimestampError::OutOfWindow)
        );
        assert_eq!(check_timestamp("0", NOW), Err(TimestampError::OutOfWindow));
    }

    #[test]
    fn only_decimal_seconds_are_timestamps() {
        for ts in [
            "",
            "-1750000000",
            "+1750000000",
            "1750000000.5",
            " 1750000000",
            "17500000000000000000000",
            "1.75e9",
            "abc",
        ] {
            assert_eq!(
                check_timestamp(ts, NOW),
                Err(TimestampError::Malformed),
                "{ts:?}"
            );
        }
    }

    #[test]
    fn the_signature_is_md5_of_ts_and_secret() {
        // printf '%s%s' 1750000000 s3cret | md5sum
        let secret = Secret::new("s3cret");
        let sig = sign("1750000000", &secret);
        let mut md5 = Md5::new();
        md5.update(b"1750000000s3cret");
        assert_eq!(sig, hex::encode(md5.finalize()));
        assert_eq!(sig.len(), 32);
        assert!(verify("1750000000", &sig, &secret));
        assert!(verify("1750000000", &sig.to_ascii_uppercase(), &secret));
    }

    #[test]
    fn a_wrong_signature_is_refused() {
        let secret = Secret::new("s3cret");
        let sig = sign("1750000000", &secret);
        assert!(!verify("1750000001", &sig, &secret));
        assert!(!verify("1750000000", &sig, &Secret::new("other")));
        assert!(!verify("1750000000", &sig[..31], &secret));
        assert!(!verify("1750000000", "", &secret));
        let mut flipped = sig.into_bytes();
        flipped[31] = if flipped[31] == b'0' { b'1' } else { b'0' };
        assert!(!verify(
            "1750000000",
            std::str::from_utf8(&flipped).unwrap(),
            &secret
        ));
    }
}
