//! [`RouteTables`] over the EC2 API with aws-sdk-ec2.
//!
//! Retries and timeouts are explicit: with the SDK defaults a call to an unreachable endpoint
//! takes seconds of backoff, far too long on the failover path. Throttling
//! (`RequestLimitExceeded`) and 5xx are retried by the SDK's standard retry strategy.

use super::route_table::{NodeInterface, Pointed, RouteTables};
use super::VipError;
use crate::config::Ec2Config;
use aws_sdk_ec2::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::Filter;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The real EC2 API.
#[derive(Clone, Debug)]
pub struct Ec2RouteTables {
    client: aws_sdk_ec2::Client,
    /// The route writes' attempts that failed since last taken (see [`FailedAttempts`]).
    failed: FailedAttempts,
}

/// Notes every attempt of a route write that failed. The SDK retries throttling, 5xx and a
/// timed-out attempt by itself, out of sight: a move that needed such retries says so in its
/// record (`RouteTables::failed_attempts`).
#[derive(Clone, Debug, Default)]
struct FailedAttempts(Arc<Mutex<Vec<String>>>);

/// Longest note kept of one failed attempt.
const ATTEMPT_NOTE: usize = 200;

impl Intercept for FailedAttempts {
    fn name(&self) -> &'static str {
        "myha-failed-attempts"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(Err(e)) = context.output_or_error() {
            let mut note = DisplayErrorContext(e).to_string();
            if let Some((i, _)) = note.char_indices().nth(ATTEMPT_NOTE) {
                note.truncate(i);
                note.push('…');
            }
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(note);
        }
        Ok(())
    }
}

fn err<E, R>(op: &'static str, target: &str, e: SdkError<E, R>) -> VipError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match e.as_service_error() {
        Some(se) => VipError::Api {
            op,
            target: target.to_string(),
            code: se.code().unwrap_or("Unknown").to_string(),
            message: se.message().unwrap_or_default().to_string(),
        },
        None => VipError::Transport {
            op,
            target: target.to_string(),
            message: DisplayErrorContext(&e).to_string(),
        },
    }
}

fn code(e: &VipError) -> &str {
    match e {
        VipError::Api { code, .. } => code,
        _ => "",
    }
}

