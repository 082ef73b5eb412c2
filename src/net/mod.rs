//! Where the hub may connect on a tenant's behalf: the block list of private and reserved
//! addresses, allow-lists and the guarded resolver ([`ssrf`]), and the provider HTTP client and
//! address guard every adapter connection goes through ([`outbound`]).

pub mod outbound;
pub mod ssrf;
