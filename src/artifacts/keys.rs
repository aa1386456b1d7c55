//! Keys and signatures of signed artifacts (DESIGN §6): `manifest.sig`, the
//! public keys a provisioner trusts, and the local Ed25519 signer.
//!
//! A key is named by its `keyId`, the hex sha256 of its DER
//! SubjectPublicKeyInfo, so a verifier finds the key among several trusted
//! ones (key rotation) without trying each. Two algorithms: `ed25519` (local
//! PKCS#8 keys, deterministic signatures) and `ECDSA_SHA_256` over NIST P-256
//! (what AWS KMS signs with for key spec `ECC_NIST_P256`; DER signatures).

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::sha256_hex;

/// Name of the signature file inside OUT.
pub const SIGNATURE: &str = "manifest.sig";

/// `algorithm` of an Ed25519 signature.
pub const ED25519: &str = "ed25519";

/// `algorithm` of an ECDSA P-256 / SHA-256 signature, as AWS KMS names it.
pub const ECDSA_SHA_256: &str = "ECDSA_SHA_256";

/// `OUT/manifest.sig`: a signature over the exact bytes of `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestSignature {
    /// Hex sha256 of the signing key's DER SubjectPublicKeyInfo.
    pub key_id: String,
    /// `ed25519` or `ECDSA_SHA_256`.
    pub algorithm: String,
    /// The signature, standard base64 (64 bytes for Ed25519, ASN.1 DER for ECDSA).
    pub signature: String,
}

/// Why a key could not be read or a signature not made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read key file `{}`: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("`{}` is not {expected}: {message}", path.display())]
    Key {
        path: PathBuf,
        expected: &'static str,
        message: String,
    },
    #[error("AWS KMS key `{key}`: {message}")]
    Kms { key: String, message: String },
    #[error("{0}")]
    Other(String),
}

/// Something that signs the bytes of a manifest.
pub trait Signer: fmt::Debug + Send + Sync {
    /// The signature file for `message`.
    fn sign(&self, message: &[u8]) -> Result<ManifestSignature, SignError>;
}

/// A public key a provisioner trusts.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} key {}", self.algorithm(), self.key_id())
    }
}

impl PublicKey {
    /// Reads a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) holding an Ed25519 or
    /// a NIST P-256 key, as `openssl pkey -pubout` writes it.
    pub fn from_pem(pem: &str) -> Result<PublicKey, String> {
        // One trait (spki's) decodes both kinds of key.
        use ed25519_dalek::pkcs8::DecodePublicKey as _;
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            return Ok(PublicKey::Ed25519(key));
        }
        match p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            Ok(key) => Ok(PublicKey::P256(key)),
            Err(e) => Err(format!(
                "not a PEM public key (SubjectPublicKeyInfo) of an Ed25519 or NIST P-256 key: {e}"
            )),
        }
    }

    /// Reads [`PublicKey::from_pem`] from a file.
    pub fn from_pem_file(path: &Path) -> Result<PublicKey, SignError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        PublicKey::from_pem(&text).map_err(|message| SignError::Key {
            path: path.to_path_buf(),
            expected: "a public key",
            message,
        })
    }

    /// Reads a DER SubjectPublicKeyInfo of a NIST P-256 key (what KMS
    /// `GetPublicKey` returns).
    pub fn p256_from_der(der: &[u8]) -> Result<PublicKey, String> {
        use p256::pkcs8::DecodePublicKey as _;
        p256::ecdsa::VerifyingKey::from_public_key_der(der)
            .map(PublicKey::P256)
            .map_err(|e| format!("not a NIST P-256 public key: {e}"))
    }

    /// The DER SubjectPublicKeyInfo of the key.
    pub fn spki_der(&self) -> Vec<u8> {
        use ed25519_dalek::pkcs8::EncodePublicKey as _;
        let der = match self {
            PublicKey::Ed25519(key) => key.to_public_key_der(),
            PublicKey::P256(key) => key.to_public_key_der(),
        };
        der.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// Hex sha256 of [`PublicKey::spki_der`]: the `keyId` of `manifest.sig`.
    pub fn key_id(&self) -> String {
        sha256_hex(&self.spki_der())
    }

    /// The only `algorithm` this key verifies.
    pub fn algorithm(&self) -> &'static str {
        match self {
            PublicKey::Ed25519(_) => ED25519,
            PublicKey::P256(_) => ECDSA_SHA_256,
        }
    }

    /// Whether `signature` (as `manifest.sig` holds it) is this key's
    /// signature of `message` under `algorithm`. Ed25519 is checked strictly
    /// (no malleable or small-order forms).
    pub fn verifies(&self, algorithm: &str, message: &[u8], signature: &str) -> bool {
        if algorithm != self.algorithm() {
            return false;
        }
        let Ok(bytes) = BASE64.decode(signature) else { return false };
        match self {
            PublicKey::Ed25519(key) => {
                ed25519_dalek::Signature::from_slice(&bytes).is_ok_and(|sig| key.verify_strict(message, &sig).is_ok())
            }
            PublicKey::P256(key) => {
                use p256::ecdsa::signature::Verifier as _;
                p256::ecdsa::Signature::from_der(&bytes).is_ok_and(|sig| key.verify(message, &sig).is_ok())
            }
        }
    }
}

