//! The MSSanté side: finding the operator, opening an authenticated TLS
//! session, and sending messages over it.

mod connect;
mod reply;
mod session;

pub use connect::{ConnectError, Connector, Endpoint};
pub use reply::Reply;
pub use session::{SessionError, UpstreamSession};
