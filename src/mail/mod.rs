//! The mail channel (issue 13), in progress: the pure parts a listener will translate through —
//! the recipient address format ([`address`]) and the attachments of a MIME message
//! ([`attachments`]). No listener is wired in the server yet.

pub mod address;
pub mod attachments;
