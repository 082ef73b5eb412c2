//! Password reset by mail: a single-use link that expires in an hour, mailed to the operator's
//! sign-in address through the tenant's way out for operator mail ([`crate::team::mailer`]). Asking
//! for one answers the same whether or not the address exists (and the mail goes out in the
//! background, so timing does not tell either). Setting the new password ends every session of
//! the operator.

use std::time::Duration;

use sha2::Digest;
use uuid::Uuid;

use crate::team::mailer::{Mailers, OperatorMail};
use crate::hub::Hub;
use crate::store;

const TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("the link was used already, has expired, or was never valid")]
    Gone,
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

pub fn token_hash(token: &str) -> Vec<u8> {
    sha2::Sha256::digest(token.as_bytes()).to_vec()
}

/// Mails a reset link to an operator, if they are active and have an address.
pub async fn send(hub: &Hub, tenant_id: Uuid, operator_id: Uuid) -> Result<bool, store::StoreError> {
    let Some(email) = store::sessions::active_email(&hub.db, tenant_id, operator_id).await? else { return Ok(false) };
    let token = crate::privacy::random_token(32);
    store::sessions::insert_reset(&hub.db, &token_hash(&token), tenant_id, operator_id, store::now_micros() + TTL.as_micros() as i64).await?;
    let link = format!("{}/password-reset/{token}", hub.config.public_base_url());
    let mail = OperatorMail {
        to: email,
        subject: "Reset your omnibridge password".into(),
        text: format!(
            "Someone asked to reset the password of your omnibridge account.\n\n\
             To choose a new password, open this link within an hour (it works once):\n{link}\n\n\
             If it was not you, ignore this mail: your password stays as it is."
        ),
        headers: Vec::new(),
    };
    let mut mailers = Mailers::new(&hub.db, &hub.keyring, &hub.door, &hub.config);
    match mailers.of(tenant_id).await {
        Ok(mailer) => {
            if let Err(err) = mailer.send(&mail).await {
                tracing::warn!(error = %err, "a password reset mail could not be sent");
            }
        }
        Err(why) => tracing::warn!(reason = why, "no way to mail a password reset"),
    }
    Ok(true)
}

/// Mails a reset link to every active operator signing in with `email` (the public form).
pub async fn request(hub: &Hub, email: &str) -> Result<(), store::StoreError> {
    for operator in store::sessions::credentials_by_email(&hub.db, &email.trim().to_lowercase()).await? {
        send(hub, operator.tenant_id, operator.id).await?;
    }
    Ok(())
}

/// Whether a link still works (for the page).
pub async fn valid(hub: &Hub, token: &str) -> Result<bool, store::StoreError> {
    Ok(store::sessions::reset_by_token(&hub.db, &token_hash(token)).await?.is_some_and(|r| r.used_at.is_none() && r.expires_at > store::now_micros()))
}

/// Sets the new password (already hashed) by the link, once; ends every session.
pub async fn complete(hub: &Hub, token: &str, password_hash: &str) -> Result<(), ResetError> {
    let mut tx = hub.db.begin().await?;
    let reset = store::sessions::redeem_reset(&mut tx, &token_hash(token)).await?.ok_or(ResetError::Gone)?;
    if !store::sessions::set_password_in(&mut tx, reset.tenant_id, reset.operator_id, password_hash).await? {
        return Err(ResetError::Gone);
    }
    store::sessions::delete_all(&mut tx, reset.tenant_id, reset.operator_id).await?;
    tx.commit().await?;
    let actor = crate::privacy::audit::Actor { operator_id: Some(reset.operator_id), ..Default::default() };
    crate::privacy::audit::record(&hub.db, reset.tenant_id, &actor, "operator.password_reset", "operator", Some(reset.operator_id), None).await;
    crate::team::operators::Ended::now(hub, reset.tenant_id).await;
    Ok(())
}
