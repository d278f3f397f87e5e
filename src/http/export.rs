//! `GET /api/cards/{id}/export`: the card's mail as an mbox download, streamed.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use tokio_stream::wrappers::ReceiverStream;

use super::cards::load_card;
use super::error::extract::Path;
use super::{AppState, Caller, Error};
use crate::export::{write_mbox, ChannelWriter};

pub async fn export(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let card = load_card(&st, &user, id).await?;
    let messages = st.store.card_messages(card.id).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let spool = st.spool.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter::new(tx.clone());
        if let Err(e) = write_mbox(&spool, &messages, &mut w) {
            tracing::warn!(error = %e, card = id, "mbox export stopped");
            // Abort the body so the client sees a failed download, not a short file.
            let _ = tx.blocking_send(Err(e));
        }
    });
    let mut resp = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/mbox"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"card-{id}.mbox\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
