//! Randomized interleavings: shoppers, an operator and faults acting at once on the whole
//! shop (in-process services, real PostgreSQL and RabbitMQ), in many short episodes drawn from
//! one seed, each audited against the guarantees of DESIGN.md once the shop has settled (then
//! the shop's own reconciliation is asked, and must find nothing). A
//! failing episode is shrunk (subsets of its actions played again, a bounded number of times)
//! and the shortest history that still fails is printed with the seed that replays it.
//!
//! - `SHOP_INTERLEAVING_SEED=<n>`: replay seed n (default: a fresh seed, printed);
//! - `SHOP_INTERLEAVING_EPISODE=<k>`: only episode k of that seed;
//! - `SHOP_INTERLEAVING_SECONDS=<n>`: play episodes for n seconds (default 45; past nextest's
//!   four minutes, run it with `cargo test -p shop --test it interleaving`).

mod actions;
mod auditor;
mod play;
mod rig;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use actions::{Episode, Kind, product_name};
use auditor::{Audit, Invariant};
use play::Log;
use rig::{Cast, Rig};

/// How long the shop may take to converge after an episode: more than the 30 s after which
/// the outbox relay sends an order.placed its saga did not.
const CONVERGENCE: Duration = Duration::from_secs(40);
/// Bounds on shrinking a failing episode.
const SHRINK_TRIES: usize = 12;
const SHRINK_TIME: Duration = Duration::from_secs(90);

struct Config {
    seed: u64,
    only_episode: Option<u64>,
    budget: Duration,
}

impl Config {
    fn from_env() -> Self {
        let number = |name: &str| {
            std::env::var(name).ok().map(|v| {
                v.trim()
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("{name} takes a number, not {v:?}"))
            })
        };
        let fresh = || {
            let mut bytes = [0u8; 8];
            getrandom::fill(&mut bytes).expect("random bytes");
            u64::from_le_bytes(bytes) % 1_000_000_000
        };
        Self {
            seed: number("SHOP_INTERLEAVING_SEED").unwrap_or_else(fresh),
            only_episode: number("SHOP_INTERLEAVING_EPISODE"),
            budget: Duration::from_secs(number("SHOP_INTERLEAVING_SECONDS").unwrap_or(45)),
        }
    }
}

/// An episode played: what the history did, and what the auditor found.
struct Played {
    log: Log,
    audit: Audit,
}

async fn play_episode(rig: &Rig, episode: &Episode) -> Played {
    // A second's margin: the services stamp changes with the database's clock.
    let began = chrono::Utc::now() - chrono::Duration::seconds(1);
    let cast = Cast::assemble(rig, episode).await;
    let log = play::play(rig, &cast, episode).await;
    rig.calm().await;
    let mut audit = auditor::converge(&rig.stores, &cast, &log, CONVERGENCE).await;
    auditor::reconcile(&mut audit, rig, began).await;
    Played { log, audit }
}

/// Plays ever smaller parts of a failing episode (removing runs of actions, halving their
/// length when none can go) and answers the shortest one that still broke one of the
/// invariants the episode broke.
async fn shrink(rig: &Rig, episode: Episode, played: Played) -> (Episode, Played, usize) {
    let target = played.audit.invariants_broken();
    let started = Instant::now();
    let (mut best, mut best_played, mut tries) = (episode, played, 0);
    let mut run = best.len().div_ceil(2);
    while run > 0 && tries < SHRINK_TRIES && started.elapsed() < SHRINK_TIME {
        let mut shorter = None;
        for start in (0..best.len()).step_by(run) {
            if tries >= SHRINK_TRIES || started.elapsed() >= SHRINK_TIME {
                break;
            }
            let candidate = best.without(start..start + run);
            if candidate.is_empty() {
                continue;
            }
            tries += 1;
            let again = play_episode(rig, &candidate).await;
            if again.audit.invariants_broken().iter().any(|i| target.contains(i)) {
                shorter = Some((candidate, again));
                break;
            }
        }
        match shorter {
            Some((candidate, again)) => {
                run = run.min(candidate.len().div_ceil(2));
                (best, best_played) = (candidate, again);
            }
            None => run /= 2,
        }
    }
    (best, best_played, tries)
}

