//! The OpenAPI 3.1 description each service serves on its internal listener
//! (`/openapi.json`) and keeps in `openapi/<service>.json`. Handlers describe their own
//! answers; what every operation of a kind can answer is added here, from what the operation
//! is: one taking a JSON body can get 400, 413, 415 and 422, one taking a bearer token 401, an
//! operator's 403, one with a path parameter 404 and one with a query 400 or 422 for a value
//! it cannot take (or 414 for a query too long to read). All errors share one body (`ErrorBody`).

use utoipa::PartialSchema;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};

use api::{ErrorBody, ErrorCode, ErrorDetail};

/// The name of the bearer scheme handlers refer to: `security(("bearer" = []))`.
pub const BEARER: &str = "bearer";
/// The tag of operator-only operations (shoppers get 403).
pub const OPERATORS: &str = "operators";

/// The shared error answers, by status, as `components/responses` names them.
const COMMON: [(&str, &str, &str); 8] = [
    ("400", "BadRequest", "The body is not JSON, or a value cannot be taken."),
    (
        "401",
        "Unauthorized",
        "No bearer token, or one that is invalid, expired or of an ended session.",
    ),
    ("403", "Forbidden", "The caller is not an operator."),
    ("404", "NotFound", "Nothing at this address (or not the caller's)."),
    ("413", "PayloadTooLarge", "The body is larger than 256 KiB."),
    (
        "414",
        "UriTooLong",
        "The address (with its query) is longer than the server reads.",
    ),
    ("415", "UnsupportedMediaType", "The body is not `application/json`."),
    (
        "422",
        "Unprocessable",
        "A field is invalid (named in `fields`), or the body has the wrong shape.",
    ),
];

/// `api` with the shared error answers, the error schema and the bearer scheme.
pub fn finish(mut api: OpenApi, title: &str, description: &str) -> OpenApi {
    api.info.title = title.to_owned();
    api.info.description = Some(description.to_owned());
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    api.info.license = None;
    let components = api.components.get_or_insert_with(Default::default);
    components.schemas.insert("Error".to_owned(), ErrorBody::schema());
    components
        .schemas
        .insert("ErrorDetail".to_owned(), ErrorDetail::schema());
    components.schemas.insert("ErrorCode".to_owned(), ErrorCode::schema());
    for (status, name, description) in COMMON {
        let response = ResponseBuilder::new().description(description);
        // The HTTP server itself refuses an address too long to read, with no body.
        let response = if status == "414" {
            response.build()
        } else {
            response
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Error")))
                        .build(),
                )
                .build()
        };
        components.responses.insert(name.to_owned(), RefOr::T(response));
    }
    components.security_schemes.insert(
        BEARER.to_owned(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An access token from customer's login (EdDSA, at most 15 minutes).",
                ))
                .build(),
        )),
    );
    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            add_common_answers(operation);
        }
    }
    api
}

fn add_common_answers(operation: &mut Operation) {
    let mut statuses = Vec::new();
    if operation.request_body.is_some() {
        statuses.extend(["400", "413", "415", "422"]);
    }
    // A path value of the wrong kind names nothing (404); a query value of the wrong kind is
    // a bad request (400), one of the right kind out of range an invalid field (422); a
    // header that cannot be taken is a bad request.
    for parameter in operation.parameters.iter().flatten() {
        if let RefOr::T(parameter) = parameter {
            match parameter.parameter_in {
                ParameterIn::Path => statuses.push("404"),
                ParameterIn::Query => statuses.extend(["400", "414", "422"]),
                ParameterIn::Header => statuses.push("400"),
                _ => {}
            }
        }
    }
    let authenticated = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    if authenticated {
        statuses.push("401");
    }
    if operation
        .tags
        .as_ref()
        .is_some_and(|tags| tags.iter().any(|t| t == OPERATORS))
    {
        statuses.push("403");
    }
    for status in statuses {
        let (_, name, _) = COMMON.iter().find(|(s, _, _)| *s == status).expect("a common answer");
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))));
    }
}

/// `api` as the committed file holds it: pretty JSON with a final newline.
pub fn to_file(api: &OpenApi) -> String {
    let mut text = api.to_pretty_json().expect("an OpenAPI description serializes");
    text.push('\n');
    text
}
