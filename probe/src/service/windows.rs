//! The Service Control Manager's side: registering, starting, stopping, and the service's own
//! entry point, which runs the daemon until the SCM says stop or the machine shuts down.

use anyhow::Context as _;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::service_dispatcher;
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::spec::{self, Phase, ServiceSpec, SERVICE_NAME};

/// Win32 ERROR_SERVICE_ALREADY_RUNNING.
const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;

/// The configuration path handed from `main` to the SCM's callback, which takes no arguments.
static CONFIG: OnceLock<PathBuf> = OnceLock::new();
/// The exit status the service ended with, for `main` once the dispatcher returns.
static EXIT: Mutex<u8> = Mutex::new(0);

fn manager(access: ServiceManagerAccess) -> anyhow::Result<ServiceManager> {
    ServiceManager::local_computer(None::<&str>, access)
        .context("cannot open the Service Control Manager (run this from an Administrator prompt)")
}

pub fn install(spec: &ServiceSpec, password: Option<&str>) -> anyhow::Result<()> {
    let m = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
    let info = ServiceInfo {
        name: SERVICE_NAME.into(),
        display_name: spec::DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: spec.executable.clone(),
        launch_arguments: spec.arguments.clone(),
        dependencies: vec![],
        account_name: spec.account.as_ref().map(OsString::from),
        account_password: password.map(OsString::from),
    };
    let service = m
        .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::START)
        .with_context(|| format!("cannot create the service {SERVICE_NAME} (is it installed already? `vigia-probe service uninstall` first)"))?;
    // The service exists from here on: a setting that cannot be applied is said, not fatal.
    let settings: [(&str, windows_service::Result<()>); 4] = [
        ("description", service.set_description(spec::DESCRIPTION)),
        // Delayed: the network and the recorder's share are up by the time the probe starts.
        (
            "delayed automatic start",
            service.set_delayed_auto_start(true),
        ),
        (
            "restart on failure",
            service.update_failure_actions(ServiceFailureActions {
                reset_period: ServiceFailureResetPeriod::After(spec.reset_failures_after),
                reboot_msg: None,
                command: None,
                actions: Some(
                    spec.restart_after
                        .iter()
                        .map(|d| ServiceAction {
                            action_type: ServiceActionType::Restart,
                            delay: *d,
                        })
                        .collect(),
                ),
            }),
        ),
        // A non-zero exit (configuration error, lost certificate) counts as a failure too.
        (
            "restart after an error exit",
            service.set_failure_actions_on_non_crash_failures(true),
        ),
    ];
    for (what, result) in settings {
        if let Err(e) = result {
            eprintln!("warning: {SERVICE_NAME} installed, but its {what} could not be set: {e}");
        }
    }
    Ok(())
}

fn open(access: ServiceAccess) -> anyhow::Result<windows_service::service::Service> {
    manager(ServiceManagerAccess::CONNECT)?
        .open_service(SERVICE_NAME, access)
        .with_context(|| format!("the service {SERVICE_NAME} is not installed (`vigia-probe --config PATH service install`)"))
}

