//! Limits on what the service can make cordon do: how many bytes one answer may fill
//! memory with, and how far ahead an instant computed from the service's numbers may
//! lie. Both the Defender API client and the sign-in use them.

use std::time::Duration;

use tokio::time::Instant;

/// Why a capped read stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The connection failed or timed out mid-body.
    Transport(reqwest::Error),
    /// The answer is longer than the cap; it was not read to the end.
    TooLarge,
}

/// The whole body of `response`, read chunk by chunk and abandoned as soon as it
/// passes `cap` bytes: a declared `Content-Length` over the cap is refused before
/// reading, and a body without one (chunked, endless) is cut at the cap. The client
/// has no content decoding enabled, so the bytes counted are the bytes kept.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, ReadError> {
    let declared = response.content_length();
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(ReadError::TooLarge);
    }
    // The declared length is only a hint (and is the service's number): reserve at
    // most 1 MiB up front.
    let hint = declared.map_or(0, |n| usize::try_from(n).unwrap_or(cap));
    let mut body = Vec::with_capacity(hint.min(cap).min(1 << 20));
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if body.len().saturating_add(chunk.len()) > cap {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `at + wait`, never panicking: a wait too long for the clock is cut to `ceiling`
/// (and to `at` itself should even that overflow). Callers bound server-derived waits
/// before this; this is the last guard, not the policy.
pub(crate) fn instant_after(at: Instant, wait: Duration, ceiling: Duration) -> Instant {
    at.checked_add(wait.min(ceiling)).unwrap_or(at)
}

/// `MiB` for messages: 67108864 → "64 MiB", 1048576 → "1 MiB".
pub(crate) fn mib(bytes: usize) -> String {
    if bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_after_an_absurd_wait_does_not_panic() {
        let now = Instant::now();
        let day = Duration::from_secs(86_400);
        assert_eq!(instant_after(now, Duration::MAX, day), now + day);
        assert_eq!(
            instant_after(now, Duration::from_secs(5), day),
            now + Duration::from_secs(5)
        );
    }

    #[test]
    fn sizes_read_as_mib() {
        assert_eq!(mib(64 << 20), "64 MiB");
        assert_eq!(mib(1 << 20), "1 MiB");
        assert_eq!(mib(1000), "1000 bytes");
    }
}
