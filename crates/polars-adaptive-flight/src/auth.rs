//! Who may call: static bearer tokens, Basic credentials, and the bearer tokens a Basic
//! handshake returns. Checked by an interceptor in front of every call; secrets are compared
//! in constant time.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

use crate::error::FlightSqlError;
use crate::ticket::{Kind, Signed, Signer};

/// The credentials a server accepts.
#[derive(Debug)]
pub(crate) struct Auth {
    tokens: Vec<String>,
    users: Vec<(String, String)>,
    signer: Arc<Signer>,
    session_ttl: Duration,
}

/// Who a request is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// Nobody needs credentials on this server.
    Anyone,
    /// A static token.
    Token,
    /// A user, by Basic credentials or a session token.
    User(String),
}

impl Auth {
    pub(crate) fn new(
        tokens: Vec<String>,
        users: Vec<(String, String)>,
        signer: Arc<Signer>,
        session_ttl: Duration,
    ) -> Self {
        Self {
            tokens,
            users,
            signer,
            session_ttl,
        }
    }

    fn required(&self) -> bool {
        !self.tokens.is_empty() || !self.users.is_empty()
    }

    /// Who sent `metadata`'s credentials, or why they are refused.
    pub(crate) fn check(&self, metadata: &MetadataMap) -> Result<Caller, FlightSqlError> {
        let header = metadata.get("authorization").map(|v| v.to_str());
        let unauthenticated = |why: &str| FlightSqlError::Unauthenticated(why.to_string());
        let header = match header {
            None if !self.required() => return Ok(Caller::Anyone),
            None => {
                return Err(unauthenticated(
                    "no credentials: send 'authorization: Bearer <token>', or Basic credentials to the handshake",
                ))
            }
            Some(Err(_)) => return Err(unauthenticated("the authorization header is not text")),
            Some(Ok(h)) => h,
        };
        if !self.required() {
            return Ok(Caller::Anyone);
        }
        if let Some(token) = strip_scheme(header, "bearer") {
            // Every static token is compared, so the time taken does not tell which matched.
            let matched = self.tokens.iter().fold(0u8, |acc, t| {
                acc | t.as_bytes().ct_eq(token.as_bytes()).unwrap_u8()
            });
            if matched == 1 {
                return Ok(Caller::Token);
            }
            let session = URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|bytes| self.signer.verify(Kind::Session, &bytes).ok());
            return match session {
                Some(signed) if self.users.iter().any(|(u, _)| *u == signed.body) => {
                    Ok(Caller::User(signed.body))
                }
                _ => Err(unauthenticated(
                    "the bearer token is not valid (unknown, expired or altered)",
                )),
            };
        }
        if let Some(encoded) = strip_scheme(header, "basic") {
            let decoded = STANDARD
                .decode(encoded)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    unauthenticated("the Basic credentials are not base64 of user:password")
                })?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or_else(|| unauthenticated("the Basic credentials are not user:password"))?;
            let matched = self.users.iter().fold(0u8, |acc, (u, p)| {
                let same =
                    u.as_bytes().ct_eq(user.as_bytes()) & p.as_bytes().ct_eq(password.as_bytes());
                acc | same.unwrap_u8()
            });
            return if matched == 1 {
                Ok(Caller::User(user.to_string()))
            } else {
                Err(unauthenticated("wrong user name or password"))
            };
        }
        Err(unauthenticated(
            "the authorization header is neither Bearer nor Basic",
        ))
    }

    /// A bearer token for `user`, valid for the session lifetime.
    pub(crate) fn session_token(&self, user: &str) -> String {
        let message = Signed {
            nonce: self.signer.nonce(),
            part: 0,
            parts: 0,
            body: user.to_string(),
        };
        URL_SAFE_NO_PAD.encode(
            self.signer
                .sign(Kind::Session, &message, Some(self.session_ttl)),
        )
    }

    /// The interceptor that refuses calls without valid credentials.
    pub(crate) fn interceptor(
        self: Arc<Self>,
    ) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
        move |request: Request<()>| {
            self.check(request.metadata())?;
            Ok(request)
        }
    }
}

fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = header.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new(
            vec!["t0ken".into()],
            vec![("ann".into(), "pw".into())],
            Arc::new(Signer::new().unwrap()),
            Duration::from_secs(60),
        )
    }

    fn with(header: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", header.parse().unwrap());
        m
    }

    #[test]
    fn tokens_basic_credentials_and_sessions_are_accepted() {
        let auth = auth();
        assert_eq!(auth.check(&with("Bearer t0ken")).unwrap(), Caller::Token);
        let basic = format!("Basic {}", STANDARD.encode("ann:pw"));
        assert_eq!(
            auth.check(&with(&basic)).unwrap(),
            Caller::User("ann".into())
        );
        let session = format!("Bearer {}", auth.session_token("ann"));
        assert_eq!(
            auth.check(&with(&session)).unwrap(),
            Caller::User("ann".into())
        );
    }

    #[test]
    fn missing_wrong_and_foreign_credentials_are_refused() {
        let auth = auth();
        for metadata in [
            MetadataMap::new(),
            with("Bearer t0ken2"),
            with(&format!("Basic {}", STANDARD.encode("ann:PW"))),
            with(&format!("Bearer {}", auth_other_server())),
            with("Digest abc"),
        ] {
            assert!(matches!(
                auth.check(&metadata),
                Err(FlightSqlError::Unauthenticated(_))
            ));
        }
    }

    fn auth_other_server() -> String {
        auth().session_token("ann")
    }

    #[test]
    fn a_server_without_credentials_serves_anyone() {
        let open = Auth::new(
            vec![],
            vec![],
            Arc::new(Signer::new().unwrap()),
            Duration::ZERO,
        );
        assert_eq!(open.check(&MetadataMap::new()).unwrap(), Caller::Anyone);
    }
}
