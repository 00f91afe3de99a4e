//! The demo catalog a new shop starts with, and generated products for benchmarks.

use sqlx::PgPool;
use uuid::Uuid;

/// (SKU, name, description, price in cents, stock)
const DEMO: &[(&str, &str, &str, i64, i32)] = &[
    (
        "TEA-SENCHA-100",
        "Sencha Green Tea, 100 g",
        "Steamed Japanese green tea with a fresh, grassy cup. Brew at 75 °C for one minute.",
        1290,
        120,
    ),
    (
        "TEA-ASSAM-250",
        "Assam Breakfast Tea, 250 g",
        "Malty, full-bodied black tea from Assam that takes milk well.",
        1450,
        200,
    ),
    (
        "TEA-EARLGREY-100",
        "Earl Grey, 100 g",
        "Ceylon black tea scented with natural bergamot oil.",
        990,
        150,
    ),
    (
        "TEA-DARJ-FF-50",
        "Darjeeling First Flush, 50 g",
        "Spring harvest from the Himalayan foothills: light, floral and muscatel.",
        1890,
        40,
    ),
    (
        "TEA-MATCHA-30",
        "Ceremonial Matcha, 30 g",
        "Stone-ground shade-grown tea from Uji for whisking with water.",
        2450,
        25,
    ),
    (
        "TEA-ROOIBOS-150",
        "Rooibos Vanilla, 150 g",
        "Caffeine-free South African red bush with vanilla pieces.",
        850,
        90,
    ),
    (
        "TEA-OOLONG-100",
        "Tie Guan Yin Oolong, 100 g",
        "Rolled oolong with orchid notes; steeps five times or more.",
        1690,
        60,
    ),
    (
        "TEA-PUERH-357",
        "Shou Pu-erh Cake, 357 g",
        "Aged fermented tea pressed into a traditional cake; earthy and smooth.",
        3900,
        12,
    ),
    (
        "TEA-CHAMOMILE-50",
        "Chamomile Flowers, 50 g",
        "Whole Egyptian chamomile blossoms for a calm evening cup.",
        690,
        80,
    ),
    (
        "TEA-MINT-75",
        "Moroccan Mint, 75 g",
        "Gunpowder green tea with spearmint, as served in Marrakech.",
        790,
        110,
    ),
    (
        "TEA-GENMAICHA-100",
        "Genmaicha, 100 g",
        "Green tea with toasted brown rice: nutty and comforting.",
        890,
        70,
    ),
    (
        "TEA-CHAI-200",
        "Masala Chai Blend, 200 g",
        "Assam with cardamom, cinnamon, ginger and clove; simmer with milk.",
        1190,
        95,
    ),
    (
        "POT-KYUSU-300",
        "Tokoname Kyusu Teapot, 300 ml",
        "Unglazed clay side-handle pot with a fine built-in strainer.",
        6900,
        8,
    ),
    (
        "POT-GLASS-1L",
        "Glass Teapot with Infuser, 1 l",
        "Borosilicate glass pot with a removable stainless steel infuser.",
        3490,
        30,
    ),
    (
        "POT-CAST-IRON-800",
        "Cast Iron Tetsubin, 800 ml",
        "Enamelled cast iron pot that keeps tea warm for a long time.",
        5900,
        10,
    ),
    (
        "POT-PORCELAIN-600",
        "White Porcelain Teapot, 600 ml",
        "Classic round teapot for two to three cups.",
        2990,
        22,
    ),
    (
        "CUP-GAIWAN-150",
        "Porcelain Gaiwan, 150 ml",
        "Lidded bowl for gongfu brewing; thin walls, easy pour.",
        1890,
        35,
    ),
    (
        "CUP-DOUBLEWALL-2",
        "Double-Wall Glasses, set of 2",
        "Heat-resistant glasses that keep hands cool and drinks hot.",
        2490,
        50,
    ),
    (
        "CUP-MUG-STONE",
        "Stoneware Mug, 350 ml",
        "Hand-glazed mug in speckled oat; dishwasher safe.",
        1590,
        64,
    ),
    (
        "CUP-MATCHA-BOWL",
        "Matcha Bowl (Chawan)",
        "Wide hand-thrown bowl with room to whisk.",
        3290,
        14,
    ),
    (
        "ACC-CHASEN-100",
        "Bamboo Whisk (Chasen)",
        "One hundred prongs for a smooth, frothy matcha.",
        1490,
        45,
    ),
    (
        "ACC-SCALE-001",
        "Pocket Tea Scale, 0.1 g",
        "Weighs leaves to a tenth of a gram; includes a tray.",
        1990,
        28,
    ),
    (
        "ACC-KETTLE-VAR",
        "Variable Temperature Kettle",
        "1 l electric gooseneck kettle holding 40 to 100 °C.",
        8900,
        9,
    ),
    (
        "ACC-TIMER-SAND",
        "Sand Timer Set",
        "Three glass timers: two, three and four minutes.",
        1290,
        40,
    ),
    (
        "ACC-STRAINER-SS",
        "Stainless Steel Strainer",
        "Fine mesh strainer that sits on any cup.",
        690,
        140,
    ),
    (
        "ACC-CADDY-TIN",
        "Airtight Tea Caddy, 200 g",
        "Double-lidded tin that keeps tea fresh and dark.",
        1190,
        75,
    ),
    (
        "ACC-TRAY-BAMBOO",
        "Bamboo Tea Tray",
        "Slatted tray with a drain drawer for gongfu sessions.",
        4590,
        6,
    ),
    (
        "ACC-FILTERS-100",
        "Paper Tea Filters, 100 pcs",
        "Unbleached filters for loose tea on the go.",
        390,
        300,
    ),
    (
        "SNK-SHORTBREAD",
        "Butter Shortbread, 200 g",
        "Scottish shortbread baked with salted butter.",
        590,
        85,
    ),
    (
        "SNK-GINGER-COOKIES",
        "Ginger Snaps, 250 g",
        "Crisp cookies with candied ginger.",
        490,
        100,
    ),
    (
        "SNK-HONEY-ACACIA",
        "Acacia Honey, 250 g",
        "Mild, clear honey that will not mask your tea.",
        890,
        55,
    ),
    (
        "SNK-MOCHI-6",
        "Matcha Mochi, 6 pcs",
        "Soft rice cakes filled with matcha cream.",
        790,
        3,
    ),
    (
        "GIFT-SAMPLER-12",
        "Tea Sampler, 12 teas",
        "Twelve sachets from our best sellers, in a gift box.",
        2990,
        20,
    ),
    (
        "GIFT-CARD-25",
        "Gift Card, 25 EUR",
        "Delivered by email with a personal message.",
        2500,
        999,
    ),
    (
        "BOOK-TEA-GUIDE",
        "The Tea Companion (book)",
        "A friendly guide to growing regions, brewing and tasting.",
        2890,
        11,
    ),
    (
        "TEA-SILVER-NEEDLE",
        "Silver Needle White Tea, 25 g",
        "Downy buds from Fujian with a honeyed sweetness.",
        2290,
        0,
    ),
];

