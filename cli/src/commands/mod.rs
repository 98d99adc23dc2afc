pub mod init;
pub mod nodes;
pub mod task;
