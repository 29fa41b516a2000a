//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it,
//! so two controller replicas can run and only one of them scales.
//!
//! The holder renews the Lease every [`RETRY_PERIOD`]; another replica takes it over once it has
//! not been renewed for its `leaseDurationSeconds`. Every write carries the resourceVersion that
//! was read, so two candidates can never both win. On shutdown the holder releases the Lease so
//! a successor need not wait out the duration.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::{Error, Result};

/// How long a Lease stays valid without renewal (client-go's default).
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews and a candidate retries (client-go's default).
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);
/// The Lease's name.
pub const LEASE_NAME: &str = "sextant-controller";

/// One candidate for leadership.
pub struct LeaderElector {
    api: Api<Lease>,
    identity: String,
}

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Election {
    /// This candidate holds the Lease (just acquired or renewed).
    Leading,
    /// Someone else holds a live Lease.
    Following {
        /// The current holder.
        holder: String,
    },
}

fn kube_error(action: &'static str) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Kube { action, source }
}

impl LeaderElector {
    /// A candidate named `identity` (the pod name) for the Lease in `namespace`.
    pub fn new(client: Client, namespace: &str, identity: impl Into<String>) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            identity: identity.into(),
        }
    }

    /// Acquires, renews or observes the Lease once, at `now`.
    pub async fn try_acquire_or_renew(&self, now: Timestamp) -> Result<Election> {
        let existing = self
            .api
            .get_opt(LEASE_NAME)
            .await
            .map_err(kube_error("reading the leader Lease"))?;
        let Some(mut lease) = existing else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(LEASE_NAME.to_owned()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, now, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Election::Leading),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(Election::Following {
                    holder: "another candidate".to_owned(),
                }),
                Err(source) => Err(Error::Kube {
                    action: "creating the leader Lease",
                    source,
                }),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let renewed = spec.renew_time.as_ref().map(|t| t.0);
        let duration = i64::from(
            spec.lease_duration_seconds
                .unwrap_or(LEASE_DURATION.as_secs() as i32),
        );
        let live = renewed
            .is_some_and(|renewed| now.as_second() < renewed.as_second().saturating_add(duration));
        let next = match holder {
            Some(holder) if holder == self.identity => {
                let acquired = spec.acquire_time.map_or(now, |t| t.0);
                self.spec(acquired, now, spec.lease_transitions.unwrap_or(0))
            }
            Some(holder) if live => return Ok(Election::Following { holder }),
            // Free, or expired: take it over.
            _ => self.spec(
                now,
                now,
                spec.lease_transitions.unwrap_or(0).saturating_add(1),
            ),
        };
        lease.spec = Some(next);
        match self
            .api
            .replace(LEASE_NAME, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(Election::Leading),
            // Someone wrote the Lease since we read it: they won this round.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Election::Following {
                holder: "another candidate".to_owned(),
            }),
            Err(source) => Err(Error::Kube {
                action: "updating the leader Lease",
                source,
            }),
        }
    }

    /// Gives the Lease up if this candidate holds it, so a successor takes over at once.
    pub async fn release(&self) -> Result<()> {
        let Some(mut lease) = self
            .api
            .get_opt(LEASE_NAME)
            .await
            .map_err(kube_error("reading the leader Lease"))?
        else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        self.api
            .replace(LEASE_NAME, &PostParams::default(), &lease)
            .await
            .map_err(kube_error("releasing the leader Lease"))?;
        Ok(())
    }

    /// Waits until this candidate leads, trying every [`RETRY_PERIOD`].
    pub async fn acquire(&self) -> Result<()> {
        loop {
            match self.try_acquire_or_renew(Timestamp::now()).await {
                Ok(Election::Leading) => return Ok(()),
                Ok(Election::Following { holder }) => {
                    tracing::debug!(%holder, "waiting for the leader Lease")
                }
                Err(error) => tracing::warn!(%error, "leader election attempt failed"),
            }
            tokio::time::sleep(RETRY_PERIOD).await;
        }
    }

    /// Renews the Lease until a renewal has failed for longer than the lease lasts; returns
    /// when leadership is lost, so the caller can stop scaling.
    pub async fn keep_renewing(&self) {
        let mut last_renewal = std::time::Instant::now();
        loop {
            tokio::time::sleep(RETRY_PERIOD).await;
            match self.try_acquire_or_renew(Timestamp::now()).await {
                Ok(Election::Leading) => last_renewal = std::time::Instant::now(),
                Ok(Election::Following { holder }) => {
                    tracing::error!(%holder, "lost the leader Lease");
                    return;
                }
                Err(error) if last_renewal.elapsed() < LEASE_DURATION => {
                    tracing::warn!(%error, "renewing the leader Lease failed")
                }
                Err(error) => {
                    tracing::error!(%error, "could not renew the leader Lease in time");
                    return;
                }
            }
        }
    }

    fn spec(&self, acquired: Timestamp, renewed: Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use test_support::kube_api::FakeApi;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn at(text: &str) -> std::result::Result<Timestamp, jiff::Error> {
        text.parse()
    }

    fn held_by(holder: &str, renewed: &str, transitions: i32) -> serde_json::Value {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "sextant-controller", "namespace": "sextant", "resourceVersion": "4"},
               "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "acquireTime": "2026-01-01T00:00:00.000000Z",
                        "renewTime": renewed, "leaseTransitions": transitions}})
    }

    fn stored_lease(fake: &FakeApi) -> serde_json::Value {
        fake.cluster
            .lock()
            .ok()
            .and_then(|c| {
                c.leases
                    .get(&("sextant".to_owned(), "sextant-controller".to_owned()))
                    .cloned()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn the_first_candidate_creates_the_lease_and_leads() -> TestResult {
        let fake = FakeApi::default();
        let elector = LeaderElector::new(fake.client(), "sextant", "pod-a");
        assert_eq!(
            elector
                .try_acquire_or_renew(at("2026-01-01T00:10:00Z")?)
                .await?,
            Election::Leading
        );
        let lease = stored_lease(&fake);
        assert_eq!(lease["spec"]["holderIdentity"], "pod-a");
        assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
        assert_eq!(lease["spec"]["leaseTransitions"], 0);
        Ok(())
    }

    #[tokio::test]
    async fn a_live_lease_of_another_holder_is_respected_without_a_write() -> TestResult {
        let fake = FakeApi::default();
        if let Ok(mut cluster) = fake.cluster.lock() {
            cluster.leases.insert(
                ("sextant".to_owned(), "sextant-controller".to_owned()),
                held_by("pod-a", "2026-01-01T00:09:50.000000Z", 0),
            );
        }
        let elector = LeaderElector::new(fake.client(), "sextant", "pod-b");
        let election = elector
            .try_acquire_or_renew(at("2026-01-01T00:10:00Z")?)
            .await?;
        assert_eq!(
            election,
            Election::Following {
                holder: "pod-a".to_owned()
            }
        );
        assert!(
            !fake.lines().iter().any(|line| line.starts_with("PUT")),
            "{:?}",
            fake.lines()
        );
        Ok(())
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_with_one_more_transition() -> TestResult {
        let fake = FakeApi::default();
        if let Ok(mut cluster) = fake.cluster.lock() {
            // Renewed 15 s ago with a 15 s duration: expired exactly now.
            cluster.leases.insert(
                ("sextant".to_owned(), "sextant-controller".to_owned()),
                held_by("pod-a", "2026-01-01T00:09:45.000000Z", 2),
            );
        }
        let elector = LeaderElector::new(fake.client(), "sextant", "pod-b");
        assert_eq!(
            elector
                .try_acquire_or_renew(at("2026-01-01T00:10:00Z")?)
                .await?,
            Election::Leading
        );
        let lease = stored_lease(&fake);
        assert_eq!(lease["spec"]["holderIdentity"], "pod-b");
        assert_eq!(lease["spec"]["leaseTransitions"], 3);
        assert_eq!(
            lease["metadata"]["resourceVersion"], "5",
            "written over the version that was read"
        );
        Ok(())
    }

    #[tokio::test]
    async fn the_holder_renews_and_keeps_its_acquire_time() -> TestResult {
        let fake = FakeApi::default();
        if let Ok(mut cluster) = fake.cluster.lock() {
            cluster.leases.insert(
                ("sextant".to_owned(), "sextant-controller".to_owned()),
                held_by("pod-a", "2026-01-01T00:09:58.000000Z", 1),
            );
        }
        let elector = LeaderElector::new(fake.client(), "sextant", "pod-a");
        assert_eq!(
            elector
                .try_acquire_or_renew(at("2026-01-01T00:10:00Z")?)
                .await?,
            Election::Leading
        );
        let lease = stored_lease(&fake);
        assert_eq!(lease["spec"]["renewTime"], "2026-01-01T00:10:00.000000Z");
        assert_eq!(lease["spec"]["acquireTime"], "2026-01-01T00:00:00.000000Z");
        assert_eq!(lease["spec"]["leaseTransitions"], 1);
        Ok(())
    }

    #[tokio::test]
    async fn two_candidates_racing_for_an_expired_lease_cannot_both_win() -> TestResult {
        let fake = FakeApi::default();
        if let Ok(mut cluster) = fake.cluster.lock() {
            cluster.leases.insert(
                ("sextant".to_owned(), "sextant-controller".to_owned()),
                held_by("pod-a", "2026-01-01T00:00:00.000000Z", 0),
            );
        }
        let now = at("2026-01-01T00:10:00Z")?;
        let b = LeaderElector::new(fake.client(), "sextant", "pod-b");
        let c = LeaderElector::new(fake.client(), "sextant", "pod-c");
        let (b, c) = tokio::join!(b.try_acquire_or_renew(now), c.try_acquire_or_renew(now));
        let leaders = [b?, c?].iter().filter(|e| **e == Election::Leading).count();
        assert_eq!(leaders, 1, "exactly one takes over");
        Ok(())
    }

    #[tokio::test]
    async fn release_hands_the_lease_over_at_once() -> TestResult {
        let fake = FakeApi::default();
        let a = LeaderElector::new(fake.client(), "sextant", "pod-a");
        let now = at("2026-01-01T00:10:00Z")?;
        assert_eq!(a.try_acquire_or_renew(now).await?, Election::Leading);
        a.release().await?;
        let lease = stored_lease(&fake);
        assert!(lease["spec"].get("holderIdentity").is_none(), "{lease}");
        let b = LeaderElector::new(fake.client(), "sextant", "pod-b");
        assert_eq!(
            b.try_acquire_or_renew(now).await?,
            Election::Leading,
            "no need to wait out the duration"
        );
        Ok(())
    }
}
