use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    platform::service::main("product-order", |shutdown, tasks| async move {
        let settings = product_order::Settings::from_env()?;
        product_order::start(settings, shutdown, &tasks).await.map(|_| ())
    })
    .await
}
