//! The Admin service: operators (reader certificates) tell the collector which sites to expect,
//! what is decommissioned (a site, a recorder, a camera), and which findings are known for now
//! (acknowledgements). Each change is durable before it is answered, and drops the ListSites
//! pages built ahead (`crate::prefetch`), which were built without it.

use std::time::Duration;
use tonic::{Request, Response, Status};
use vigia::days::{from_timestamp, to_timestamp};
use vigia::pb::{self, VerdictKind};
use vigia::rules::ack::targets;

use crate::acks::AckRecord;
use crate::inventory::RetireError;
use crate::report;
use crate::service::{site_name, store_status, Shared, MAX_NOTE};
use crate::store::{SiteChange, StoreError};
use vigia::validate;

/// Longest acknowledgement: past this it is a retirement, not an acknowledgement.
const MAX_ACK: Duration = Duration::from_secs(90 * 86_400);
/// Longest `who`, in bytes.
const MAX_WHO: usize = 128;

/// The Admin service.
#[derive(Clone)]
pub(crate) struct AdminService(pub Shared);

impl AdminService {
    async fn report(&self, site: String) -> Result<Option<pb::SiteReport>, Status> {
        self.0
            .blocking(move |s, store| {
                report::site_report(&s.config, store, &site, s.clock.now()).map_err(store_status)
            })
            .await
    }

