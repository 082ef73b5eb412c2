//! Running the hub: the processes' relay of each other's events ([`relay`]).

pub mod relay;
