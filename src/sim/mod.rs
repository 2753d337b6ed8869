//! The embedded Defender simulator. Stub: replaced by the simulator work.
