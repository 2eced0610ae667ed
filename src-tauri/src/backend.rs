//! Which engine the windows talk to. `Local`: the engine this app started and owns. `Remote`: the engine
//! of a `postroomd` (the system service, or one serving the same data folder) reached over its admin
//! socket, when that folder was already being served: exactly one engine ever opens a data folder, and
//! the app attaches to it instead of starting a second one.
//!
//! Either way a call is the engine's admin call by name with the windows' JSON arguments
//! (`postroom_engine::admin`): answered in-process by `dispatch`, or sent over the socket.

use std::sync::Arc;

use postroom_engine::admin::client::AdminClient;
use postroom_engine::admin::EngineLink;
use postroom_engine::{ApiError, ApiResult, Engine};
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Clone)]
pub struct Backend(Arc<Inner>);

enum Inner {
    Local(Engine),
    Remote { client: AdminClient, link: std::sync::Mutex<EngineLink> },
}

impl Backend {
    pub fn local(engine: Engine) -> Backend {
        Backend(Arc::new(Inner::Local(engine)))
    }

    pub fn remote(client: AdminClient, link: EngineLink) -> Backend {
        Backend(Arc::new(Inner::Remote { client, link: std::sync::Mutex::new(link) }))
    }

    /// The engine inside this app, if it runs one.
    pub fn engine(&self) -> Option<&Engine> {
        match &*self.0 {
            Inner::Local(engine) => Some(engine),
            Inner::Remote { .. } => None,
        }
    }

    pub fn client(&self) -> Option<&AdminClient> {
        match &*self.0 {
            Inner::Local(_) => None,
            Inner::Remote { client, .. } => Some(client),
        }
    }

    /// Which engine this is, for the main window.
    pub fn link(&self) -> EngineLink {
        match &*self.0 {
            Inner::Local(engine) => postroom_engine::admin::identity(engine),
            Inner::Remote { link, .. } => link.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Asks an attached service who it is again (after it came back: a new process, maybe a new version).
    pub async fn refresh_link(&self) {
        if let Inner::Remote { client, link } = &*self.0 {
            if let Ok(now) = client.identity().await {
                *link.lock().unwrap_or_else(|p| p.into_inner()) = now;
            }
        }
    }

    /// One admin call with its arguments as the windows send them.
    pub async fn call(&self, call: &str, args: Value) -> ApiResult<Value> {
        match &*self.0 {
            Inner::Local(engine) => postroom_engine::admin::dispatch(engine, call, args).await,
            Inner::Remote { client, .. } => client.call(call, args).await,
        }
    }

    /// A call whose answer the shell reads itself.
    pub async fn call_as<T: DeserializeOwned>(&self, call: &str, args: Value) -> ApiResult<T> {
        let value = self.call(call, args).await?;
        serde_json::from_value(value).map_err(|e| ApiError::internal(format!("the answer to {call} is not understood: {e}")))
    }
}