/// A local Ed25519 signing key (`compile --sign file:PATH`).
pub struct FileSigner {
    key: ed25519_dalek::SigningKey,
    key_id: String,
}

impl fmt::Debug for FileSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519 signing key {}", self.key_id)
    }
}

impl FileSigner {
    /// Reads an Ed25519 private key in PKCS#8 PEM (`openssl genpkey -algorithm ed25519`).
    pub fn from_pem_file(path: &Path) -> Result<FileSigner, SignError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        FileSigner::from_pem(&text).map_err(|message| SignError::Key {
            path: path.to_path_buf(),
            expected: "an Ed25519 private key in PKCS#8 PEM",
            message,
        })
    }

    /// Reads an Ed25519 private key from PKCS#8 PEM text.
    pub fn from_pem(pem: &str) -> Result<FileSigner, String> {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())?;
        Ok(FileSigner::new(key))
    }

    /// Signs with `key`.
    pub fn new(key: ed25519_dalek::SigningKey) -> FileSigner {
        let key_id = PublicKey::Ed25519(key.verifying_key()).key_id();
        FileSigner { key, key_id }
    }
}

impl Signer for FileSigner {
    fn sign(&self, message: &[u8]) -> Result<ManifestSignature, SignError> {
        use ed25519_dalek::Signer as _;
        let signature = self.key.sign(message);
        Ok(ManifestSignature {
            key_id: self.key_id.clone(),
            algorithm: ED25519.to_string(),
            signature: BASE64.encode(signature.to_bytes()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 §7.1, test 1: secret key, public key and the signature of the empty message.
    const SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const SIG: &str =
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn rfc8032_signer() -> FileSigner {
        let secret: [u8; 32] = hex(SECRET).try_into().unwrap();
        FileSigner::new(ed25519_dalek::SigningKey::from_bytes(&secret))
    }

    #[test]
    fn ed25519_signs_as_rfc_8032_says_and_names_the_key_by_its_spki_hash() {
        let sig = rfc8032_signer().sign(b"").unwrap();
        assert_eq!(BASE64.decode(&sig.signature).unwrap(), hex(SIG));
        assert_eq!(sig.algorithm, "ed25519");
        // SubjectPublicKeyInfo of an Ed25519 key: the fixed 12-byte prefix (RFC 8410) and the key.
        let mut spki = hex("302a300506032b6570032100");
        spki.extend(hex(PUBLIC));
        assert_eq!(sig.key_id, sha256_hex(&spki));
    }

    #[test]
    fn a_signature_verifies_only_for_its_message_key_and_algorithm() {
        let signer = rfc8032_signer();
        let key = PublicKey::Ed25519(signer.key.verifying_key());
        let sig = signer.sign(b"manifest").unwrap();
        assert!(key.verifies("ed25519", b"manifest", &sig.signature));
        assert!(!key.verifies("ed25519", b"manifesT", &sig.signature));
        assert!(!key.verifies("ECDSA_SHA_256", b"manifest", &sig.signature));
        assert!(!key.verifies("ed25519", b"manifest", "not base64!"));
        let other = PublicKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key());
        assert!(!other.verifies("ed25519", b"manifest", &sig.signature));
    }
}
