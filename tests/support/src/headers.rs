//! Reading the headers of an answer.

/// The header `name` of `response` as text, if it is there.
pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// Every value of the header `name` of `response`, in order: the challenges of a server
/// that offers several schemes in several `WWW-Authenticate` fields, say.
pub fn header_values(response: &reqwest::Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The `Retry-After` of a refusal, in seconds; panics if there is none.
#[track_caller]
pub fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}
