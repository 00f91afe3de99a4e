//! Wire contracts shared by the shop's producers and consumers: the access-token
//! claims every service verifies and the events on `shop.events`.

pub mod claims;
pub mod events;
pub mod order_status;

pub use claims::{AUDIENCE, Claims, ISSUER, Role};
pub use order_status::OrderStatus;
