//! Bearer JWT verification for the deconflict DSS (ASTM F3548-21 / InterUSS
//! DSS API), plus a development-mode token minter.
//!
//! * [`Verifier`] checks `Authorization: Bearer` tokens: RS256 or ES256 only,
//!   keys from PEM files / PEM text (static) and/or a JWKS URL (refreshed in
//!   the background and on unknown `kid`), `aud` against a configured list,
//!   `exp` (required), `nbf`, a maximum lifetime, and a non-empty `sub`.
//!   Its [`AuthError`]s are short messages fit for a 401 body.
//! * [`bearer_token`] extracts the token from the header value.
//! * [`dev::DevKey`] holds a local ES256 key and mints tokens for development.
//! * [`scopes`] has the F3548 and F3411 scope strings.
//!
//! Tokens minted by the InterUSS conformance tool ("NoAuth": RS256, no `kid`,
//! no `iat`, `exp` = now + 3600, `aud` = the host name) are accepted with the
//! default settings once its public key is configured.

pub mod dev;
pub mod scopes;

mod claims;
mod error;
mod jwks;
mod keys;
mod verifier;

pub use claims::Claims;
pub use error::{AuthError, AuthSetupError};
pub use keys::key_id_for_spki_der;
pub use verifier::{bearer_token, Verifier, VerifierConfig};
