//! Schemas derived by hand, for values whose Rust type is wider than the words they take.

/// A string that is one of `values` (the words of a Rust enum or list a schema is derived
/// from by hand).
pub fn one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> utoipa::openapi::schema::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values))
        .build()
}

/// A string that is one of `values`, or empty (a filter left blank: no filter).
pub fn one_of_or_blank<'a>(values: impl IntoIterator<Item = &'a str>) -> utoipa::openapi::schema::Object {
    one_of(std::iter::once("").chain(values))
}
