//! The operator's product pages.

use api::catalog::{Product, StockChange};
use askama::Template;

use super::form::{CURRENCIES, FieldErrors, ProductForm, StockForm};
use crate::catalog::shown::{ProductShown as _, StockChangeShown as _};
use crate::clients::product_order::Sort;
use crate::fields::split_errors;
use crate::listing::LoadMore;
use crate::render::PageContext;

/// The fields of the product form that show their own messages.
pub const PRODUCT_FIELDS: [&str; 8] = [
    "sku",
    "name",
    "description",
    "price",
    "currency",
    "stock",
    "image_url",
    "active",
];
/// The fields of the stock form that show their own messages.
pub const STOCK_FIELDS: [&str; 2] = ["stock_delta", "stock_reason"];

/// /ops/products: every product, inactive ones too, low stock highlighted.
#[derive(Template)]
#[template(path = "ops/products.html")]
pub struct OpsProductsView<'a> {
    pub q: &'a str,
    pub sort: Sort,
    pub products: &'a [Product],
    pub continued: bool,
    pub load_more: LoadMore,
}

/// A product's row in the operators' product table.
#[derive(Template)]
#[template(path = "ops/product_row.html")]
pub struct OpsProductRow<'a> {
    pub product: &'a Product,
}

/// /ops/products/new.
#[derive(Template)]
#[template(path = "ops/new.html")]
pub struct NewProductView<'a> {
    pub csrf_token: &'a str,
    pub form: ProductForm,
    pub errors: FieldErrors,
    pub other_errors: Vec<String>,
    pub is_new: bool,
    pub currencies: &'static [&'static str],
}

impl<'a> NewProductView<'a> {
    pub fn new(ctx: &'a PageContext, form: ProductForm, errors: FieldErrors) -> Self {
        let (errors, other_errors) = split_errors(errors, &PRODUCT_FIELDS);
        Self {
            csrf_token: &ctx.csrf_token,
            form,
            errors,
            other_errors,
            is_new: true,
            currencies: &CURRENCIES,
        }
    }
}

/// /ops/products/{id}: the product form, the stock form and the stock history.
#[derive(Template)]
#[template(path = "ops/edit.html")]
pub struct EditProductView<'a> {
    pub csrf_token: &'a str,
    pub product: &'a Product,
    pub form: ProductForm,
    pub errors: FieldErrors,
    pub other_errors: Vec<String>,
    pub stock: StockForm,
    pub stock_errors: FieldErrors,
    pub stock_other_errors: Vec<String>,
    pub history: &'a [StockChange],
    /// Why the picture form was refused.
    pub image_error: Option<String>,
    /// What the last form did.
    pub notice: Option<&'static str>,
    pub is_new: bool,
    pub currencies: &'static [&'static str],
}

impl<'a> EditProductView<'a> {
    pub fn new(ctx: &'a PageContext, product: &'a Product, history: &'a [StockChange]) -> Self {
        Self {
            csrf_token: &ctx.csrf_token,
            product,
            form: ProductForm::of(product),
            errors: FieldErrors::new(),
            other_errors: Vec::new(),
            stock: StockForm::default(),
            stock_errors: FieldErrors::new(),
            stock_other_errors: Vec::new(),
            history,
            image_error: None,
            notice: None,
            is_new: false,
            currencies: &CURRENCIES,
        }
    }

    /// The product form as sent, with why it was refused.
    pub fn with_product_errors(self, form: ProductForm, errors: FieldErrors) -> Self {
        let (errors, other_errors) = split_errors(errors, &PRODUCT_FIELDS);
        Self {
            form,
            errors,
            other_errors,
            ..self
        }
    }

    /// The picture form's refusal.
    pub fn with_image_error(self, message: String) -> Self {
        Self {
            image_error: Some(message),
            ..self
        }
    }

    /// The stock form as sent, with why it was refused.
    pub fn with_stock_errors(self, stock: StockForm, errors: FieldErrors) -> Self {
        let (stock_errors, stock_other_errors) = split_errors(errors, &STOCK_FIELDS);
        Self {
            stock,
            stock_errors,
            stock_other_errors,
            ..self
        }
    }
}

/// The message for `?done=` after a form succeeded.
pub fn notice(done: &str) -> Option<&'static str> {
    match done {
        "created" => Some("Product created."),
        "saved" => Some("Changes saved."),
        "stock" => Some("Stock updated."),
        "image" => Some("Picture uploaded."),
        "image-removed" => Some("Picture removed."),
        _ => None,
    }
}
