//! S3 and S3-compatible stores (`object_store`): one client per bucket, credentials and
//! endpoint.
//!
//! Each delivery is one object, `<prefix><webhook_id>`, holding the ingested bytes, with
//! the content type as its `Content-Type` and every other header as user metadata
//! (`x-amz-meta-webhook-id`, …). Success is S3's 200 to the PUT; a bucket that does not
//! exist is a failed attempt (hookrelay creates none). With an `endpoint`, the bucket is
//! addressed path-style. The client does not retry on its own: the subscription's retry
//! schedule does.

use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, ClientOptions, ObjectStore as _, PutOptions, PutPayload,
    RetryConfig,
};

use hookrelay_domain::destinations::S3Bucket as Settings;

use super::message::{Ack, Failure, Message};
use super::pool::{Connector, Pool, url_host};

pub struct S3;

impl Connector for S3 {
    type Address = Settings;
    type Connection = AmazonS3;

    fn key(settings: &Settings) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}",
            settings.bucket,
            settings.region,
            settings.endpoint.as_deref().unwrap_or(""),
            settings.access_key_id,
            settings.secret_access_key
        )
    }

    /// The endpoint's host; AWS's own hosts are public.
    fn hosts(settings: &Settings) -> Vec<(String, u16)> {
        settings
            .endpoint
            .as_deref()
            .map_or_else(Vec::new, |endpoint| {
                let port = if endpoint.starts_with("https:") {
                    443
                } else {
                    80
                };
                url_host(endpoint, port)
            })
    }

    async fn connect(&self, settings: &Settings) -> Result<AmazonS3, String> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_retry(RetryConfig {
                max_retries: 0,
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_client_options(
                    ClientOptions::new().with_allow_http(endpoint.starts_with("http:")),
                );
        }
        builder
            .build()
            .map_err(|e| format!("S3 client failed: {e}"))
    }

    fn is_open(_: &AmazonS3) -> bool {
        true
    }
}

pub async fn publish(
    pool: &Pool<S3>,
    settings: &Settings,
    message: &Message,
    timeout: Duration,
) -> Result<Ack, Failure> {
    let key = format!("{}{}", settings.prefix, message.webhook_id);
    let path = Path::parse(&key)
        .map_err(|e| Failure::permanent(format!("S3 object key {key:?} is not usable: {e}")))?;
    let mut attributes = Attributes::new();
    for (name, value) in &message.headers {
        let attribute = match name.as_str() {
            "content-type" => Attribute::ContentType,
            _ => Attribute::Metadata(name.clone().into()),
        };
        attributes.insert(attribute, AttributeValue::from(value.clone()));
    }
    let options = PutOptions {
        attributes,
        ..PutOptions::default()
    };
    pool.with_connection(settings, timeout, |store| async move {
        let put = store
            .put_opts(&path, PutPayload::from(message.body.clone()), options)
            .await
            .map_err(|e| Failure::retry(format!("S3 PUT failed: {e}")))?;
        Ok(match put.e_tag {
            Some(e_tag) => format!("object {key} stored, ETag {e_tag}"),
            None => format!("object {key} stored"),
        })
    })
    .await
}
