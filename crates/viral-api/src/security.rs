//! The headers every answer of the API and dashboard carries. The dashboard shows text
//! that strangers wrote (sample posts and their links); it already inserts text only as
//! text and links only to web addresses, and the Content-Security-Policy makes any slip
//! harmless: the browser runs no script but the dashboard's own files (no inline script,
//! no `javascript:` URL, no event-handler attribute), loads nothing from elsewhere, and
//! the pages cannot be framed (clickjacking).

use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::response::Response;

/// Only the dashboard's own files (scripts, styles, the icon, API calls); `form-action`
/// keeps the backtest form's submit on this origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

pub async fn headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // For browsers that predate frame-ancestors.
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A sample link opened from the dashboard does not tell its site where it came from.
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    r
}
