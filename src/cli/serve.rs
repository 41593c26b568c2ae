//! `freightdrop serve`: hands the configuration to the server and reports how it ended.

use super::Failure;
use crate::config::Config;

pub(crate) async fn run(config: Config) -> Result<(), Failure> {
    crate::server::run(config).await.map_err(Failure::from)
}
