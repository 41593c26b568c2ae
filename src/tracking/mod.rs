//! Track & trace: a partner's system asks for one shipment by its ID and delivery postcode,
//! signing the request with the secret of an API user (`sig = md5(ts . secret)`), and gets the
//! shipment's fields and its public status history. This module owns the API users
//! ([`keys`]), the sealing of their secrets at rest ([`secrets`]), the signature rule
//! ([`signature`]), and the decision whether a request may see a shipment; it also shapes the
//! answer ([`view`], [`xml`]). It knows nothing of HTTP: the backoffice maps a [`TrackError`] to
//! a status code and never tells the caller which check failed.

pub mod keys;
pub mod secrets;
pub mod signature;
pub mod view;
pub mod xml;

use inbox_processor::lookup::{self, StatusEvent, StoredShipment};
use inbox_processor::orders::postcode_key;

use crate::config::Config;
use crate::db::Db;
use crate::gate::{FailedLogins, Failures};
use keys::ApiKeys;
use secrets::{KeyFile, KeyFileError, SealingKey};
use signature::TimestampError;

/// The API users, the key that opens their secrets, the failed signatures per address, and the
/// misses (unknown shipments, wrong postcodes) per API user.
#[derive(Debug, Clone)]
pub struct Tracking {
    keys: ApiKeys,
    sealing: SealingKey,
    failures: FailedLogins,
    misses: Failures<String>,
}

/// One track & trace request, its parameters as the caller sent them.
#[derive(Debug, Clone, Copy)]
pub struct TrackRequest<'a> {
    /// `ShipmentID`.
    pub shipment_id: &'a str,
    /// `Postcode`: the delivery postcode, in any case and spacing.
    pub postcode: &'a str,
    /// `ts`: Unix seconds, decimal.
    pub ts: &'a str,
    /// `sig`: hex md5 of `ts` followed by the secret.
    pub sig: &'a str,
}

/// A shipment the caller may see, with its public status history (oldest first).
#[derive(Debug, Clone)]
pub struct Tracked {
    /// The API user whose secret signed the request.
    pub api_user: String,
    /// The shipment.
    pub shipment: StoredShipment,
    /// Its status events, internal ones left out.
    pub history: Vec<StatusEvent>,
}

/// Why a request was refused. The caller is never told which; the log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `ts` is malformed or outside the window.
    #[error("{0}")]
    Timestamp(#[from] TimestampError),
    /// No enabled API user's secret gives this signature.
    #[error("no API user's secret gives this signature")]
    NoKey,
    /// The signer's customer has no shipment with this ID.
    #[error("no such shipment for the signer's customer")]
    UnknownShipment,
    /// The shipment's delivery postcode is another one.
    #[error("the postcode does not match the shipment's delivery postcode")]
    WrongPostcode,
    /// The signer sent too many requests for unknown shipments or with wrong postcodes lately.
    #[error("the API user is blocked after repeated misses")]
    SignerBlocked,
}

impl Refusal {
    /// Whether the signature itself failed (counted against the address), rather than the
    /// shipment being unknown to a correctly signed request. A timestamp out of the window is
    /// not a guess at a secret (a partner's clock is off), so it does not count: otherwise one
    /// partner with a wrong clock behind a shared proxy would block the others.
    pub fn is_bad_signature(self) -> bool {
        matches!(self, Self::NoKey)
    }

    /// Whether a correctly signed request missed: the shipment is unknown to the signer's
    /// customer or the postcode is wrong. Counted against the API user, so that one captured
    /// signature can't be used to guess shipment IDs.
    pub fn is_miss(self) -> bool {
        matches!(self, Self::UnknownShipment | Self::WrongPostcode)
    }
}

/// Why a request got no shipment.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// The request may not see a shipment: [`Refusal`] says why, for the log only.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The database failed.
    #[error("track & trace unavailable: {0}")]
    Unavailable(String),
}

impl Tracking {
    /// Track & trace over `db`, with the sealing key of `config` (made on first use if it is the
    /// default file) and its login policy for blocking addresses that keep failing signatures.
    ///
    /// # Errors
    /// [`KeyFileError`] when the key file can't be read or made.
    pub fn open(config: &Config, db: Db) -> Result<Self, KeyFileError> {
        let sealing = KeyFile::from_config(config).load()?;
        Ok(Self::with_key(
            sealing,
            db,
            FailedLogins::new(config.login_policy),
            Failures::new(config.tracking_misses),
        ))
    }

