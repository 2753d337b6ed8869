//! The worker against the simulator, in-process and over real loopback HTTP, under
//! paused tokio time where time matters.

mod sim;
