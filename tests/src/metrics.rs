//! Reading Prometheus text pages, as the api and the worker serve them at `/metrics`.

/// The value of the sample `name{labels…}` in a Prometheus text page: the first sample of
/// that name carrying every label given (others may be there too).
pub fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The page at `url` (a worker's `http://{METRICS_ADDR}/metrics`, say).
pub async fn scrape(url: &str) -> String {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .expect("a metrics page")
}
