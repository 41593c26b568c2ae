//! The SSH side's policy: which algorithms are offered, in what order, and russh's transport
//! settings (windows, packet sizes, keepalives, login attempts). Nothing here knows SFTP.

use std::borrow::Cow;
use std::time::Duration;

use russh::keys::{Algorithm, EcdsaCurve, HashAlg, PrivateKey};
use russh::server::Config;
use russh::{cipher, compression, kex, mac, MethodKind, MethodSet, Preferred, SshId};

/// The version string the server announces.
pub const SERVER_ID: &str = "SSH-2.0-freightdrop";

/// The key exchanges: X25519 only, the post-quantum hybrid (which contains X25519) first for
/// clients that have it, then plain curve25519.
const KEX: &[kex::Name] = &[
    kex::MLKEM768X25519_SHA256,
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    // Not algorithms but flags: without them russh silently turns off strict key exchange (the
    // Terrapin fix) and the ext-info message that tells clients `server-sig-algs`.
    kex::EXTENSION_SUPPORT_AS_SERVER,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

/// The signature algorithms. Host keys are filtered to the one we hold (ed25519); the list is
/// also sent as `server-sig-algs`, so it names what partners' user keys may sign with. No
/// `ssh-rsa` (SHA-1): RSA user keys must sign with rsa-sha2-256/512.
const SIGNATURES: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];

/// The ciphers: the AEAD ones first. AES-CTR follows because libssh2 before 1.11 (the curl of
/// Debian 12, which partners script with) knows no AEAD cipher and would find no common cipher.
/// CTR is paired with SHA-2 MACs below, so no SHA-1 and no CBC is ever offered.
const CIPHERS: &[cipher::Name] = &[
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_GCM,
    cipher::AES_128_GCM,
    cipher::AES_256_CTR,
    cipher::AES_128_CTR,
];

/// The MACs, used only with CTR (the AEAD ciphers carry their own). Encrypt-then-MAC first; the
/// plain SHA-2 ones again for libssh2 before 1.11, which has no `-etm` MACs.
const MACS: &[mac::Name] = &[
    mac::HMAC_SHA512_ETM,
    mac::HMAC_SHA256_ETM,
    mac::HMAC_SHA512,
    mac::HMAC_SHA256,
];

/// How long a refused authentication request takes at least, so answers don't tell apart users
/// that exist from ones that don't. The gate adds its own delay to refused logins.
const AUTH_REJECTION_TIME: Duration = Duration::from_millis(250);

/// russh's server configuration with our host key and policy.
pub fn ssh_config(host_key: PrivateKey) -> Config {
    Config {
        server_id: SshId::Standard(Cow::Borrowed(SERVER_ID)),
        methods: login_methods(),
        auth_rejection_time: AUTH_REJECTION_TIME,
        // OpenSSH clients start with a "none" request to learn the methods: answer it at once.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![host_key],
        max_auth_attempts: 6,
        // Uploads are bounded by this window over the round trip; 16 MiB keeps a WAN link full.
        window_size: 16 * 1024 * 1024,
        // One 32 KiB SFTP write plus its header fits in one channel packet.
        maximum_packet_size: 65535,
        channel_buffer_size: 256,
        event_buffer_size: 128,
        // Dead peers only: the idle timeout is the watchdog's, which keepalives can't fool.
        inactivity_timeout: Some(Duration::from_secs(3600)),
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 4,
        nodelay: true,
        preferred: Preferred {
            kex: Cow::Borrowed(KEX),
            key: Cow::Borrowed(SIGNATURES),
            cipher: Cow::Borrowed(CIPHERS),
            mac: Cow::Borrowed(MACS),
            compression: Cow::Borrowed(&[compression::NONE]),
            ..Preferred::DEFAULT
        },
        ..Default::default()
    }
}

/// The login methods offered, before and after a refusal: a wrong password must leave both
/// methods open, or OpenSSH stops prompting after the first try.
pub fn login_methods() -> MethodSet {
    MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..])
}

/// Whether a signature algorithm is allowed for user keys (no SHA-1).
pub fn signature_allowed(algorithm: &Algorithm) -> bool {
    !matches!(algorithm, Algorithm::Rsa { hash: None })
}
