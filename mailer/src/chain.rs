//! Finding a cause by its type along an error's `source()` chain, so that failures are sorted
//! by what they are (a refused certificate, a refused connection) and not by their wording,
//! which changes between crate versions.
//!
//! `std::io::Error::source()` skips the error it wraps (it returns the wrapped error's own
//! source), and TLS failures travel inside `io::Error`s (tokio-rustls wraps the
//! `rustls::Error`), so the walk also looks inside them with `get_ref()`.

use std::error::Error;

/// The errors of the chain, the outermost first, including those wrapped in `io::Error`s.
pub fn causes<'a>(e: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    let mut next = Some(e);
    std::iter::from_fn(move || {
        let cur = next?;
        next = match cur
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => cur.source(),
        };
        Some(cur)
    })
}

/// The first cause of type `T`.
pub fn find<'a, T: Error + 'static>(e: &'a (dyn Error + 'static)) -> Option<&'a T> {
    causes(e).find_map(|c| c.downcast_ref::<T>())
}

/// The certificate problem when the peer's certificate was refused during the TLS handshake.
pub fn refused_certificate<'a>(
    e: &'a (dyn Error + 'static),
) -> Option<&'a rustls::CertificateError> {
    causes(e).find_map(|c| match c.downcast_ref::<rustls::Error>() {
        Some(rustls::Error::InvalidCertificate(problem)) => Some(problem),
        _ => None,
    })
}

/// Why a certificate was refused, in the three cases that call for different fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertTrouble {
    /// Self-signed, or issued by a CA not trusted here.
    Issuer,
    /// A CA certificate presented as the server's own certificate.
    CaAsLeaf,
    /// It does not carry the name connected to.
    Name,
    /// Expired or not yet valid.
    Time,
}

/// Sorts a certificate problem.
pub fn trouble(problem: &rustls::CertificateError) -> CertTrouble {
    use rustls::CertificateError as C;
    match problem {
        C::NotValidForName | C::NotValidForNameContext { .. } => CertTrouble::Name,
        C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => {
            CertTrouble::Time
        }
        C::Other(other)
            if matches!(
                other.0.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            ) =>
        {
            CertTrouble::CaAsLeaf
        }
        _ => CertTrouble::Issuer,
    }
}

/// What a refused certificate means, for the sentence that reports it.
pub fn certificate_advice(problem: &rustls::CertificateError) -> &'static str {
    match trouble(problem) {
        CertTrouble::Name => "it does not carry the name connected to",
        CertTrouble::Time => "it is expired or not yet valid (or this machine's clock is wrong)",
        CertTrouble::Issuer => "it is self-signed or issued by a CA this machine does not trust",
        CertTrouble::CaAsLeaf => {
            "it is a CA certificate presented as the server's own; the server needs a certificate issued by that CA"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_rustls_error_inside_an_io_error() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        #[derive(Debug, thiserror::Error)]
        #[error("connection error")]
        struct Outer(#[source] std::io::Error);
        let outer = Outer(io);
        assert!(matches!(
            refused_certificate(&outer),
            Some(rustls::CertificateError::UnknownIssuer)
        ));
        assert!(find::<std::io::Error>(&outer).is_some());
        let plain = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(refused_certificate(&plain).is_none());
    }
}
