//! The pods of every workload, from one watch-fed cache (a kube-runtime reflector over all
//! pods), so a reconcile reads its target's pods from memory instead of LISTing them.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod as KubePod;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use metrics_model::Selector;

use crate::recommend::{Pod, PodPhase, PodSet};
use crate::{Error, Result};

/// How long a reconcile waits for the cache's first full list before giving up (and retrying).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A read handle on the pod cache; clones share the same cache.
#[derive(Clone)]
pub struct PodCache {
    store: Store<KubePod>,
}

impl PodCache {
    /// Starts watching every pod in the cluster and returns the cache; the watch runs as a
    /// background task for the life of the process (resuming after errors with back-off).
    pub fn start(client: Client) -> Self {
        let (store, writer) = reflector::store();
        let pods = Api::<KubePod>::all(client);
        let stream = reflector::reflector(
            writer,
            watcher(pods, watcher::Config::default().any_semantic()),
        )
        .default_backoff()
        .applied_objects();
        tokio::spawn(async move {
            stream
                .for_each(|event| async move {
                    if let Err(error) = event {
                        tracing::warn!(%error, "pod watch failed; resuming");
                    }
                })
                .await;
        });
        PodCache { store }
    }

    /// The pods in `namespace` that `selector` (a `/scale` status selector) matches, as the
    /// decision sees them; waits for the cache's first list.
    pub async fn matching(&self, namespace: &str, selector: &str) -> Result<PodSet> {
        if selector.is_empty() {
            return PodSet::new(Vec::new());
        }
        let selector = Selector::parse(selector)
            .map_err(|e| Error::Metric(format!("the target's pod selector: {e}")))?;
        match tokio::time::timeout(READY_TIMEOUT, self.store.wait_until_ready()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => {
                return Err(Error::Metric("the pod cache has not synced yet".to_owned()));
            }
        }
        // Filtered under the store's read lock: only the matching pods are cloned (as `Arc`s).
        let pods = self
            .store
            .state_filter(|pod| {
                pod.metadata.namespace.as_deref() == Some(namespace)
                    && selector.matches(pod.labels())
            })
            .iter()
            .map(|pod| decision_pod(pod))
            .collect();
        PodSet::new(pods)
    }
}

/// A pod as the HPA's grouping needs it: phase, readiness, deletion.
fn decision_pod(pod: &KubePod) -> Pod {
    let status = pod.status.as_ref();
    let phase = status
        .and_then(|s| s.phase.as_deref())
        .and_then(PodPhase::parse)
        .unwrap_or(PodPhase::Pending);
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| conditions.iter().find(|c| c.type_ == "Ready"))
        .is_none_or(|c| c.status == "True");
    Pod {
        name: pod.name_any(),
        phase,
        ready,
        deleting: pod.metadata.deletion_timestamp.is_some(),
    }
}
