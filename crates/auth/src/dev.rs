//! Development mode: a local ES256 signing key and a token minter, so the
//! service can be exercised without an identity provider.
//!
//! The key lives in the data directory and survives restarts, so tokens
//! minted before a restart stay valid. The server passes
//! [`DevKey::public_key_pem`] to [`crate::VerifierConfig::extra_public_keys_pem`];
//! tokens carry the key's id in `kid`, which selects it directly.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use rand::RngCore as _;
use serde::Serialize;

use crate::keys::key_id_for_spki_der;

/// File name of the development signing key inside the data directory.
pub const DEV_KEY_FILE_NAME: &str = "dev-signing-key.pem";
/// `iss` of development tokens.
pub const DEV_ISSUER: &str = "deconflict-dev";

/// Why the development key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevKeyError {
    /// Reading, writing or creating the file or directory failed.
    #[error("development signing key {}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The existing file is not a P-256 private key.
    #[error("development signing key {}: {reason}", path.display())]
    InvalidKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The development ES256 (P-256) signing key.
pub struct DevKey {
    signing_key: SigningKey,
    public_key_pem: String,
    key_id: String,
    path: PathBuf,
}

impl std::fmt::Debug for DevKey {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey")
            .field("key_id", &self.key_id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

#[derive(Serialize)]
struct DevClaims<'a> {
    sub: &'a str,
    client_id: &'a str,
    scope: String,
    aud: &'a str,
    iss: &'static str,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
}

impl DevKey {
    /// Loads `data_dir/dev-signing-key.pem`, creating the directory and a new
    /// PKCS#8 P-256 key (mode 0600) if there is none yet.
    pub fn load_or_create(data_dir: &Path) -> Result<DevKey, DevKeyError> {
        let path = data_dir.join(DEV_KEY_FILE_NAME);
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DevKeyError::Io { path, source }
        };
        std::fs::create_dir_all(data_dir).map_err(io_err(data_dir))?;
        match std::fs::read_to_string(&path) {
            Ok(pem) => return Self::from_pem(&pem, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path)(e)),
        }

        let signing_key = SigningKey::random(&mut rand::rngs::OsRng);
        let pem =
            signing_key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| DevKeyError::InvalidKey {
                    path: path.clone(),
                    reason: format!("cannot encode the new key: {e}"),
                })?;

        // Write to a private temporary file, then hard-link it into place:
        // the link fails if the name exists, so two processes starting at
        // once cannot overwrite each other's key, and no reader ever sees a
        // half-written file.
        let tmp = data_dir.join(format!(
            ".{DEV_KEY_FILE_NAME}.{}.{:016x}.tmp",
            std::process::id(),
            rand::rngs::OsRng.next_u64()
        ));
        let written = write_private(&tmp, pem.as_bytes()).map_err(io_err(&tmp));
        let linked = written.and_then(|()| match std::fs::hard_link(&tmp, &path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io_err(&path)(e)),
        });
        let _ = std::fs::remove_file(&tmp);
        if linked? {
            tracing::info!(path = %path.display(), "created development signing key");
            return Self::from_signing_key(signing_key, path);
        }
        // Lost the race: use the key the other process wrote.
        let pem = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        Self::from_pem(&pem, path)
    }

    fn from_pem(pem: &str, path: PathBuf) -> Result<DevKey, DevKeyError> {
        let signing_key = SigningKey::from_pkcs8_pem(pem).map_err(|e| DevKeyError::InvalidKey {
            path: path.clone(),
            reason: format!("not a PKCS#8 PEM P-256 private key: {e}"),
        })?;
        warn_if_readable_by_others(&path);
        Self::from_signing_key(signing_key, path)
    }

    fn from_signing_key(signing_key: SigningKey, path: PathBuf) -> Result<DevKey, DevKeyError> {
        let public = signing_key.verifying_key();
        let encode_err = |e: p256::pkcs8::spki::Error| DevKeyError::InvalidKey {
            path: path.clone(),
            reason: format!("cannot encode the public key: {e}"),
        };
        let der = public.to_public_key_der().map_err(encode_err)?;
        let public_key_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(encode_err)?;
        Ok(DevKey {
            key_id: key_id_for_spki_der(der.as_bytes()),
            public_key_pem,
            signing_key,
            path,
        })
    }

    /// The public key as an SPKI `PUBLIC KEY` PEM, for
    /// [`crate::VerifierConfig::extra_public_keys_pem`].
    pub fn public_key_pem(&self) -> String {
        self.public_key_pem.clone()
    }

    /// The key id put in minted tokens' `kid` (see
    /// [`crate::key_id_for_spki_der`]).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Where the private key is stored.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Mints an ES256 access token valid from now for `ttl`. Note that the
    /// verifier's `max_lifetime` (1 h by default) also applies to these.
    pub fn mint(&self, sub: &str, scopes: &[String], audience: &str, ttl: Duration) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let mut jti = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut jti);
        let claims = DevClaims {
            sub,
            client_id: sub,
            scope: scopes.join(" "),
            aud: audience,
            iss: DEV_ISSUER,
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl),
            jti: jti.iter().map(|b| format!("{b:02x}")).collect(),
        };
        let header = Header {
            alg: "ES256",
            typ: "JWT",
            kid: &self.key_id,
        };
        // Serialising these plain structs cannot fail.
        let header = serde_json::to_vec(&header).unwrap_or_default();
        let claims = serde_json::to_vec(&claims).unwrap_or_default();
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        // RFC 6979 deterministic ECDSA; the fixed-size encoding is the
        // 64-byte r || s that JWS (RFC 7518 §3.4) requires.
        let signature: Signature = self.signing_key.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}

/// Creates `path` (which must not exist) readable by the owner only, and
/// writes `data` durably.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    "development signing key is accessible to other users; chmod 600 it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
