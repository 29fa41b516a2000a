//! The one store call tests need to check what a store holds: an instant query, read back as
//! labels and values. (The adapter and controller have their own, production store client.)

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{Error, Result};

/// One element of an instant vector: its labels and value.
pub type Sample = (BTreeMap<String, String>, f64);

#[derive(Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    result: Vec<VectorElement>,
}

#[derive(Deserialize)]
struct VectorElement {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Evaluates `query` at `time` (Unix seconds) with a POST to `/api/v1/query` of the store at
/// `base_url`, and returns the vector sorted by labels.
pub async fn instant_query(base_url: &str, query: &str, time: f64) -> Result<Vec<Sample>> {
    let response: Response = crate::http_client(std::time::Duration::from_secs(60))?
        .post(format!("{base_url}/api/v1/query"))
        .form(&[("query", query), ("time", &time.to_string())])
        .send()
        .await?
        .json()
        .await?;
    let data = match (response.status.as_str(), response.data) {
        ("success", Some(data)) => data,
        _ => {
            return Err(Error::Command {
                command: format!("query {query}"),
                output: response.error.unwrap_or(response.status),
            });
        }
    };
    let mut samples = data
        .result
        .into_iter()
        .map(|element| {
            let value = element.value.1.parse::<f64>().map_err(|e| Error::Command {
                command: format!("query {query}"),
                output: format!("sample value {:?}: {e}", element.value.1),
            })?;
            Ok((element.metric, value))
        })
        .collect::<Result<Vec<Sample>>>()?;
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(samples)
}
