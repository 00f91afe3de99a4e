use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    platform::service::main("customer", |shutdown, tasks| async move {
        let settings = customer::Settings::from_env()?;
        customer::start(settings, shutdown, &tasks).await.map(|_| ())
    })
    .await
}
