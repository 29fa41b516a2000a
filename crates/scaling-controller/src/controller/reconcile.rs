//! One reconcile of one ScalingPolicy: target, conflicts, pods, metrics, decision, `/scale`,
//! status — in that order, each failure ending in a condition rather than a crash loop.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};

use super::Context;
use super::readings::{self, Reading};
use super::status::{self, Conditions};
use super::target::{self, ScaleTarget};
use super::telemetry::{OutcomeLabels, PolicyLabels};
use crate::behavior::{DEFAULT_TOLERANCE, LimitReason, ScaleEvent, TimestampedRecommendation};
use crate::policy::status::conditions::*;
use crate::policy::{ScalingPolicy, ScalingPolicySpec, ScalingPolicyStatus};
use crate::recommend::{self, Decision, Reason, Snapshot};
use crate::{Error, Result};

/// The sync period when the policy gives none (the HPA's default).
const DEFAULT_SYNC_SECONDS: i32 = 15;

/// Decides and applies one ScalingPolicy; requeues itself after its sync period.
pub async fn reconcile(policy: Arc<ScalingPolicy>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = policy.namespace().unwrap_or_default();
    let name = policy.name_any();
    let span = tracing::info_span!("reconcile", %namespace, %name);
    let _entered = span.enter();
    let _timer = super::telemetry::ReconcileTimer::start(&ctx.metrics.reconcile_duration);
    let spec = &policy.spec;
    let now = (ctx.clock)();
    let sync = Action::requeue(Duration::from_secs(
        spec.sync_period_seconds
            .unwrap_or(DEFAULT_SYNC_SECONDS)
            .max(1) as u64,
    ));
    let previous = policy.status.clone().unwrap_or_default();
    let mut status = ScalingPolicyStatus {
        observed_generation: policy.metadata.generation,
        target: Some(target::describe(&spec.scale_target_ref)),
        last_scale_time: previous.last_scale_time.clone(),
        recommendations: previous.recommendations.clone(),
        scale_events: previous.scale_events.clone(),
        consecutive_metric_failures: previous.consecutive_metric_failures,
        ..ScalingPolicyStatus::default()
    };
    let mut conditions = Conditions::new(&previous.conditions, policy.metadata.generation, now);
    let policies = Api::<ScalingPolicy>::namespaced(ctx.client.clone(), &namespace);
    let finish = |mut status: ScalingPolicyStatus, conditions: Conditions| {
        status.conditions = conditions.into_list();
        status
    };

    let behavior = match spec.behavior.clone().unwrap_or_default().resolve() {
        Ok(behavior) => behavior,
        Err(error) => {
            conditions.set(READY, false, REASON_INVALID_SPEC, error.to_string());
            status::apply(&policies, &name, &finish(status, conditions)).await?;
            return Ok(sync);
        }
    };

    let resolved = match ScaleTarget::resolve(&ctx.client, &namespace, &spec.scale_target_ref).await
    {
        Ok(scale_target) => scale_target
            .read(&spec.scale_target_ref)
            .await
            .map(|reading| (scale_target, reading)),
        Err(error) => Err(error),
    };
    let (scale_target, reading) = match resolved {
        Ok(resolved) => resolved,
        Err(Error::TargetNotFound { target, reason }) => {
            let message = format!("target {target} cannot be scaled: {reason}");
            conditions.set(READY, false, REASON_TARGET_NOT_FOUND, message.clone());
            conditions.set(
                ABLE_TO_SCALE,
                false,
                REASON_TARGET_NOT_FOUND,
                message.clone(),
            );
            publish(
                &ctx,
                &policy,
                EventType::Warning,
                REASON_TARGET_NOT_FOUND,
                message,
            )
            .await;
            status::apply(&policies, &name, &finish(status, conditions)).await?;
            return Ok(sync);
        }
        Err(error) => return Err(error),
    };
    status.current_replicas = Some(reading.desired);

    if let Some(other) = conflict(&ctx, &namespace, &name, spec).await? {
        let message = format!(
            "{other} also scales {}; not scaling until only one autoscaler targets it",
            target::describe(&spec.scale_target_ref)
        );
        conditions.set(READY, false, REASON_CONFLICT, message.clone());
        publish(&ctx, &policy, EventType::Warning, REASON_CONFLICT, message).await;
        status::apply(&policies, &name, &finish(status, conditions)).await?;
        return Ok(sync);
    }

    let pods = ctx.pods.matching(&namespace, &reading.selector).await?;
    let readings = readings::read_all(&ctx, &namespace, &reading.selector, &spec.metrics).await;
    let snapshot = Snapshot {
        now,
        current_replicas: reading.desired,
        status_replicas: reading.actual,
        min_replicas: spec.min_replicas.unwrap_or(1),
        max_replicas: spec.max_replicas,
        tolerance: spec.tolerance.map_or(DEFAULT_TOLERANCE, |t| t.as_f64()),
        pods,
        metrics: readings.iter().map(|r| r.metric.clone()).collect(),
        behavior: behavior.clone(),
        recommendations: status.recommendations.clone(),
        scale_events: status.scale_events.clone(),
    };
    let mut outcome = "hold";
    let desired = match recommend::recommend(&snapshot) {
        Ok(decision) => {
            status.consecutive_metric_failures = None;
            record_decision(&mut status, &mut conditions, &readings, &decision, spec);
            if let Some(replicas) = decision.recommendation {
                status.recommendations.push(TimestampedRecommendation {
                    timestamp: now,
                    replicas,
                });
            }
            decision.desired_replicas
        }
        Err(Error::AllMetricsFailed { details, .. }) => {
            let failures = status
                .consecutive_metric_failures
                .unwrap_or(0)
                .saturating_add(1);
            status.consecutive_metric_failures = Some(failures);
            status.current_metrics = readings.into_iter().map(|r| r.status).collect();
            match spec.fallback {
                Some(fallback) if failures >= fallback.failure_threshold => {
                    outcome = "fallback";
                    let message = format!(
                        "metrics failed {failures} times in a row ({details}); holding fallback.replicas {}",
                        fallback.replicas
                    );
                    conditions.set(
                        SCALING_ACTIVE,
                        false,
                        REASON_FALLBACK_ACTIVE,
                        message.clone(),
                    );
                    publish(
                        &ctx,
                        &policy,
                        EventType::Warning,
                        REASON_FALLBACK_ACTIVE,
                        message,
                    )
                    .await;
                    fallback.replicas
                }
                _ => {
                    let message = format!(
                        "the replica count could not be computed: {details}; holding the current count"
                    );
                    conditions.set(
                        SCALING_ACTIVE,
                        false,
                        REASON_FAILED_GET_METRICS,
                        message.clone(),
                    );
                    publish(
                        &ctx,
                        &policy,
                        EventType::Warning,
                        REASON_FAILED_GET_METRICS,
                        message,
                    )
                    .await;
                    reading.desired
                }
            }
        }
        Err(error) => return Err(error),
    };

    if outcome == "hold" && desired != reading.desired {
        outcome = if desired > reading.desired {
            "scale_up"
        } else {
            "scale_down"
        };
    }
    ctx.metrics
        .decisions
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
    ctx.metrics
        .desired_replicas
        .get_or_create(&PolicyLabels {
            namespace: namespace.clone(),
            name: name.clone(),
        })
        .set(i64::from(desired));
    if desired != reading.desired {
        scale_target.write(&reading, desired).await?;
        status.scale_events.push(ScaleEvent {
            timestamp: now,
            replica_change: desired - reading.desired,
        });
        status.last_scale_time = Some(Time(now));
        let note = format!("New size: {desired}; was {}", reading.desired);
        publish(&ctx, &policy, EventType::Normal, "SuccessfulRescale", note).await;
        tracing::info!(from = reading.desired, to = desired, "rescaled");
    }
    status.desired_replicas = Some(desired);
    status::trim_history(&mut status, &behavior, now);
    conditions.set(
        READY,
        true,
        "Reconciled",
        "the policy is valid and its target can be scaled",
    );
    conditions.set(
        ABLE_TO_SCALE,
        true,
        "SucceededGetScale",
        "the target's scale subresource can be read and written",
    );
    status::apply(&policies, &name, &finish(status, conditions)).await?;
    ctx.succeeded(&policy);
    Ok(sync)
}

