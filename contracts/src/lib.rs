//! Wire contracts shared by the shop's producers and consumers: the access-token
//! claims every service verifies, the sessions ended before their tokens expired, the events
//! on `shop.events`, and what reconciliation hands between the services and web.

pub mod claims;
pub mod events;
pub mod order_status;
pub mod reconciliation;
pub mod sessions;

pub use claims::{AUDIENCE, Claims, ISSUER, Role};
pub use order_status::OrderStatus;
