//! Partner accounts: who may log in, with what, over which protocols, and where their home is.
//! The store keeps one row per user in the database and one home on disk, and never leaves one
//! without the other. Login checks live here once, for every frontend.

mod account;
mod keys;
mod login_cache;
mod login_recorder;
pub mod password;
mod senders;
mod store;

pub use account::{
    check_customer, check_name, InboxFtpPlain, NewUser, Protocol, ProtocolSet, User, UserChanges,
    FORMATS,
};
pub use keys::{fingerprint_of_blob, KeyError, PublicKey};
pub use password::{Password, PasswordError};
pub use senders::{check_mail_sender, mail_sender_allowed};
pub use store::{AuthError, Denial, UserError, UserStore};
