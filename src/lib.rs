//! freightdrop: a file-exchange server for the partners of a transport-management system.
//! Partners log in over FTP, FTPS or SFTP to their own home; every file they drop in it is turned
//! into orders or status events by the inbox processor.
//!
//! This crate holds the server: configuration, the user store, the home jail, the protocol
//! frontends and the command line. ARCHITECTURE.md has the map.

pub mod accounts;
pub mod arrivals;
pub mod backoffice;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod descriptors;
pub mod exchange;
pub mod folder;
pub mod ftp;
pub mod gate;
pub mod home;
pub mod inbox;
pub mod key_file;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod outbox;
pub mod partner;
pub mod permissions;
pub mod replies;
pub mod server;
pub mod sftp;
pub mod staff;
pub mod staging;
pub mod tls;
pub mod tracking;
pub mod users;
