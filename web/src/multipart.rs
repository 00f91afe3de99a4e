//! Multipart forms (file uploads), read whole: the CSRF check finds its token in them before
//! the handler reads the file.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;

/// The most a multipart form may weigh, and only an operator's (files are for operators);
/// anyone else's is held to the size of an ordinary form. Above product-order's own limit for
/// images, so that a file somewhat too large gets product-order's message next to the field.
pub const MAX_UPLOAD_BYTES: usize = 8 * 1024 * 1024;

/// The boundary of a `multipart/form-data` body, or None for any other body.
pub fn boundary(headers: &HeaderMap) -> Option<String> {
    let content_type = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    multer::parse_boundary(content_type).ok()
}

/// The content of the first field named `name` in `body`, or None when the form has none.
pub async fn field(body: Bytes, boundary: &str, name: &str) -> Result<Option<Bytes>, multer::Error> {
    let stream = futures::stream::once(async move { Ok::<_, Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    while let Some(field) = form.next_field().await? {
        if field.name() == Some(name) {
            return field.bytes().await.map(Some);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[tokio::test]
    async fn fields_are_found_by_name() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\ntoken\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\
              Content-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ--\r\n",
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=XyZ"),
        );
        let boundary = boundary(&headers).unwrap();
        assert_eq!(
            field(body.clone(), &boundary, "csrf_token").await.unwrap().unwrap(),
            "token"
        );
        assert_eq!(
            field(body.clone(), &boundary, "image").await.unwrap().unwrap(),
            &b"\x89PNG"[..]
        );
        assert_eq!(field(body, &boundary, "other").await.unwrap(), None);

        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        assert_eq!(super::boundary(&headers), None);
    }
}
