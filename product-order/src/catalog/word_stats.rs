//! How often words occur in the catalog, from PostgreSQL's own statistics on the search column
//! (`pg_stats.most_common_elems`, kept by ANALYZE), so a search can tell before it runs whether
//! its words are common (walk the listing) or rare (ask the search index).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::store::Search;

/// Statistics are read again when older than this: ANALYZE (autovacuum's or an operator's)
/// changes them, and reading them costs one small query.
const FRESH_FOR: Duration = Duration::from_secs(10);

/// The catalog's word statistics, read lazily and shared by every request; cheap to clone.
#[derive(Clone, Default)]
pub struct WordStats {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    snapshot: RwLock<Option<Snapshot>>,
    /// One request reads the statistics again; the others use the ones they have meanwhile.
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Snapshot {
    read_at: Instant,
    /// None until the search column has been analysed.
    frequencies: Option<Arc<Frequencies>>,
}

/// The share of products each common word occurs in. A word missing from the list is rarer
/// than every word on it (ANALYZE keeps only the common ones).
#[derive(Debug)]
struct Frequencies {
    by_word: BTreeMap<String, f64>,
}

impl Frequencies {
    /// The share of products matching every word of `search` (its last word as a prefix),
    /// as if words occurred independently; 0 when a word is not among the common ones.
    fn share_matching(&self, search: &Search) -> f64 {
        let Some((prefix, whole)) = search.words().split_last() else {
            return 0.0;
        };
        let whole: f64 = whole
            .iter()
            .map(|word| self.by_word.get(word).copied().unwrap_or(0.0))
            .product();
        let prefixed: f64 = self
            .by_word
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(word, _)| word.starts_with(prefix.as_str()))
            .map(|(_, share)| share)
            .sum();
        whole * prefixed.min(1.0)
    }
}

impl WordStats {
    /// The estimated share of products `search` matches, or None while the catalog has no
    /// statistics (never analysed) or they cannot be read.
    pub async fn share_matching(&self, db: &PgPool, search: &Search) -> Option<f64> {
        let snapshot = self.snapshot(db).await;
        snapshot.frequencies.map(|f| f.share_matching(search))
    }

    async fn snapshot(&self, db: &PgPool) -> Snapshot {
        let current = self.inner.snapshot.read().ok().and_then(|s| s.clone());
        if let Some(current) = &current
            && current.read_at.elapsed() < FRESH_FOR
        {
            return current.clone();
        }
        let Ok(_refreshing) = self.inner.refreshing.try_lock() else {
            return current.unwrap_or(Snapshot {
                read_at: Instant::now(),
                frequencies: None,
            });
        };
        let frequencies = match read(db).await {
            Ok(frequencies) => frequencies.map(Arc::new),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the catalog's word statistics; searches walk first");
                None
            }
        };
        let fresh = Snapshot {
            read_at: Instant::now(),
            frequencies,
        };
        if let Ok(mut slot) = self.inner.snapshot.write() {
            *slot = Some(fresh.clone());
        }
        fresh
    }
}

async fn read(db: &PgPool) -> sqlx::Result<Option<Frequencies>> {
    let row: Option<(Vec<String>, Vec<f32>)> = sqlx::query_as(
        "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats \
         WHERE schemaname = current_schema() AND tablename = 'products' AND attname = 'search' \
           AND most_common_elems IS NOT NULL",
    )
    .fetch_optional(db)
    .await?;
    // The frequencies list one share per word, then a few summary figures (ignored).
    Ok(row.map(|(words, shares)| Frequencies {
        by_word: words.into_iter().zip(shares.into_iter().map(f64::from)).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(words: &[(&str, f64)]) -> Frequencies {
        Frequencies {
            by_word: words.iter().map(|(w, s)| (w.to_string(), *s)).collect(),
        }
    }

    #[test]
    fn common_words_multiply_a_prefix_sums_and_a_missing_word_is_rare() {
        let stats = stats(&[("green", 0.1), ("tea", 0.3), ("teapot", 0.1), ("oolong", 0.1)]);
        let share = |q: &str| stats.share_matching(&Search::parse(q).unwrap());
        assert!((share("oolong") - 0.1).abs() < 1e-9);
        assert!((share("green te") - 0.1 * 0.4).abs() < 1e-9, "te: tea and teapot");
        assert!(
            (share("green tea") - 0.1 * 0.4).abs() < 1e-9,
            "the last word is a prefix"
        );
        assert_eq!(share("matcha"), 0.0);
        assert_eq!(share("matcha tea"), 0.0, "a rare whole word makes the search rare");
    }
}