    async fn retire_part(
        &self,
        site: String,
        recorder: String,
        camera: Option<String>,
    ) -> Result<Response<pb::RetireResponse>, Status> {
        site_name("site", &site)?;
        if recorder.is_empty() {
            return Err(Status::invalid_argument("recorder: empty"));
        }
        if camera.as_deref() == Some("") {
            return Err(Status::invalid_argument("camera: empty"));
        }
        let written = self
            .0
            .writer
            .admin(&site, |store, now| {
                store.retire(&site, &recorder, camera.as_deref(), now)
            })
            .await;
        self.0.pages.invalidate();
        written.map_err(|e| match e {
            RetireError::Unknown(m) => Status::not_found(m),
            RetireError::Store(e) => Status::unavailable(e.to_string()),
        })?;
        Ok(Response::new(pb::RetireResponse {
            site: self.report(site).await?,
        }))
    }
}

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminService {
    async fn expect_site(
        &self,
        request: Request<pb::ExpectSiteRequest>,
    ) -> Result<Response<pb::ExpectSiteResponse>, Status> {
        let who = self.0.require_reader(&request, "Admin")?;
        let req = request.into_inner();
        site_name("site", &req.site)?;
        if req.note.len() > MAX_NOTE {
            return Err(Status::invalid_argument(format!(
                "note: {} bytes, at most {MAX_NOTE}",
                req.note.len()
            )));
        }
        let interval = match req.report_interval {
            None => report::DEFAULT_REPORT_INTERVAL,
            Some(d) => {
                let d = Duration::try_from(d).map_err(|_| {
                    Status::invalid_argument("report_interval: negative or malformed")
                })?;
                if d.is_zero() || d > validate::MAX_REPORT_INTERVAL {
                    return Err(Status::invalid_argument(format!(
                        "report_interval: must be between 1s and {}s",
                        validate::MAX_REPORT_INTERVAL.as_secs()
                    )));
                }
                d
            }
        };
        let written = self
            .0
            .writer
            .change_site(
                &req.site,
                SiteChange::Expect {
                    note: req.note.clone(),
                    interval,
                },
            )
            .await;
        self.0.pages.invalidate();
        written.map_err(|e| Status::unavailable(e.to_string()))?;
        tracing::info!(site = %req.site, by = %who.name, "site expected");
        let site = req.site;
        let report = self
            .0
            .blocking(move |s, store| {
                report::site_report(&s.config, store, &site, s.clock.now()).map_err(store_status)
            })
            .await?;
        Ok(Response::new(pb::ExpectSiteResponse { site: report }))
    }

    async fn retire_site(
        &self,
        request: Request<pb::RetireSiteRequest>,
    ) -> Result<Response<pb::RetireSiteResponse>, Status> {
        let who = self.0.require_reader(&request, "Admin")?;
        let site = request.into_inner().site;
        site_name("site", &site)?;
        let known = {
            let s = site.clone();
            self.0
                .blocking(move |sh, store| {
                    Ok(store.site(&s).map_err(store_status)?.is_some()
                        || sh.config.expected_sites.contains(&s))
                })
                .await?
        };
        if !known {
            return Err(Status::not_found(format!(
                "site: {site:?} is neither known nor expected"
            )));
        }
        let written = self.0.writer.change_site(&site, SiteChange::Retire).await;
        self.0.pages.invalidate();
        written.map_err(|e| Status::unavailable(e.to_string()))?;
        tracing::info!(site = %site, by = %who.name, "site retired");
        let report = self
            .0
            .blocking(move |s, store| {
                report::site_report(&s.config, store, &site, s.clock.now()).map_err(store_status)
            })
            .await?;
        Ok(Response::new(pb::RetireSiteResponse { site: report }))
    }

    async fn retire_camera(
        &self,
        request: Request<pb::RetireCameraRequest>,
    ) -> Result<Response<pb::RetireResponse>, Status> {
        let who = self.0.require_reader(&request, "Admin")?;
        let req = request.into_inner();
        tracing::info!(site = %req.site, recorder = %req.recorder, camera = %req.camera, by = %who.name, "retiring camera");
        self.retire_part(req.site, req.recorder, Some(req.camera))
            .await
    }

    async fn retire_recorder(
        &self,
        request: Request<pb::RetireRecorderRequest>,
    ) -> Result<Response<pb::RetireResponse>, Status> {
        let who = self.0.require_reader(&request, "Admin")?;
        let req = request.into_inner();
        tracing::info!(site = %req.site, recorder = %req.recorder, by = %who.name, "retiring recorder");
        self.retire_part(req.site, req.recorder, None).await
    }

    async fn acknowledge(
        &self,
        request: Request<pb::AcknowledgeRequest>,
    ) -> Result<Response<pb::AcknowledgeResponse>, Status> {
        let who = self.0.require_reader(&request, "Admin")?;
        let req = request.into_inner();
        site_name("site", &req.site)?;
        let kind = match VerdictKind::try_from(req.kind) {
            Ok(VerdictKind::Ok | VerdictKind::Unspecified) | Err(_) => {
                return Err(Status::invalid_argument(
                    "kind: name the finding to acknowledge (e.g. VERDICT_KIND_CAMERA_LATE), not OK or unset",
                ))
            }
            Ok(k) => k,
        };
        if req.note.len() > MAX_NOTE {
            return Err(Status::invalid_argument(format!(
                "note: {} bytes, at most {MAX_NOTE}",
                req.note.len()
            )));
        }
        if req.who.len() > MAX_WHO {
            return Err(Status::invalid_argument(format!(
                "who: {} bytes, at most {MAX_WHO}",
                req.who.len()
            )));
        }
        let now = self.0.clock.now();
        let until = req
            .until
            .as_ref()
            .and_then(from_timestamp)
            .ok_or_else(|| Status::invalid_argument("until: required, a valid timestamp"))?;
        if until <= now {
            return Err(Status::invalid_argument("until: must be in the future"));
        }
        if (until - now).to_std().unwrap_or_default() > MAX_ACK {
            return Err(Status::invalid_argument(
                "until: at most 90 days ahead (retire what is gone for good)",
            ));
        }
        let report = self.report(req.site.clone()).await?.ok_or_else(|| {
            Status::not_found(format!(
                "site: {:?} is neither known nor expected",
                req.site
            ))
        })?;
        let snapshot: Vec<pb::Verdict> = report
            .verdicts
            .iter()
            .filter(|v| targets(kind, &req.recorder, &req.camera, v))
            .cloned()
            .collect();
        if snapshot.is_empty() {
            let mut place = format!("site {:?}", req.site);
            if !req.recorder.is_empty() {
                place.push_str(&format!(", recorder {:?}", req.recorder));
            }
            if !req.camera.is_empty() {
                place.push_str(&format!(", camera {:?}", req.camera));
            }
            return Err(Status::failed_precondition(format!(
                "kind: no current {} finding at {place}; nothing to acknowledge",
                kind.as_str_name()
            )));
        }
        let covered = snapshot.len() as u32;
        let record = AckRecord {
            kind: kind as i32,
            recorder: req.recorder.clone(),
            camera: req.camera.clone(),
            ack: Some(pb::Acknowledgement {
                who: if req.who.is_empty() {
                    who.name.clone()
                } else {
                    req.who.clone()
                },
                note: req.note.clone(),
                until: Some(to_timestamp(until)),
                at: Some(to_timestamp(now)),
            }),
            snapshot,
        };
        let site = req.site.clone();
        let written = self
            .0
            .writer
            .admin(&site, |store, now| store.add_ack(&site, &record, now))
            .await;
        self.0.pages.invalidate();
        written.map_err(|e: StoreError| Status::unavailable(e.to_string()))?;
        tracing::info!(site = %req.site, kind = kind.as_str_name(), recorder = %req.recorder, camera = %req.camera, by = %who.name, covered, "finding acknowledged");
        Ok(Response::new(pb::AcknowledgeResponse {
            site: self.report(req.site).await?,
            covered,
        }))
    }
}
