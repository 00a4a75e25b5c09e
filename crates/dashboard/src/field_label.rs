//! A form field's name in words, for the label beside it and for the error that names
//! it: the known fields by name, the others from their key.

/// A field's name in words: the known ones by name, others from their key.
pub(crate) fn label(field: &str) -> String {
    let known = match field {
        "slug" => Some("Slug"),
        "custom_domain" => Some("Custom domain"),
        "auth_mode" => Some("Who may connect"),
        "allowed_origins" => Some("Allowed browser origins"),
        "product_name" => Some("Product name"),
        "instructions" => Some("Instructions for agents"),
        "email" => Some("Email address"),
        "url" => Some("URL"),
        "server_id" => Some("Server"),
        "prefix" => Some("Tool name prefix"),
        "member" => Some("Member"),
        "secrets" => Some("Secrets"),
        "content" => Some("Content"),
        "domain_check" => Some("DNS check"),
        "config" => Some("Settings"),
        "sign_in" => Some("Whose account it is reached with"),
        "issuer_url" => Some("Issuer URL"),
        "client_id" => Some("Client ID"),
        "client_secret" => Some("Client secret"),
        "remove" => Some("Removal"),
        "allowed_tools" => Some("Only these tools"),
        "allowed_prompts" => Some("Only these prompts"),
        "timeout_ms" => Some("Call timeout"),
        _ => None,
    };
    known.map_or_else(|| from_key(field), str::to_owned)
}

/// `some_field` as "Some field".
fn from_key(field: &str) -> String {
    let words = field.replace(['_', '-'], " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "This field".to_owned(),
    }
}
