pub mod docker;
pub mod init;
pub mod nodes;
pub mod task;
pub mod vps;
