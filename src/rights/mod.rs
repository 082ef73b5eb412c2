//! Data subjects' rights (GDPR Art. 15–21), carried out for the controller: requests and the
//! worker that completes them ([`requests`]), the access bundle ([`export`]), and erasure by
//! deletion and key destruction ([`erasure`]).

pub mod erasure;
pub mod export;
pub mod requests;
