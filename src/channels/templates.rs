//! Message templates (WhatsApp): synced from the provider, kept per channel, chosen by name and
//! language, and checked before a template send is queued — it must exist, be approved and get
//! exactly the parameters its body takes. A marketing template is sent for the `marketing`
//! purpose, so the door asks for the person's marketing consent on the medium.

use omnibridge_channel::{AdapterError, TemplateSend};

use super::{ChannelInfo, Channels};
use crate::consent::purposes;
use crate::store::templates::{self, TemplateRow};
use crate::store::{Db, StoreError};

/// The longest parameter a template takes.
pub const MAX_PARAMETER: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{0} channels have no message templates")]
    NotSupported(String),
    #[error("no template {name} in {language} on this channel; sync the templates if it was created recently")]
    Unknown { name: String, language: String },
    #[error("the template is {0}; only approved templates are sent")]
    NotApproved(String),
    #[error("the template takes {expected} parameter(s), {given} given")]
    Parameters { expected: usize, given: usize },
    #[error("parameter {0} is empty or longer than {MAX_PARAMETER} characters")]
    Parameter(usize),
    #[error("the provider did not list the templates: {0}")]
    Provider(#[from] AdapterError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TemplateError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Parameters { .. } | Self::Parameter(_) => "template.parameters",
            Self::Unknown { .. } | Self::NotApproved(_) => "template.name",
            _ => "template",
        }
    }
}

/// A template send, checked: the text the person will read, and the purpose it goes for.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub text: String,
    pub purpose: &'static str,
    pub spec: TemplateSend,
    pub category: String,
}

/// Lists the provider's templates for `channel` and keeps them, replacing what was kept.
pub async fn sync(channels: &Channels, db: &Db, channel: &ChannelInfo) -> Result<Vec<TemplateRow>, TemplateError> {
    let adapter = channels.template_source(channel).ok_or_else(|| TemplateError::NotSupported(channel.kind.clone()))?;
    let listed = adapter.templates().await?;
    templates::replace(db, channel.tenant_id, channel.id, &listed).await?;
    Ok(templates::list(db, channel.id).await?)
}

/// Checks a template send on `channel`.
pub async fn prepare(channels: &Channels, db: &Db, channel: &ChannelInfo, spec: TemplateSend) -> Result<Prepared, TemplateError> {
    if !channels.kind_of(channel).is_some_and(|k| k.capabilities().templates) {
        return Err(TemplateError::NotSupported(channel.kind.clone()));
    }
    let row = templates::get(db, channel.id, &spec.name, &spec.language)
        .await?
        .ok_or_else(|| TemplateError::Unknown { name: spec.name.clone(), language: spec.language.clone() })?;
    if row.status != "APPROVED" {
        return Err(TemplateError::NotApproved(row.status.to_ascii_lowercase()));
    }
    let template = row.template();
    let expected = template.body_parameters();
    if spec.parameters.len() != expected {
        return Err(TemplateError::Parameters { expected, given: spec.parameters.len() });
    }
    if let Some(i) = spec.parameters.iter().position(|p| p.trim().is_empty() || p.chars().count() > MAX_PARAMETER) {
        return Err(TemplateError::Parameter(i));
    }
    let purpose = if row.category.eq_ignore_ascii_case("MARKETING") { purposes::MARKETING } else { purposes::SERVICE };
    Ok(Prepared { text: template.render(&spec.parameters), purpose, spec, category: row.category })
}
