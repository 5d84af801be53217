//! Enums stored as TEXT with a CHECK constraint and sent as snake_case strings.

/// Declares an enum with its wire/database names: serde, OpenAPI schema, `as_str`, `from_db`.
/// `from_db` falls back to the first variant only for values the CHECK constraint forbids.
///
/// The OpenAPI schema is written by hand: utoipa's derive does not see `serde(rename)` values
/// that come from a macro, and would publish the Rust variant names.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn from_db(value: &str) -> Self {
                match value {
                    $($text => $name::$variant,)+
                    _ => Self::ALL[0],
                }
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
