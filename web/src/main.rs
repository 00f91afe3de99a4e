use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    platform::service::main("web", |shutdown, tasks| async move {
        let settings = web::Settings::from_env()?;
        web::start(settings, shutdown, &tasks).await.map(|_| ())
    })
    .await
}
