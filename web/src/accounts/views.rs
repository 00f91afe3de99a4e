//! The account forms.

use std::collections::BTreeMap;

use askama::Template;

use super::{PASSWORD_FIELDS, REGISTER_FIELDS};
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
