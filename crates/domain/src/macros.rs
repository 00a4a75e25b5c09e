//! Macros shared by the domain's modules.

/// A closed set of values with a fixed text form: serde as that text, `as_str`, `parse`,
/// `ALL`, `Display` and an OpenAPI schema.
macro_rules! string_enum {
    // `$text:tt`, not `:literal`: a literal fragment reaches derives wrapped in an invisible
    // group, which utoipa's schema derive does not read as a `rename`.
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:tt),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize, utoipa::ToSchema)]
        pub enum $name { $(#[serde(rename = $text)] $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(value: &str) -> Option<Self> {
                match value { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
