pub mod init;
pub mod nodes;
