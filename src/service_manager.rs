//! Telling the service manager how the process is doing. Under systemd (`Type=notify`) a unit
//! is "started" only once the program says it is ready, so `systemctl start` and the units
//! that depend on it wait for a listening collector rather than a forked process; a watchdog,
//! when the unit sets `WatchdogSec=`, restarts a process whose runtime stopped turning. Where
//! there is no systemd (Windows, a terminal, a container) each call does nothing.

/// Says start-up is done: the port is bound, the store is open, the first schedule is set.
pub fn ready() {
    imp::ready();
}

/// Says a graceful stop has begun, so systemd waits for it instead of counting a hang.
pub fn stopping() {
    imp::stopping();
}

/// Pings the watchdog from the async runtime at half the unit's `WatchdogSec=`, for as long
/// as the runtime lives; does nothing when the unit has no watchdog.
pub fn spawn_watchdog() {
    imp::spawn_watchdog();
}

#[cfg(target_os = "linux")]
mod imp {
    use sd_notify::NotifyState;

    pub fn ready() {
        if let Err(e) = sd_notify::notify(false, &[NotifyState::Ready]) {
            tracing::warn!(error = %e, "cannot tell systemd this service is ready");
        }
    }

    pub fn stopping() {
        let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
    }

    pub fn spawn_watchdog() {
        let mut usec = 0;
        if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
            return;
        }
        let every = std::time::Duration::from_micros(usec / 2);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
            }
        });
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn ready() {}
    pub fn stopping() {}
    pub fn spawn_watchdog() {}
}
