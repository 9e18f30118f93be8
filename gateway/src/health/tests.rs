use super::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A probe that answers, fails, or hangs, as the test sets it.
struct Switch {
    name: &'static str,
    hang: Arc<AtomicBool>,
    fail: Arc<AtomicBool>,
}

impl Probe for Switch {
    fn name(&self) -> &'static str {
        self.name
    }
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if self.fail.load(Ordering::SeqCst) {
                return Err("broken".into());
            }
            Ok(())
        })
    }
}

/// Counts feeds and disarms.
#[derive(Clone, Default)]
struct CountingWatchdog {
    feeds: Arc<AtomicUsize>,
    disarmed: Arc<AtomicBool>,
}

impl Watchdog for CountingWatchdog {
    fn feed(&mut self) -> std::io::Result<()> {
        self.feeds.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn disarm(&mut self) -> std::io::Result<()> {
        self.disarmed.store(true, Ordering::SeqCst);
        Ok(())
    }
}

struct Harness {
    hang: Arc<AtomicBool>,
    fail: Arc<AtomicBool>,
    dog: CountingWatchdog,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start() -> Harness {
    let hang = Arc::new(AtomicBool::new(false));
    let fail = Arc::new(AtomicBool::new(false));
    let probes: Vec<Box<dyn Probe>> = vec![
        Box::new(Switch {
            name: "queue",
            hang: hang.clone(),
            fail: Arc::new(AtomicBool::new(false)),
        }),
        Box::new(Switch {
            name: "card service",
            hang: Arc::new(AtomicBool::new(false)),
            fail: fail.clone(),
        }),
    ];
    let dog = CountingWatchdog::default();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(
        probes,
        Feeders {
            watchdog: Some(Box::new(dog.clone())),
            systemd: false,
        },
        HealthSettings::every(Duration::from_secs(5)),
        shutdown.clone(),
    ));
    Harness {
        hang,
        fail,
        dog,
        shutdown,
        task,
    }
}

impl Harness {
    fn feeds(&self) -> usize {
        self.dog.feeds.load(Ordering::SeqCst)
    }

    /// Lets the loop run for `secs` of (paused, auto-advancing) time.
    async fn wait(&self, secs: u64) {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        // The feed runs on the blocking pool: give it a moment of real time.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(start_paused = true)]
async fn a_healthy_daemon_feeds_the_watchdog_every_interval() {
    let h = start();
    h.wait(31).await;
    // At 0, 5, 10 … 30 s.
    assert!((6..=7).contains(&h.feeds()), "{} feeds in 31 s", h.feeds());
    h.shutdown.cancel();
    h.task.await.unwrap();
    assert!(h.dog.disarmed.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_stalled_part_stops_the_feeding_until_it_answers_again() {
    let h = start();
    h.wait(11).await;
    let before = h.feeds();
    assert!(before >= 2, "{before}");
    h.hang.store(true, Ordering::SeqCst);
    h.wait(60).await;
    // At most the round already under way when the queue hung.
    let during = h.feeds();
    assert!(
        during <= before + 1,
        "fed {} times while hung",
        during - before
    );
    h.hang.store(false, Ordering::SeqCst);
    h.wait(11).await;
    assert!(h.feeds() > during, "not fed again after recovery");
    h.shutdown.cancel();
    h.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_part_that_answers_wrongly_stops_the_feeding_too() {
    let h = start();
    h.wait(6).await;
    let before = h.feeds();
    h.fail.store(true, Ordering::SeqCst);
    h.wait(30).await;
    assert!(h.feeds() <= before + 1);
    h.shutdown.cancel();
    h.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_round_names_the_parts_that_failed() {
    let hang = Arc::new(AtomicBool::new(true));
    let probes: Vec<Box<dyn Probe>> = vec![
        Box::new(Switch {
            name: "queue",
            hang: hang.clone(),
            fail: Arc::new(AtomicBool::new(false)),
        }),
        Box::new(Switch {
            name: "control API",
            hang: Arc::new(AtomicBool::new(false)),
            fail: Arc::new(AtomicBool::new(true)),
        }),
    ];
    let Round::Sick(failed) = round(&probes, Duration::from_secs(2)).await else {
        panic!("expected a sick round");
    };
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].0, "queue");
    assert!(failed[0].1.contains("2000 ms"), "{}", failed[0].1);
    assert_eq!(failed[1], ("control API", "broken".to_string()));
    hang.store(false, Ordering::SeqCst);
}

#[tokio::test]
async fn the_queue_probe_makes_a_real_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let queue = crate::queue::Queue::open(
        dir.path(),
        crate::queue::RetryPolicy {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(3600),
            lifetime: Duration::from_secs(86400),
        },
    )
    .unwrap();
    let probes: Vec<Box<dyn Probe>> = vec![Box::new(QueueProbe(queue))];
    assert_eq!(round(&probes, Duration::from_secs(5)).await, Round::Healthy);
}