fn wait_for(
    service: &windows_service::service::Service,
    want: ServiceState,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let now = service.query_status()?.current_state;
        if now == want {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!(
                "{SERVICE_NAME} is {now:?} after {} s, not {want:?}",
                within.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub fn uninstall() -> anyhow::Result<()> {
    let service = open(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE)?;
    if service.query_status()?.current_state != ServiceState::Stopped {
        let _ = service.stop();
        wait_for(&service, ServiceState::Stopped, spec::STOP_WAIT)?;
    }
    service.delete()?;
    Ok(())
}

pub fn start() -> anyhow::Result<()> {
    let service = open(ServiceAccess::QUERY_STATUS | ServiceAccess::START)?;
    match service.start::<&str>(&[]) {
        Ok(()) => {}
        // Already running (started by hand, or by the SCM at boot): what was asked for.
        Err(windows_service::Error::Winapi(e))
            if e.raw_os_error() == Some(ERROR_SERVICE_ALREADY_RUNNING) => {}
        Err(e) => return Err(e.into()),
    }
    wait_for(&service, ServiceState::Running, Duration::from_secs(30))
}

pub fn stop() -> anyhow::Result<()> {
    let service = open(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP)?;
    service.stop()?;
    wait_for(&service, ServiceState::Stopped, spec::STOP_WAIT)
}

pub fn status() -> anyhow::Result<String> {
    let service = open(ServiceAccess::QUERY_STATUS)?;
    let s = service.query_status()?;
    Ok(format!("{SERVICE_NAME}: {:?}", s.current_state))
}

pub fn run(config: &Path) -> anyhow::Result<ExitCode> {
    let _ = CONFIG.set(config.to_path_buf());
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).context(
        "`service run` is for the Service Control Manager; to run the probe in this window use `vigia-probe run`",
    )?;
    let code = *EXIT.lock().unwrap_or_else(|p| p.into_inner());
    Ok(ExitCode::from(code))
}

windows_service::define_windows_service!(ffi_service_main, service_main);

fn service_main(_arguments: Vec<OsString>) {
    let Some(config) = CONFIG.get() else { return };
    let code = serve(config);
    *EXIT.lock().unwrap_or_else(|p| p.into_inner()) = code;
}

fn to_scm(r: spec::Report) -> ServiceStatus {
    let current_state = match r.phase {
        Phase::Starting => ServiceState::StartPending,
        Phase::Running => ServiceState::Running,
        Phase::Stopping => ServiceState::StopPending,
        Phase::Stopped(_) => ServiceState::Stopped,
    };
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state,
        controls_accepted: if r.accepts_stop {
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
        } else {
            ServiceControlAccept::empty()
        },
        exit_code: if r.exit_code == 0 {
            ServiceExitCode::Win32(0)
        } else {
            ServiceExitCode::ServiceSpecific(r.exit_code)
        },
        checkpoint: 0,
        wait_hint: r.wait_hint,
        process_id: None,
    }
}

fn tell(handle: ServiceStatusHandle, phase: Phase) {
    if let Err(e) = handle.set_service_status(to_scm(spec::report(phase))) {
        tracing::warn!(error = %e, ?phase, "cannot report the service state to Windows");
    }
}

/// The service's life: report starting, run the daemon until stop or shutdown, report stopped.
/// The status it gives the SCM is the console's (`vigia::exit_codes`).
fn serve(config: &Path) -> u8 {
    use vigia::exit_codes::ExitCode as Exit;
    if let Err(e) = vigia::process::init_logging_to_file(&spec::log_path(config)) {
        vigia::process::init_logging();
        tracing::warn!(error = %e, "cannot open the log file; logging to stderr only");
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = Mutex::new(Some(stop_tx));
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
            if let Some(tx) = stop_tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = tx.send(());
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = match service_control_handler::register(SERVICE_NAME, handler) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot register with the Service Control Manager");
            return Exit::GeneralError.code();
        }
    };
    tell(handle, Phase::Starting);
    let code = match crate::config::ProbeConfig::load(config) {
        Err(e) => vigia::exit_codes::invalid_configuration(&e).code(),
        Ok(cfg) => {
            tell(handle, Phase::Running);
            let shutdown = async move {
                let _ = stop_rx.await;
                tracing::info!("stop requested by Windows; draining");
                tell(handle, Phase::Stopping);
            };
            match crate::cli::run_until(cfg, shutdown) {
                Ok(code) if code == ExitCode::SUCCESS => Exit::Success.code(),
                Ok(_) => Exit::GeneralError.code(),
                Err(e) => {
                    tracing::error!("{e:#}");
                    Exit::GeneralError.code()
                }
            }
        }
    };
    tell(handle, Phase::Stopped(code));
    code
}
