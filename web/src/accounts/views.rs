//! The account forms.

use std::collections::BTreeMap;

use askama::Template;

use super::{PASSWORD_FIELDS, REGISTER_FIELDS};
use crate::clients::customer::Enrolment;
use crate::error::WebError;
use crate::fields::split_errors;
use crate::render::PageContext;

#[derive(Template)]
#[template(path = "accounts/register.html")]
pub struct RegisterView<'a> {
    pub csrf_token: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    /// Messages by field name.
    pub errors: BTreeMap<String, String>,
    /// Messages about no field of the form.
    pub other_errors: Vec<String>,
}

impl<'a> RegisterView<'a> {
    pub fn new(ctx: &'a PageContext, email: &'a str, name: &'a str, errors: BTreeMap<String, String>) -> Self {
        let (errors, other_errors) = split_errors(errors, &REGISTER_FIELDS);
        Self {
            csrf_token: &ctx.csrf_token,
            email,
            name,
            errors,
            other_errors,
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/password.html")]
pub struct PasswordView<'a> {
    pub csrf_token: &'a str,
    /// The password was just changed.
    pub changed: bool,
    /// Messages by field name.
    pub errors: BTreeMap<String, String>,
    /// Messages about no field of the form.
    pub other_errors: Vec<String>,
}

impl<'a> PasswordView<'a> {
    pub fn new(ctx: &'a PageContext, changed: bool, errors: BTreeMap<String, String>) -> Self {
        let (errors, other_errors) = split_errors(errors, &PASSWORD_FIELDS);
        Self {
            csrf_token: &ctx.csrf_token,
            changed,
            errors,
            other_errors,
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/login.html")]
pub struct LoginView<'a> {
    pub csrf_token: &'a str,
    pub email: &'a str,
    /// Where to go after logging in (already checked to be local).
    pub next: &'a str,
    pub error: Option<String>,
}

impl<'a> LoginView<'a> {
    pub fn new(ctx: &'a PageContext, email: &'a str, next: &'a str, error: Option<String>) -> Self {
        Self {
            csrf_token: &ctx.csrf_token,
            email,
            next,
            error,
        }
    }
}

/// A factor being enrolled: its QR code and, for typing by hand, its secret.
pub struct EnrolmentView {
    /// The secret in groups of four, as apps show it.
    pub secret: String,
    /// An inline `<svg>` drawn here from customer's `otpauth://` URI (paths only: nothing of
    /// the URI appears as markup).
    pub qr_svg: String,
}

impl EnrolmentView {
    pub fn new(enrolment: &Enrolment) -> Result<Self, WebError> {
        let code = qrcode::QrCode::new(enrolment.otpauth_uri.as_bytes())
            .map_err(|e| WebError::Internal(format!("cannot draw the enrolment QR code: {e}")))?;
        let svg = code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .build();
        let svg = svg.split_once("?>").map_or(svg.as_str(), |(_, rest)| rest).replacen(
            "<svg ",
            "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" ",
            1,
        );
        let secret = enrolment
            .secret
            .as_bytes()
            .chunks(4)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Self { secret, qr_svg: svg })
    }
}

/// The code field of a login's second step, or of an enrolment (with its QR code).
#[derive(Template)]
#[template(path = "accounts/second_factor.html")]
pub struct SecondFactorView<'a> {
    pub csrf_token: &'a str,
    /// Where the form posts.
    pub action: &'a str,
    /// Where to go after the login (already checked to be local).
    pub next: &'a str,
    /// Shown inside the operator console.
    pub in_console: bool,
    pub enrolment: Option<EnrolmentView>,
    /// The account has a factor already (console): how many recovery codes are left.
    pub enrolled: Option<i64>,
    pub errors: BTreeMap<String, String>,
    pub other_errors: Vec<String>,
}

impl<'a> SecondFactorView<'a> {
    pub fn for_login(
        ctx: &'a PageContext,
        next: &'a str,
        enrolment: Option<EnrolmentView>,
        errors: BTreeMap<String, String>,
    ) -> Self {
        let (errors, other_errors) = split_errors(errors, &["code"]);
        Self {
            csrf_token: &ctx.csrf_token,
            action: "/login/second-factor",
            next,
            in_console: false,
            enrolment,
            enrolled: None,
            errors,
            other_errors,
        }
    }

    pub fn for_console(
        ctx: &'a PageContext,
        enrolment: Option<EnrolmentView>,
        enrolled: Option<i64>,
        errors: BTreeMap<String, String>,
    ) -> Self {
        let (errors, other_errors) = split_errors(errors, &["code"]);
        Self {
            csrf_token: &ctx.csrf_token,
            action: "/ops/second-factor",
            next: "/ops",
            in_console: true,
            enrolment,
            enrolled,
            errors,
            other_errors,
        }
    }
}

/// Recovery codes, shown once right after an enrolment.
#[derive(Template)]
#[template(path = "accounts/recovery_codes.html")]
pub struct RecoveryCodesView<'a> {
    pub codes: Vec<String>,
    pub next: &'a str,
}