/// The episode's actions lane by lane, with what each did, then what broke.
fn history(seed: u64, episode: &Episode, played: &Played) -> String {
    let mut text = String::new();
    let stocks: Vec<String> = episode
        .stocks
        .iter()
        .enumerate()
        .map(|(i, stock)| format!("{} with {stock} in stock", product_name(i)))
        .collect();
    let _ = writeln!(
        text,
        "episode {} of seed {seed} ({} actions): products {}; {} shopper(s)",
        episode.index,
        episode.len(),
        stocks.join(", "),
        episode.shoppers
    );
    for (l, lane) in episode.lanes.iter().enumerate() {
        let _ = writeln!(text, "  {}:", lane.actor);
        for (s, step) in lane.steps.iter().enumerate() {
            let outcome = played.log.outcomes.get(&(l, s)).map_or("not run", String::as_str);
            let _ = writeln!(text, "    after {:>3} ms {} -> {outcome}", step.pause_ms, step.action);
        }
    }
    let _ = writeln!(text, "  broken:");
    for (invariant, detail) in &played.audit.broken {
        let _ = writeln!(text, "    [{invariant}] {detail}");
    }
    text
}

#[derive(Default)]
struct Summary {
    episodes: usize,
    actions: BTreeMap<Kind, usize>,
    checked: BTreeMap<Invariant, usize>,
}

impl Summary {
    fn count(&mut self, episode: &Episode, played: &Played) {
        self.episodes += 1;
        for step in episode.lanes.iter().flat_map(|l| &l.steps) {
            *self.actions.entry(step.action.kind()).or_default() += 1;
        }
        for (invariant, n) in &played.audit.checked {
            *self.checked.entry(*invariant).or_default() += n;
        }
    }

    fn report(&self, config: &Config, took: Duration) -> String {
        let mut text = format!(
            "interleaving: seed {}, {} episode(s) in {:.1} s\n  actions run:",
            config.seed,
            self.episodes,
            took.as_secs_f64()
        );
        for (kind, n) in &self.actions {
            let _ = write!(text, " {kind:?} {n},");
        }
        let _ = write!(text, "\n  invariants checked:");
        for (invariant, n) in &self.checked {
            let _ = write!(text, "\n    {n:>6} x {invariant}");
        }
        text
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_shoppers_operators_and_faults_keep_every_guarantee() {
    let config = Config::from_env();
    println!(
        "interleaving: seed {} (SHOP_INTERLEAVING_SEED={} replays it)",
        config.seed, config.seed
    );
    let rig = Rig::start().await;
    let started = Instant::now();
    let mut summary = Summary::default();
    let episodes = match config.only_episode {
        Some(k) => k..k + 1,
        None => 0..u64::MAX,
    };
    for index in episodes {
        if config.only_episode.is_none() && started.elapsed() > config.budget {
            break;
        }
        let episode = Episode::generate(config.seed, index);
        let played = play_episode(&rig, &episode).await;
        summary.count(&episode, &played);
        if played.audit.broken.is_empty() {
            continue;
        }
        println!("{}", history(config.seed, &episode, &played));
        let (shortest, its_play, tries) = shrink(&rig, episode, played).await;
        println!(
            "shortest failing history found ({tries} shrink tries):\n{}",
            history(config.seed, &shortest, &its_play)
        );
        println!("{}", summary.report(&config, started.elapsed()));
        panic!(
            "episode {index} broke {} invariant(s); replay with SHOP_INTERLEAVING_SEED={} SHOP_INTERLEAVING_EPISODE={index}",
            its_play.audit.invariants_broken().len(),
            config.seed
        );
    }
    println!("{}", summary.report(&config, started.elapsed()));
}