/// Fills in what a decision says: each metric's reading and proposal, the deciding metric, and
/// the ScalingActive and ScalingLimited conditions.
fn record_decision(
    status: &mut ScalingPolicyStatus,
    conditions: &mut Conditions,
    readings: &[Reading],
    decision: &Decision,
    spec: &ScalingPolicySpec,
) {
    status.current_metrics = readings
        .iter()
        .zip(&decision.proposals)
        .map(|(reading, proposal)| {
            let mut metric = reading.status.clone();
            metric.proposed_replicas = proposal.ok();
            metric
        })
        .collect();
    if let Reason::Metrics { metric, limit, .. } = decision.reason {
        if let (Some(current), Some(spec_metric)) =
            (status.current_metrics.get(metric), spec.metrics.get(metric))
        {
            let target = target_text(spec_metric);
            let value = current.current.map(|q| q.to_string()).unwrap_or_default();
            status.deciding_metric = Some(format!("{value}/{target} ({})", current.name));
        }
        conditions.set(
            SCALING_ACTIVE,
            true,
            REASON_VALID_METRIC_FOUND,
            decision.reason.to_string(),
        );
        let limited = limit != LimitReason::DesiredWithinRange;
        conditions.set(
            SCALING_LIMITED,
            limited,
            limit.as_str(),
            decision.reason.to_string(),
        );
    } else {
        conditions.set(
            SCALING_ACTIVE,
            true,
            REASON_VALID_METRIC_FOUND,
            decision.reason.to_string(),
        );
    }
}

