//! A TCP proxy a test can cut and restore, to make a dependency unreachable for one service
//! without stopping it for every other test; or switch to another server, as a read-write
//! endpoint follows the primary after a failover (CloudNativePG's `-rw` Service).

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct TcpProxy {
    pub addr: SocketAddr,
    route: watch::Sender<Route>,
    accept: JoinHandle<()>,
}

/// Where connections go now.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Route {
    open: bool,
    target: SocketAddr,
    /// Bumped by every switch: a connection made before it is cut.
    epoch: u64,
}

impl TcpProxy {
    /// Forwards connections on a free local port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a local port");
        let addr = listener.local_addr().expect("the bound address");
        let route = watch::Sender::new(Route {
            open: true,
            target,
            epoch: 0,
        });
        let state = route.clone();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let taken = *state.borrow();
                if !taken.open {
                    // Unreachable: the connection is closed at once.
                    continue;
                }
                let mut changed = state.subscribe();
                tokio::spawn(async move {
                    // A target that does not answer closes the inbound connection, as a
                    // Service whose endpoint is down would.
                    let Ok(outbound) = TcpStream::connect(taken.target).await else {
                        return;
                    };
                    let (mut inbound, mut outbound) = (inbound, outbound);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = changed.wait_for(|now| !now.open || now.epoch != taken.epoch) => {}
                    }
                });
            }
        });
        Self { addr, route, accept }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.route.send_modify(|route| route.open = false);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.route.send_modify(|route| route.open = true);
    }

    /// Sends new connections to `target` and drops those made to the one before.
    pub fn switch_to(&self, target: SocketAddr) {
        self.route.send_modify(|route| {
            route.target = target;
            route.epoch += 1;
        });
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
