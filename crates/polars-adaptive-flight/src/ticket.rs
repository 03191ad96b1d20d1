//! Signed, expiring messages: the tickets of `DoGet`, the handles of prepared statements and
//! the bearer tokens of sessions. The server keeps no state for any of them: each carries what
//! it stands for and an HMAC-SHA256 under a key drawn when the server starts, so a client can
//! neither forge nor alter one, and a restart invalidates them all.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::FlightSqlError;

const VERSION: u8 = 1;
const HEADER: usize = 1 + 1 + 8 + 8 + 4 + 4;
const MAC: usize = 32;

/// What a signed message stands for; a message of one kind is refused as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// A `DoGet` ticket: one part of a statement's result.
    Ticket = 1,
    /// A prepared statement's handle.
    Prepared = 2,
    /// A session's bearer token; the body is the user name.
    Session = 3,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Ticket => "ticket",
            Kind::Prepared => "prepared statement handle",
            Kind::Session => "bearer token",
        }
    }
}

/// A verified message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signed {
    /// Unique per message: the query a ticket starts, for `CancelFlightInfo`.
    pub(crate) nonce: u64,
    /// The part of the result a ticket reads, of `parts`.
    pub(crate) part: u32,
    pub(crate) parts: u32,
    /// The statement (tickets, handles) or the user (sessions).
    pub(crate) body: String,
}

/// Signs and verifies with the server's key.
pub(crate) struct Signer {
    key: hmac::Key,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

impl Signer {
    /// A signer with a fresh random key.
    pub(crate) fn new() -> Result<Self, FlightSqlError> {
        let rng = SystemRandom::new();
        let mut secret = [0u8; 32];
        rng.fill(&mut secret)
            .map_err(|_| FlightSqlError::Serve("no randomness for the ticket key".into()))?;
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            rng,
        })
    }

    /// A fresh random nonce.
    pub(crate) fn nonce(&self) -> u64 {
        let mut bytes = [0u8; 8];
        // A failing system RNG leaves zeros: nonces only tell queries apart for cancelling.
        let _ = self.rng.fill(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    /// `message` signed, valid for `ttl` (forever with `None`).
    pub(crate) fn sign(&self, kind: Kind, message: &Signed, ttl: Option<Duration>) -> Vec<u8> {
        let expires = ttl.map_or(0, |ttl| now_ms().saturating_add(ttl.as_millis() as u64));
        let mut out = Vec::with_capacity(HEADER + message.body.len() + MAC);
        out.push(VERSION);
        out.push(kind as u8);
        out.extend_from_slice(&expires.to_le_bytes());
        out.extend_from_slice(&message.nonce.to_le_bytes());
        out.extend_from_slice(&message.part.to_le_bytes());
        out.extend_from_slice(&message.parts.to_le_bytes());
        out.extend_from_slice(message.body.as_bytes());
        let tag = hmac::sign(&self.key, &out);
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// The message `bytes` carries, if this server signed it as `kind` and it has not expired.
    pub(crate) fn verify(&self, kind: Kind, bytes: &[u8]) -> Result<Signed, FlightSqlError> {
        let bad = || FlightSqlError::BadSignature { what: kind.what() };
        if bytes.len() < HEADER + MAC {
            return Err(bad());
        }
        let (signed, tag) = bytes.split_at(bytes.len() - MAC);
        // Constant time: `ring` compares the tags without an early exit.
        hmac::verify(&self.key, signed, tag).map_err(|_| bad())?;
        if signed[0] != VERSION || signed[1] != kind as u8 {
            return Err(bad());
        }
        let u64_at = |i: usize| u64::from_le_bytes(signed[i..i + 8].try_into().unwrap());
        let u32_at = |i: usize| u32::from_le_bytes(signed[i..i + 4].try_into().unwrap());
        let expires = u64_at(2);
        let now = now_ms();
        if expires != 0 && now > expires {
            return Err(FlightSqlError::TicketExpired {
                seconds_ago: (now - expires) / 1000,
            });
        }
        let body = std::str::from_utf8(&signed[HEADER..]).map_err(|_| bad())?;
        Ok(Signed {
            nonce: u64_at(10),
            part: u32_at(18),
            parts: u32_at(22),
            body: body.to_string(),
        })
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Signed {
        Signed {
            nonce: 7,
            part: 1,
            parts: 3,
            body: "SELECT 1".into(),
        }
    }

    #[test]
    fn a_signed_message_verifies_as_its_kind_only() {
        let signer = Signer::new().unwrap();
        let bytes = signer.sign(Kind::Ticket, &message(), Some(Duration::from_secs(60)));
        assert_eq!(signer.verify(Kind::Ticket, &bytes).unwrap(), message());
        assert!(matches!(
            signer.verify(Kind::Prepared, &bytes),
            Err(FlightSqlError::BadSignature { .. })
        ));
    }

    #[test]
    fn any_altered_byte_or_another_key_is_refused() {
        let signer = Signer::new().unwrap();
        let bytes = signer.sign(Kind::Ticket, &message(), None);
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x01;
            assert!(signer.verify(Kind::Ticket, &tampered).is_err(), "byte {i}");
        }
        assert!(signer
            .verify(Kind::Ticket, &bytes[..bytes.len() - 1])
            .is_err());
        assert!(Signer::new().unwrap().verify(Kind::Ticket, &bytes).is_err());
    }

    #[test]
    fn an_expired_message_is_refused_as_expired() {
        let signer = Signer::new().unwrap();
        let bytes = signer.sign(Kind::Ticket, &message(), Some(Duration::ZERO));
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(
            signer.verify(Kind::Ticket, &bytes),
            Err(FlightSqlError::TicketExpired { .. })
        ));
    }
}