impl Ec2RouteTables {
    /// A client for `cfg`: static credentials when configured, the default AWS chain
    /// (instance profile, environment, …) otherwise.
    pub async fn new(cfg: &Ec2Config) -> Self {
        let attempts = cfg.max_attempts.max(1);
        let mut b = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(cfg.region.clone()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(attempts)
                    .with_initial_backoff(Duration::from_millis(50))
                    .with_max_backoff(Duration::from_millis(400)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(cfg.call_timeout)
                    .operation_attempt_timeout(cfg.call_timeout)
                    .operation_timeout(cfg.call_timeout * attempts + Duration::from_millis(400) * attempts)
                    .build(),
            );
        if let Some(ep) = &cfg.endpoint {
            b = b.endpoint_url(ep);
        }
        match (&cfg.access_key_id, &cfg.secret_access_key_value) {
            (Some(id), Some(secret)) => {
                b = b.credentials_provider(Credentials::new(id, secret.expose(), None, None, "myha-config"));
            }
            _ => {
                let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .region(Region::new(cfg.region.clone()))
                    .build()
                    .await;
                b = b.credentials_provider(chain);
            }
        }
        Ec2RouteTables {
            client: aws_sdk_ec2::Client::from_conf(b.build()),
            failed: FailedAttempts::default(),
        }
    }

    async fn replace(&self, table: &str, vip: Ipv4Addr, eni: &str) -> Result<(), VipError> {
        super::lease_check("ReplaceRoute")?;
        self.client
            .replace_route()
            .route_table_id(table)
            .destination_cidr_block(format!("{vip}/32"))
            .network_interface_id(eni)
            .customize()
            .interceptor(self.failed.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err("ReplaceRoute", table, e))
    }

    async fn create(&self, table: &str, vip: Ipv4Addr, eni: &str) -> Result<(), VipError> {
        super::lease_check("CreateRoute")?;
        self.client
            .create_route()
            .route_table_id(table)
            .destination_cidr_block(format!("{vip}/32"))
            .network_interface_id(eni)
            .customize()
            .interceptor(self.failed.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err("CreateRoute", table, e))
    }
}

impl RouteTables for Ec2RouteTables {
    async fn discover(&self, ids: &[String], tag: Option<&str>) -> Result<Vec<String>, VipError> {
        let mut out: Vec<String> = ids.to_vec();
        if let Some(tag) = tag {
            let (k, v) = tag.split_once('=').unwrap_or((tag, ""));
            let resp = self
                .client
                .describe_route_tables()
                .filters(Filter::builder().name(format!("tag:{k}")).values(v).build())
                .send()
                .await
                .map_err(|e| err("DescribeRouteTables", &format!("tag {tag}"), e))?;
            for rt in resp.route_tables() {
                if let Some(id) = rt.route_table_id() {
                    if !out.iter().any(|o| o == id) {
                        out.push(id.to_string());
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    async fn interfaces(&self, nodes: &[(String, String, Option<String>)]) -> Result<Vec<NodeInterface>, VipError> {
        let mut out = Vec::new();
        for (node, address, eni) in nodes {
            let req = self.client.describe_network_interfaces();
            let req = match eni {
                Some(id) => req.network_interface_ids(id),
                None => {
                    if address.parse::<Ipv4Addr>().is_err() {
                        return Err(VipError::Lookup(format!(
                            "node {node}: address {address:?} is not an IP, so its ENI cannot be looked up: set `eni`"
                        )));
                    }
                    req.filters(Filter::builder().name("private-ip-address").values(address).build())
                }
            };
            let resp = req
                .send()
                .await
                .map_err(|e| err("DescribeNetworkInterfaces", node, e))?;
            let found = resp.network_interfaces();
            let ni = match found {
                [one] => one,
                [] => {
                    return Err(VipError::Lookup(format!(
                        "node {node}: no ENI {}",
                        eni.as_ref()
                            .map(|e| format!("with id {e}"))
                            .unwrap_or_else(|| format!("with private IP {address}"))
                    )))
                }
                many => {
                    return Err(VipError::Lookup(format!(
                        "node {node}: {} ENIs have private IP {address}: set `eni`",
                        many.len()
                    )))
                }
            };
            out.push(NodeInterface {
                node: node.clone(),
                eni: ni.network_interface_id().unwrap_or_default().to_string(),
                source_dest_check: ni.source_dest_check().unwrap_or(true),
            });
        }
        Ok(out)
    }

    async fn targets(&self, tables: &[String], vip: Ipv4Addr) -> Result<BTreeMap<String, Option<String>>, VipError> {
        // Not filtered by route.network-interface-id: some EC2-compatible servers fail on it,
        // and the tables are few.
        let resp = self
            .client
            .describe_route_tables()
            .set_route_table_ids(Some(tables.to_vec()))
            .send()
            .await
            .map_err(|e| err("DescribeRouteTables", &tables.join(","), e))?;
        let dest = format!("{vip}/32");
        let mut out: BTreeMap<String, Option<String>> = tables.iter().map(|t| (t.clone(), None)).collect();
        for rt in resp.route_tables() {
            let Some(id) = rt.route_table_id() else {
                continue;
            };
            let target = rt
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some(dest.as_str()))
                .and_then(|r| r.network_interface_id())
                .map(str::to_string);
            out.insert(id.to_string(), target);
        }
        Ok(out)
    }

    fn failed_attempts(&self) -> Vec<String> {
        std::mem::take(&mut *self.failed.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    async fn point(&self, table: &str, vip: Ipv4Addr, eni: &str) -> Result<Pointed, VipError> {
        // The route normally exists: replace first. AWS answers a missing one with
        // InvalidRoute.NotFound (some servers: InvalidParameterValue); then create, and if a
        // concurrent writer created it meanwhile (RouteAlreadyExists), replace once more.
        match self.replace(table, vip, eni).await {
            Ok(()) => Ok(Pointed::Replaced),
            Err(e) if matches!(code(&e), "InvalidRoute.NotFound" | "InvalidParameterValue") => {
                match self.create(table, vip, eni).await {
                    Ok(()) => Ok(Pointed::Created),
                    Err(e) if code(&e) == "RouteAlreadyExists" => {
                        self.replace(table, vip, eni).await.map(|_| Pointed::Replaced)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}
