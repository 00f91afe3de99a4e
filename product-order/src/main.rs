use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            platform::service::main("product-order", |shutdown, tasks| async move {
                let settings = product_order::Settings::from_env()?;
                product_order::start(settings, shutdown, &tasks).await.map(|_| ())
            })
            .await
        }
        [command, count] if command == "load-products" => match count.parse() {
            Ok(count) => load_products(count).await,
            Err(_) => usage(),
        },
        _ => usage(),
    }
}

/// Adds `count` generated products to the catalog (for benchmarks), then exits.
async fn load_products(count: usize) -> ExitCode {
    let outcome = async {
        let settings = product_order::Settings::from_env()?;
        let db = platform::db::connect(&settings.database_url, 4, &product_order::MIGRATOR).await?;
        product_order::catalog::demo::generate(&db, count)
            .await
            .map_err(|e| platform::StartupError::new(format!("loading products failed: {e}")))
    }
    .await;
    match outcome {
        Ok(loaded) => {
            println!("loaded {loaded} products");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("product-order: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: product-order [load-products COUNT]");
    ExitCode::from(2)
}
