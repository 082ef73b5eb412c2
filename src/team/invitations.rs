//! Invitations for imported operators: a mail with a link to set a password, single-use and
//! expiring, and a link to decline (the address is then removed and never invited again).
//!
//! The token is made when the mail goes out and only its hash is stored, so an unsent
//! invitation holds no secret and a database dump opens no account. Claiming an invitation for
//! sending is a conditional update, so two processes (a server and the `operators import`
//! command) never mail the same invitation twice; a mail that fails goes back to unsent and is
//! retried.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Config;
use crate::team::mailer::{Mailers, OperatorMail};
use crate::privacy::{Keyring, random_token};
use crate::store::{self, Db, StoreError};

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// What one round of sending did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub sent: usize,
    pub failed: usize,
}

/// Mails every unsent invitation (of `tenant`, when given).
pub async fn send_pending(db: &Db, keyring: &Keyring, door: &crate::egress::Door, config: &Config, tenant: Option<Uuid>) -> Result<Sent, StoreError> {
    let mut done = Sent::default();
    let pending = store::invitations::unsent(db, tenant, 1000).await?;
    let mut mailers = Mailers::new(db, keyring, door, config);
    for invitation in pending {
        let mailer = match mailers.of(invitation.tenant_id).await {
            Ok(m) => m,
            Err(why) => {
                store::invitations::release(db, invitation.id, &why).await?;
                done.failed += 1;
                continue;
            }
        };
        let Some(to) = invitation.email.clone() else {
            store::invitations::release(db, invitation.id, "the operator has no email address").await?;
            done.failed += 1;
            continue;
        };
        let token = random_token(32);
        let ttl = config.team.invitation_ttl_hours as i64 * 3_600_000_000;
        let expires_at = store::now_micros() + ttl;
        if !store::invitations::claim(db, invitation.id, &token_hash(&token), expires_at).await? {
            continue; // another process is sending it
        }
        match mailer.send(&mail(config, &invitation, &to, &token, expires_at)).await {
            Ok(()) => done.sent += 1,
            Err(err) => {
                tracing::warn!(invitation_id = %invitation.id, error = %err, "an invitation mail could not be sent; it will be retried");
                store::invitations::release(db, invitation.id, &err.to_string()).await?;
                done.failed += 1;
            }
        }
    }
    Ok(done)
}

fn mail(config: &Config, invitation: &store::invitations::UnsentInvitation, to: &str, token: &str, expires_at: i64) -> OperatorMail {
    let base = config.public_base_url();
    let until = crate::domain::rfc3339(expires_at);
    let until = format!("{} UTC", until.get(..16).unwrap_or(&until).replace('T', " "));
    OperatorMail {
        to: to.to_owned(),
        subject: format!("You are invited to answer conversations for {}", invitation.tenant_name),
        text: format!(
            "Hello {name},\n\n{tenant} invites you to its shared inbox on omnibridge.\n\n\
             Set your password here (the link works once, until {until}):\n{base}/invitations/{token}\n\n\
             Not expecting this? Decline, and your address is removed and not invited again:\n{base}/invitations/{token}/decline\n",
            name = invitation.name,
            tenant = invitation.tenant_name,
        ),
        headers: Vec::new(),
    }
}

/// Why a link does not work.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("this invitation link is not valid: it was used already, has expired, or never existed")]
    Gone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sets the invited operator's password; the link is spent. Returns the operator's id and email.
pub async fn accept(db: &Db, token: &str, password_hash: &str) -> Result<(Uuid, Uuid, Option<String>), LinkError> {
    let mut tx = db.begin().await?;
    let invitation = store::invitations::by_token(&mut tx, &token_hash(token)).await?.ok_or(LinkError::Gone)?;
    if !store::invitations::use_once(&mut tx, invitation.id).await? {
        return Err(LinkError::Gone);
    }
    store::sessions::set_password_in(&mut tx, invitation.tenant_id, invitation.operator_id, password_hash).await?;
    tx.commit().await?;
    Ok((invitation.tenant_id, invitation.operator_id, invitation.email))
}

/// Whether the link can still be used (to show the form, or say it cannot).
pub async fn is_open(db: &Db, token: &str) -> Result<bool, StoreError> {
    let now = store::now_micros();
    Ok(store::invitations::by_token(db, &token_hash(token)).await?.is_some_and(|i| i.used_at.is_none() && i.expires_at.is_some_and(|e| e > now)))
}

/// The invitee declines: their address is removed (with the operator, unless they already set
/// a password) and suppressed for future imports. Works while the link is unused, even expired.
pub async fn decline(db: &Db, keyring: &Keyring, token: &str) -> Result<(Uuid, Uuid), LinkError> {
    let mut tx = db.begin().await?;
    let invitation = store::invitations::by_token(&mut tx, &token_hash(token)).await?.ok_or(LinkError::Gone)?;
    if invitation.used_at.is_some() {
        return Err(LinkError::Gone);
    }
    let index = crate::team::import::suppression_index(keyring, invitation.tenant_id, invitation.email.as_deref().unwrap_or_default());
    store::invitations::decline(&mut tx, &invitation, &index).await?;
    tx.commit().await?;
    Ok((invitation.tenant_id, invitation.operator_id))
}