/// Fills an empty catalog with the demo products; does nothing when products exist.
pub async fn seed_if_empty(db: &PgPool) -> sqlx::Result<usize> {
    let mut tx = db.begin().await?;
    // One seeder at a time, so two instances starting together seed once.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('catalog-demo-seed', 0))")
        .execute(&mut *tx)
        .await?;
    if super::store::count(&mut *tx).await? > 0 {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(DEMO.len());
    for (index, (sku, name, description, price, stock)) in DEMO.iter().enumerate() {
        let id = Uuid::now_v7();
        ids.push(id);
        // Spread creation times so "newest" has a stable, meaningful order.
        sqlx::query(
            "INSERT INTO products (id, sku, name, description, price, currency, stock, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'EUR', $6, now() - make_interval(mins => $7), now() - make_interval(mins => $7))",
        )
        .bind(id)
        .bind(sku)
        .bind(name)
        .bind(description)
        .bind(price)
        .bind(stock)
        .bind(index as i32)
        .execute(&mut *tx)
        .await?;
    }
    super::store::record_initial_stock(&mut tx, &ids).await?;
    tx.commit().await?;
    Ok(DEMO.len())
}

const ADJECTIVES: &[&str] = &[
    "Smoky", "Floral", "Bright", "Roasted", "Mellow", "Wild", "Golden", "Misty", "Spiced", "Velvet",
];
const KINDS: &[&str] = &[
    "Green Tea",
    "Black Tea",
    "Oolong",
    "White Tea",
    "Herbal Blend",
    "Teapot",
    "Mug",
    "Infuser",
    "Kettle",
    "Caddy",
];
const ORIGINS: &[&str] = &[
    "Yunnan", "Kenya", "Nepal", "Taiwan", "Assam", "Shizuoka", "Ceylon", "Fujian", "Georgia", "Malawi",
];

/// Inserts `count` generated products (for benchmarks), in batches; returns how many.
pub async fn generate(db: &PgPool, count: usize) -> sqlx::Result<usize> {
    const BATCH: usize = 5_000;
    let run = &Uuid::new_v4().simple().to_string()[..8];
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        let mut ids = Vec::with_capacity(n);
        let mut skus = Vec::with_capacity(n);
        let mut names = Vec::with_capacity(n);
        let mut descriptions = Vec::with_capacity(n);
        let mut prices = Vec::with_capacity(n);
        let mut stocks = Vec::with_capacity(n);
        for i in done..done + n {
            let (a, k, o) = (ADJECTIVES[i % 10], KINDS[(i / 10) % 10], ORIGINS[(i / 100) % 10]);
            ids.push(Uuid::now_v7());
            skus.push(format!("GEN-{run}-{i:07}").to_uppercase());
            names.push(format!("{a} {o} {k} No. {i}"));
            descriptions.push(format!(
                "A {} {} from {o}, batch {}.",
                a.to_lowercase(),
                k.to_lowercase(),
                i / 1000
            ));
            prices.push(((i * 37) % 9_000 + 300) as i64);
            stocks.push(((i * 13) % 200) as i32);
        }
        let mut tx = db.begin().await?;
        sqlx::query(
            "INSERT INTO products (id, sku, name, description, price, currency, stock)
             SELECT id, sku, name, description, price, 'EUR', stock
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::int[])
               AS t(id, sku, name, description, price, stock)",
        )
        .bind(&ids)
        .bind(&skus)
        .bind(&names)
        .bind(&descriptions)
        .bind(&prices)
        .bind(&stocks)
        .execute(&mut *tx)
        .await?;
        super::store::record_initial_stock(&mut tx, &ids).await?;
        tx.commit().await?;
        done += n;
    }
    Ok(done)
}
