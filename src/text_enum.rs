//! Enums stored as TEXT with a CHECK constraint and sent as snake_case strings.

/// Declares an enum with its wire/database names: serde, OpenAPI schema, `as_str`, and the
/// diesel conversions of [`text_enum_sql!`].
///
/// The OpenAPI schema is written by hand: utoipa's derive does not see `serde(rename)` values
/// that come from a macro, and would publish the Rust variant names.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, diesel::AsExpression, diesel::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
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
        }

        $crate::text_enum_sql!($name { $($variant => $text),+ });

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

/// Stores an enum (which derives `AsExpression` and `FromSqlRow` as TEXT) by its names, on every
/// backend. A stored value that is not one of the names is a deserialization error: a corrupted
/// row must fail loudly rather than be read as some other value.
#[macro_export]
macro_rules! text_enum_sql {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl<DB: diesel::backend::Backend> diesel::serialize::ToSql<diesel::sql_types::Text, DB>
            for $name
        where
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                let text: &'static str = match self {
                    $($name::$variant => $text),+
                };
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(text, out)
            }
        }

        impl<DB: diesel::backend::Backend> diesel::deserialize::FromSql<diesel::sql_types::Text, DB>
            for $name
        where
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                match text.as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("unknown {} value {text:?}", stringify!($name)).into()),
                }
            }
        }
    };
}
