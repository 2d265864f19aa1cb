//! The stop flag every long-running task of the collector watches (the server sets it on
//! shutdown). Its own module at the bottom of the layer order, so the listener, the store cell,
//! the TLS reloader and the services can wait for it without importing the server that starts
//! them.

use tokio::sync::watch;

/// Resolves once the stop flag is set (or its sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
