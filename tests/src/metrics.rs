//! Reading Prometheus text pages, as the api and the worker serve them at `/metrics`.

/// The value of the sample `name{labels…}` in a Prometheus text page: the first sample of
/// that name carrying every label given (others may be there too).
pub fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    matching(page, name, labels).next()
}

/// The values of every sample of `name` whose labels include `labels`.
fn matching<'a>(
    page: &'a str,
    name: &'a str,
    labels: &'a [(&str, &str)],
) -> impl Iterator<Item = f64> + 'a {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(move |l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .filter(move |l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
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

/// The sum of every sample of `name` with `labels` (a gauge split by a further label,
/// such as the queue depths by `partition`), or `None` when there is none.
pub fn total(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    matching(page, name, labels).fold(None, |sum, value| Some(sum.unwrap_or(0.0) + value))
}
