//! The whole shop in one process: customer, product-order and web, each on its own port and
//! talking to the others over HTTP and RabbitMQ exactly as when deployed apart.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::ExitCode;

use base64::Engine as _;
use secrecy::SecretString;

#[tokio::main]
async fn main() -> ExitCode {
    platform::service::main("shop", |shutdown, tasks| async move {
        let mut customer_settings = customer::Settings::from_env()?;
        // Web calls customer from this host: customer believes the shopper's address web
        // forwards, or every shopper would share web's. Any local user could then claim an
        // address too, so where local users are not trusted, run the services apart.
        if platform::config::var_opt("CUSTOMER_TRUSTED_PROXIES").is_none() {
            customer_settings.trusted_proxies = platform::config::ip_ranges_of("127.0.0.1,::1")?;
        }
        let operator_note = match &customer_settings.operator {
            Some((email, _)) => format!("operator: log in as {email} with SHOP_OPERATOR_PASSWORD"),
            None => {
                // No operator configured: make one for this run, its password shown only to
                // whoever started the shop.
                let email = "operator@shop.local".to_owned();
                let password = random_password()?;
                let note = format!(
                    "operator: log in as {email} with {} \
                     (new each start; set SHOP_OPERATOR_EMAIL and SHOP_OPERATOR_PASSWORD to choose)",
                    hand_over(&password)?
                );
                customer_settings.operator = Some((email, SecretString::from(password)));
                note
            }
        };
        customer::start(customer_settings, shutdown.clone(), &tasks).await?;
        let mut product_order_settings = product_order::Settings::from_env()?;
        // A new user should meet a real shop: seed the demo catalog unless told otherwise.
        if platform::config::var_opt("PRODUCT_ORDER_DEMO_CATALOG").is_none() {
            product_order_settings.demo_catalog = true;
        }
        product_order::start(product_order_settings, shutdown.clone(), &tasks).await?;
        let web_addr = web::start(web::Settings::from_env()?, shutdown, &tasks).await?.addr;
        println!("\n  The shop is open at http://{web_addr}\n  {operator_note}\n");
        Ok(())
    })
    .await
}

/// Where the generated password goes: onto the terminal that started the shop, or, when
/// stdout is not one (it carries the logs, which others read), into a file only this user can
/// read. Answers how the banner names it.
fn hand_over(password: &str) -> Result<String, platform::StartupError> {
    if std::io::stdout().is_terminal() {
        return Ok(format!("password {password}"));
    }
    let directory = platform::config::var_opt("XDG_RUNTIME_DIR").unwrap_or_else(|| ".".to_owned());
    let path = std::path::Path::new(&directory).join(".shop-operator-password");
    let cannot = |e: std::io::Error| platform::StartupError::new(format!("cannot write {}: {e}", path.display()));
    // A new file each start, never one (or a link) someone else left there.
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(cannot(e)),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(cannot)?;
    writeln!(file, "{password}").map_err(cannot)?;
    Ok(format!("the password in {} (readable by you only)", path.display()))
}

fn random_password() -> Result<String, platform::StartupError> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| platform::StartupError::new(format!("no randomness: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
