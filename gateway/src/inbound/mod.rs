pub mod export;
pub mod fetcher;
pub mod safe_name;
pub mod xdm;
