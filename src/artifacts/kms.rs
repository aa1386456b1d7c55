//! Signing a manifest with an AWS KMS asymmetric key (`compile --sign
//! awskms:KEY-ID`, feature `kms`). The private key never leaves KMS: amiset
//! asks `GetPublicKey` once (to name the key and to check each signature it
//! gets back) and `Sign` once per compile.
//!
//! Key spec `ECC_NIST_P256`, signing algorithm `ECDSA_SHA_256`. KMS signs a
//! raw message of at most 4096 bytes; a larger manifest is sent as its
//! SHA-256 digest (`MessageType=DIGEST`), which yields the same signature
//! over the same bytes. Endpoint, region and credentials come from the
//! standard AWS chain (`AWS_REGION`, `AWS_ENDPOINT_URL_KMS`, OIDC web
//! identity, ...); a key ARN also names its region.

use std::fmt;

use aws_config::BehaviorVersion;
use aws_sdk_kms::Client;
use aws_sdk_kms::config::Region;
use aws_sdk_kms::error::DisplayErrorContext;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use super::keys::{ECDSA_SHA_256, ManifestSignature, PublicKey, SignError, Signer};

/// The largest message KMS `Sign` takes as `RAW`.
const MAX_RAW_MESSAGE: usize = 4096;

/// A KMS signing key, its public key fetched.
pub struct KmsSigner {
    key: String,
    public: PublicKey,
    client: Client,
    runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for KmsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AWS KMS key {} ({})", self.key, self.public.key_id())
    }
}

impl KmsSigner {
    /// Connects to KMS and fetches the public key of `key` (a key id, alias
    /// or ARN), which must be an `ECC_NIST_P256` signing key.
    pub fn connect(key: &str) -> Result<KmsSigner, SignError> {
        let kms = |message: String| SignError::Kms {
            key: key.to_string(),
            message,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SignError::Other(format!("cannot start the AWS client: {e}")))?;
        let client = runtime.block_on(async {
            let mut loader = aws_config::defaults(BehaviorVersion::latest());
            // arn:aws:kms:REGION:ACCOUNT:key/ID names its region.
            if let Some(region) = key.strip_prefix("arn:").and_then(|arn| arn.split(':').nth(2)) {
                loader = loader.region(Region::new(region.to_string()));
            }
            let shared = loader.load().await;
            if shared.region().is_none() {
                return Err(kms("no AWS region: set `AWS_REGION` or give the key's ARN".into()));
            }
            Ok(Client::new(&shared))
        })?;
        let answer = runtime
            .block_on(client.get_public_key().key_id(key).send())
            .map_err(|e| kms(format!("GetPublicKey failed: {}", DisplayErrorContext(&e))))?;
        if !answer.signing_algorithms().is_empty() && !answer.signing_algorithms().contains(&SigningAlgorithmSpec::EcdsaSha256) {
            return Err(kms(
                "the key cannot sign with ECDSA_SHA_256: create it with key spec ECC_NIST_P256 and key usage SIGN_VERIFY".into(),
            ));
        }
        let der = answer
            .public_key()
            .ok_or_else(|| kms("GetPublicKey returned no public key".into()))?;
        let public = PublicKey::p256_from_der(der.as_ref()).map_err(|e| kms(format!("{e}; amiset signs with key spec ECC_NIST_P256")))?;
        Ok(KmsSigner {
            key: key.to_string(),
            public,
            client,
            runtime,
        })
    }

    /// The public key, as a provisioner pins it.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }
}

impl Signer for KmsSigner {
    fn sign(&self, message: &[u8]) -> Result<ManifestSignature, SignError> {
        let (body, kind) = if message.len() <= MAX_RAW_MESSAGE {
            (message.to_vec(), MessageType::Raw)
        } else {
            (Sha256::digest(message).to_vec(), MessageType::Digest)
        };
        let request = self
            .client
            .sign()
            .key_id(&self.key)
            .message(Blob::new(body))
            .message_type(kind)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send();
        let kms = |message: String| SignError::Kms {
            key: self.key.clone(),
            message,
        };
        let answer = self
            .runtime
            .block_on(request)
            .map_err(|e| kms(format!("Sign failed: {}", DisplayErrorContext(&e))))?;
        let signature = answer.signature().ok_or_else(|| kms("Sign returned no signature".into()))?;
        let signature = BASE64.encode(signature.as_ref());
        // A signature that does not verify would only be refused by every provisioner later.
        if !self.public.verifies(ECDSA_SHA_256, message, &signature) {
            return Err(kms("the signature KMS returned does not verify against the key's public key".into()));
        }
        Ok(ManifestSignature {
            key_id: self.public.key_id(),
            algorithm: ECDSA_SHA_256.to_string(),
            signature,
        })
    }
}
