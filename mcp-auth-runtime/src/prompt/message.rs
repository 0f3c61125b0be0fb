//! What a prompt renders: messages for the model, with a role each.

use serde::{Serialize, Serializer};

use crate::resource::Role;
use crate::result::{Content, ResourceContents};

/// One message of a prompt, as MCP's `PromptMessage`: a role and one content block (text,
/// image, audio or an embedded resource).
///
/// ```
/// use mcp_auth_runtime::prompt::PromptMessage;
/// use mcp_auth_runtime::{Content, ResourceContents};
///
/// let messages = vec![
///     PromptMessage::user("Review this invoice."),
///     PromptMessage::user_content(Content::Resource {
///         resource: ResourceContents::text("invoice://inv-1", "{\"total\":1200}")
///             .with_mime_type("application/json"),
///     }),
///     PromptMessage::assistant("I will check the totals first."),
/// ];
/// let json = serde_json::to_value(&messages).unwrap();
/// assert_eq!(json[1]["content"]["type"], "resource");
/// assert_eq!(json[2]["role"], "assistant");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptMessage {
    /// Who says it.
    #[serde(serialize_with = "role")]
    pub role: Role,
    /// What is said.
    pub content: Content,
}

fn role<S: Serializer>(role: &Role, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    })
}

impl PromptMessage {
    /// A message of `role` with `content`.
    pub fn new(role: Role, content: Content) -> Self {
        PromptMessage { role, content }
    }

    /// A text message from the user.
    pub fn user(text: impl Into<String>) -> Self {
        PromptMessage::new(Role::User, Content::text(text))
    }

    /// A text message from the assistant.
    pub fn assistant(text: impl Into<String>) -> Self {
        PromptMessage::new(Role::Assistant, Content::text(text))
    }

    /// A message from the user with any content block: an image, audio, an embedded resource.
    pub fn user_content(content: Content) -> Self {
        PromptMessage::new(Role::User, content)
    }

    /// A message from the user embedding a resource's contents.
    pub fn user_resource(resource: ResourceContents) -> Self {
        PromptMessage::new(Role::User, Content::Resource { resource })
    }
}

/// The result of `prompts/get`: an optional description and the messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GetPromptResult {
    /// What this rendering of the prompt is; the prompt's description when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The messages.
    pub messages: Vec<PromptMessage>,
}

impl GetPromptResult {
    /// A result of these messages.
    pub fn new(messages: Vec<PromptMessage>) -> Self {
        GetPromptResult {
            description: None,
            messages,
        }
    }

    /// The same result with this description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// What a `#[prompt]` function may return on success: a `String` (one user text message), a
/// [`PromptMessage`], a `Vec<PromptMessage>` or a whole [`GetPromptResult`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the messages of a prompt",
    label = "not a prompt result",
    note = "return `Result<T, ToolError>` with `T` a `String` (one user message), a `PromptMessage`, a `Vec<PromptMessage>` or a `GetPromptResult`"
)]
pub trait PromptOutput {
    /// The result.
    fn into_result(self) -> GetPromptResult;
}

impl PromptOutput for String {
    fn into_result(self) -> GetPromptResult {
        GetPromptResult::new(vec![PromptMessage::user(self)])
    }
}

impl PromptOutput for PromptMessage {
    fn into_result(self) -> GetPromptResult {
        GetPromptResult::new(vec![self])
    }
}

impl PromptOutput for Vec<PromptMessage> {
    fn into_result(self) -> GetPromptResult {
        GetPromptResult::new(self)
    }
}

impl PromptOutput for GetPromptResult {
    fn into_result(self) -> GetPromptResult {
        self
    }
}
