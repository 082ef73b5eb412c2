//! Running the hub: the HTTP server loop ([`serve`]), region-pinned databases and the
//! dispatcher that sends each request to the cell holding what it names ([`regions`]), the
//! command line's work ([`cli`]), and the relay of other processes' events ([`relay`]).

pub mod cli;
pub mod regions;
pub mod relay;
pub mod seed;
pub mod serve;
