//! How hlprov trusts a Proxmox VE node's HTTPS certificate: a pinned SHA-256 fingerprint of the node's own
//! certificate (what `pvenode cert info` and the web UI show), or a CA file (the cluster's
//! /etc/pve/pve-root-ca.pem, or your own CA). There is no "accept anything" default: a node whose certificate
//! cannot be checked is refused. Signatures are always verified with the crypto provider's algorithms (ring).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;

/// What to trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// The SHA-256 of the server's leaf certificate (DER), 32 bytes.
    Fingerprint(Vec<u8>),
    /// A PEM file of CA certificates; the server's name must match its certificate.
    CaFile(std::path::PathBuf),
}

/// Parse a fingerprint as PVE and openssl print it (`AB:CD:…`, 32 bytes) or as plain hex.
pub fn parse_fingerprint(text: &str) -> Result<Vec<u8>, String> {
    let hex_text: String = text.trim().chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&hex_text).map_err(|_| format!("'{text}' is not a SHA-256 fingerprint (64 hex digits, ':' between bytes allowed)"))?;
    if bytes.len() != 32 {
        return Err(format!("'{text}' is not a SHA-256 fingerprint: {} bytes instead of 32", bytes.len()));
    }
    Ok(bytes)
}

/// The SHA-256 fingerprint of a DER certificate, as `AB:CD:…`.
pub fn fingerprint_text(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS client configuration that trusts exactly what `trust` says.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| e.to_string())?;
    let config = match trust {
        Trust::Fingerprint(fp) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { fingerprint: fp.clone(), algorithms: provider.signature_verification_algorithms }))
            .with_no_client_auth(),
        Trust::CaFile(path) => {
            let mut roots = RootCertStore::empty();
            for cert in read_pem_certs(path)? {
                roots.add(cert).map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
            }
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            builder.with_webpki_verifier(verifier).with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// Trusts one certificate, by its SHA-256: the name in it and its issuer do not matter (the pin is stronger
/// than both), its signature over the handshake does.
#[derive(Debug)]
struct Pinned {
    fingerprint: Vec<u8>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use sha2::Digest;
        if sha2::Sha256::digest(end_entity.as_ref()).as_slice() == self.fingerprint.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the node's certificate has the SHA-256 fingerprint {}, not the pinned {}",
                fingerprint_text(end_entity.as_ref()),
                self.fingerprint.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_both_spellings() {
        let colon = "AB:".repeat(31) + "AB";
        assert_eq!(parse_fingerprint(&colon).unwrap(), vec![0xab; 32]);
        assert_eq!(parse_fingerprint(&"ab".repeat(32)).unwrap(), vec![0xab; 32]);
        assert!(parse_fingerprint("AB:CD").unwrap_err().contains("2 bytes"));
        assert!(parse_fingerprint("zz").is_err());
    }
}
