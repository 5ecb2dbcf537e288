//! The TLS crypto provider every connection agentstorm makes or serves uses (agents, the
//! simulated gateway, its push callbacks), in one place so the client and the simulated
//! gateway agree on it without depending on each other.

/// The crypto of every TLS connection agentstorm makes or serves (agents, the simulated
/// gateway, its push callbacks): aws-lc-rs (rustls' default provider) with ring's cipher
/// suites. Profiled on the same machine:
/// - aws-lc-rs's X25519 costs half of ring's: a sign-in storm over fresh connections spent
///   16 % of the harness's CPU in ring's X25519, 9 % in aws-lc-rs's;
/// - ring's AES-GCM record path is the lighter one on small records: polling over HTTPS
///   keep-alive, TLS records (AEAD and rustls) took 7.6 % of the harness's CPU with ring's
///   suites and 9.6 % with aws-lc-rs's.
pub fn crypto() -> rustls::crypto::CryptoProvider {
    rustls::crypto::CryptoProvider {
        cipher_suites: rustls::crypto::ring::DEFAULT_CIPHER_SUITES.to_vec(),
        ..rustls::crypto::aws_lc_rs::default_provider()
    }
}
