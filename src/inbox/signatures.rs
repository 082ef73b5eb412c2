//! Signatures under operators' mail replies: the operator's own closing lines, then the
//! mailbox's. They become part of the stored text, so the conversation shows exactly what the
//! person received. Only kinds that write mail (threading kinds) carry them.

use omnibridge_channel::ChannelKind;
use uuid::Uuid;

use crate::channels::ChannelInfo;
use crate::store::{self, Db, StoreError};

/// The longest signature an operator may have.
pub const MAX_SIGNATURE_CHARS: usize = 2000;

/// The signature an operator's reply on `channel` ends with, if any.
pub async fn for_reply(db: &Db, kind: &dyn ChannelKind, channel: &ChannelInfo, operator_id: Option<Uuid>) -> Result<Option<String>, StoreError> {
    if !kind.capabilities().threading {
        return Ok(None);
    }
    let own = match operator_id {
        Some(id) => store::team::signature(db, channel.tenant_id, id).await?.filter(|s| !s.trim().is_empty()),
        None => None,
    };
    let parts: Vec<String> = [own, kind.signature(&channel.settings)].into_iter().flatten().map(|s| s.trim().to_owned()).collect();
    Ok((!parts.is_empty()).then(|| parts.join("\n\n")))
}

/// `text` with the signature under it, after the usual `-- ` separator line (RFC 3676 §4.3),
/// which mail clients recognise and grey out or leave out of quotes.
pub fn signed(text: &str, signature: Option<&str>) -> String {
    match signature {
        Some(signature) => format!("{text}\n\n-- \n{signature}"),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_signature_follows_the_separator_line() {
        assert_eq!(super::signed("Hello", Some("Ana\nAcme support")), "Hello\n\n-- \nAna\nAcme support");
        assert_eq!(super::signed("Hello", None), "Hello");
    }
}