fn target_text(metric: &crate::policy::MetricSpec) -> String {
    let target = metric
        .pods
        .as_ref()
        .map(|p| &p.target)
        .or(metric.object.as_ref().map(|o| &o.target))
        .or(metric.external.as_ref().map(|e| &e.target));
    target
        .and_then(|t| t.value.or(t.average_value))
        .map(|q| q.to_string())
        .unwrap_or_default()
}

/// A LIST the API server may answer from its watch cache (`resourceVersion=0`) instead of
/// etcd: a little staleness is harmless here, since every sync reads again.
fn cached_list() -> ListParams {
    ListParams::default().match_any()
}

/// Another autoscaler of the same workload: an HPA, or another ScalingPolicy.
async fn conflict(
    ctx: &Context,
    namespace: &str,
    name: &str,
    spec: &ScalingPolicySpec,
) -> Result<Option<String>> {
    let target = &spec.scale_target_ref;
    let hpas = Api::<HorizontalPodAutoscaler>::namespaced(ctx.client.clone(), namespace)
        .list(&cached_list())
        .await
        .map_err(|source| Error::Kube {
            action: "listing HorizontalPodAutoscalers",
            source,
        })?;
    for hpa in &hpas.items {
        if let Some(reference) = hpa.spec.as_ref().map(|s| &s.scale_target_ref)
            && target::same_workload(
                target,
                reference.api_version.as_deref(),
                &reference.kind,
                &reference.name,
            )
        {
            return Ok(Some(format!(
                "HorizontalPodAutoscaler {namespace}/{}",
                hpa.name_any()
            )));
        }
    }
    let policies = Api::<ScalingPolicy>::namespaced(ctx.client.clone(), namespace)
        .list(&cached_list())
        .await
        .map_err(|source| Error::Kube {
            action: "listing ScalingPolicies",
            source,
        })?;
    for other in policies.items.iter().filter(|p| p.name_any() != name) {
        let reference = &other.spec.scale_target_ref;
        if target::same_workload(
            target,
            Some(&reference.api_version),
            &reference.kind,
            &reference.name,
        ) {
            return Ok(Some(format!(
                "ScalingPolicy {namespace}/{}",
                other.name_any()
            )));
        }
    }
    Ok(None)
}

/// Publishes an Event on the policy; a failure to publish is logged, never fatal.
async fn publish(
    ctx: &Context,
    policy: &ScalingPolicy,
    kind: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_: kind,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Scale".to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &policy.object_ref(&())).await {
        tracing::warn!(%error, "could not publish an event");
    }
}