    /// Track & trace with a given key and counters of failed signatures and misses.
    pub fn with_key(
        sealing: SealingKey,
        db: Db,
        failures: FailedLogins,
        misses: Failures<String>,
    ) -> Self {
        Self {
            keys: ApiKeys::new(db),
            sealing,
            failures,
            misses,
        }
    }

    /// The API users.
    pub fn keys(&self) -> &ApiKeys {
        &self.keys
    }

    /// The failed signatures per address, for the HTTP edge to block repeat offenders.
    pub fn failures(&self) -> &FailedLogins {
        &self.failures
    }

    /// The database.
    pub fn db(&self) -> &Db {
        self.keys.db()
    }

    /// Answers `request` at Unix time `now`: the shipment, if the signature is an enabled API
    /// user's and the shipment is that user's customer's with that delivery postcode.
    ///
    /// # Errors
    /// [`TrackError::Refused`] with the reason for the log, [`TrackError::Unavailable`] when the
    /// database fails.
    pub async fn track(&self, request: &TrackRequest<'_>, now: i64) -> Result<Tracked, TrackError> {
        signature::check_timestamp(request.ts, now).map_err(Refusal::from)?;
        let (api_user, customer) = self.signer(request.ts, request.sig).await?;
        if self.misses.is_blocked(api_user.clone()) {
            return Err(Refusal::SignerBlocked.into());
        }
        let found = self.find(request, &api_user, &customer).await;
        if let Err(TrackError::Refused(refusal)) = &found {
            if refusal.is_miss() && self.misses.record(api_user.clone()) {
                tracing::warn!(
                    api_user,
                    "API user blocked after repeated track & trace requests for unknown shipments \
                     or with wrong postcodes"
                );
            }
        }
        found
    }

    /// The shipment `request` asks for, when it is `customer`'s with that delivery postcode.
    async fn find(
        &self,
        request: &TrackRequest<'_>,
        api_user: &str,
        customer: &str,
    ) -> Result<Tracked, TrackError> {
        if let Err(e) = self.keys.touch(api_user).await {
            tracing::warn!(api_user, error = %e, "cannot record the API user's last use");
        }
        let pool = self.db().pool();
        let shipment = lookup::shipment(pool, customer, request.shipment_id)
            .await
            .map_err(|e| TrackError::Unavailable(e.to_string()))?
            .ok_or(Refusal::UnknownShipment)?;
        let stored = shipment
            .data
            .get("delivery")
            .and_then(|d| d.get("postcode"))
            .and_then(|p| p.as_str())
            .map(postcode_key);
        let given = postcode_key(request.postcode);
        if given.is_empty() || stored.as_deref() != Some(given.as_str()) {
            return Err(Refusal::WrongPostcode.into());
        }
        let history = lookup::history(pool, &shipment, false)
            .await
            .map_err(|e| TrackError::Unavailable(e.to_string()))?;
        Ok(Tracked {
            api_user: api_user.to_owned(),
            shipment,
            history,
        })
    }

    /// The enabled API user whose secret gives `sig` for `ts`, with its customer. Every enabled
    /// user's secret is tried, whether or not an earlier one matched, so the time taken does not
    /// tell how far down the list the match was.
    async fn signer(&self, ts: &str, sig: &str) -> Result<(String, String), TrackError> {
        let candidates = self
            .keys
            .enabled()
            .await
            .map_err(|e| TrackError::Unavailable(e.to_string()))?;
        let mut found = None;
        for candidate in candidates {
            let secret = match self.sealing.open(&candidate.name, &candidate.sealed) {
                Ok(secret) => secret,
                Err(e) => {
                    tracing::error!(
                        api_user = candidate.name,
                        error = %e,
                        "cannot open an API user's secret (another secrets key?)"
                    );
                    continue;
                }
            };
            if signature::verify(ts, sig, &secret) && found.is_none() {
                found = Some((candidate.name, candidate.customer));
            }
        }
        found.ok_or_else(|| Refusal::NoKey.into())
    }
}
